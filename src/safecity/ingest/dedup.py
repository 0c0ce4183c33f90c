"""Idempotency on event id: the 64-bit hashes of accepted ids, kept by the UTC day of the event.

An event is accepted while its time lies within the acceptance window (`max_event_age_s` back,
`max_future_skew_s` ahead), and a re-sent event carries its time again, so the ids of each event
day are remembered until that day leaves the window, across restarts: the lake partitions of a
day hold exactly that day's accepted ids, so a day's memory can always be rebuilt from them.

Per day: a sorted array (`base`) of the ids the lake held when the day was loaded, and a NumPy
open-addressing table (`U64Set`) of the ids admitted since. Days still receiving real-time
traffic are loaded when the platform starts; older ones when a late event first needs them.
When a day has been over for an hour its table is folded into the sorted array (8 bytes per
id instead of 13-27), and such quiet days beyond `cold_bytes` are dropped, least recently used
first, to be reloaded from the lake if another late event needs them. The 64-bit hash makes a
false duplicate about a 1e-5 chance per day at 20 M ids/day (decisions/0003); the figures
behind this layout are in decisions/0006.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import polars as pl

HASH_SEED = 0x5AFEC17  # fixed so that hashes computed at start-up match those kept at run time
DAY = timedelta(days=1)
# A day's ids stay in the fast table until an hour after the day ended: events that arrive later
# than that are late (a device's backlog), and are checked against the day's sorted array.
HOT_AFTER = timedelta(hours=1)


def id_hashes(ids: pl.Series) -> pl.Series:
    """Stable 64-bit hashes of event ids."""
    return ids.hash(seed=HASH_SEED)


EMPTY = np.uint64(0)
TOMBSTONE = np.uint64(1)
MAX_LOAD = 0.6


class U64Set:
    """A set of 64-bit hashes in one NumPy open-addressing table (linear probing).

    Lookups and inserts work on a whole batch at once: each probe round is one vectorised
    gather, and at most a few rounds are needed below 60 % load. 8 bytes per slot instead of
    about 70 per Python int in a set, and no per-id Python objects (decision 0003).
    Hashes 0 and 1 mark empty and deleted slots; ids hashing to them are folded onto 2 and 3.
    """

    def __init__(self, capacity: int = 1 << 16) -> None:
        size = 1 << max(4, (capacity - 1).bit_length())
        self._table = np.zeros(size, dtype=np.uint64)
        self._mask = np.uint64(size - 1)
        self._live = 0
        self._used = 0  # live + tombstones

    @classmethod
    def of(cls, keys: np.ndarray) -> U64Set:
        """A set of distinct (folded) keys, built at once."""
        table = cls(max(16, int(keys.size / MAX_LOAD) + 1))
        table._fill(keys)
        return table

    def __len__(self) -> int:
        return self._live

    @staticmethod
    def _keys(hashes: np.ndarray) -> np.ndarray:
        keys = np.asarray(hashes, dtype=np.uint64)
        return np.where(keys < 2, keys | np.uint64(2), keys)

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """Slot of each key, or -1 where absent."""
        return self._probe(keys)[0]

    def _probe(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slot of each key or -1 where absent, and for absent keys the empty slot that ended
        the search (where the key would go)."""
        found = np.full(keys.size, -1, dtype=np.int64)
        slots = (keys & self._mask).astype(np.int64)
        active = np.arange(keys.size)
        table, mask = self._table, int(self._mask)
        while active.size:
            values = table[slots[active]]
            hit = values == keys[active]
            found[active[hit]] = slots[active[hit]]
            active = active[~(hit | (values == EMPTY))]
            slots[active] = (slots[active] + 1) & mask
        return found, slots

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """True where a hash is in the set."""
        keys = self._keys(hashes)
        return self._find(keys) >= 0 if keys.size else np.zeros(0, dtype=bool)

    def add(self, hashes: np.ndarray, *, distinct: bool = False) -> None:
        """Insert hashes; ones already present are ignored, and so are repeats unless the caller
        promises there are none (`distinct`, which saves sorting the batch)."""
        keys = self._keys(hashes) if distinct else np.unique(self._keys(hashes))
        if keys.size:
            self._insert_absent(keys[self._find(keys) < 0])

    def add_missing(self, hashes: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        """Insert the eligible hashes (distinct among themselves) that are not present yet;
        return True where one was inserted. One probe per hash instead of `contains` + `add`.
        (Hashes 0 and 1 fold onto 2 and 3: of such a pair only the first counts as inserted.)"""
        keys = self._keys(hashes)
        found, stops = self._probe(keys)
        added: np.ndarray = eligible & (found < 0)
        folded = np.flatnonzero(added & (keys <= 3))
        if folded.size > 1:  # distinct hashes 0..3 that fold onto 2 and 3: insert each once
            _, first = np.unique(keys[folded], return_index=True)
            added[np.setdiff1d(folded, folded[first])] = False
        self._insert_absent(keys[added], stops[added])
        return added

    def _insert_absent(self, keys: np.ndarray, starts: np.ndarray | None = None) -> None:
        """Insert distinct, folded keys known not to be in the table; `starts`, where their
        search ended, saves probing again from their home slots (unless the table grows)."""
        if (self._used + keys.size) > MAX_LOAD * self._table.size:
            self._grow(self._live + keys.size)
            starts = None
        self._place(keys, starts)

    def remove(self, hashes: np.ndarray) -> None:
        """Delete hashes that are present."""
        slots = self._find(self._keys(hashes))
        slots = np.unique(slots[slots >= 0])
        self._table[slots] = TOMBSTONE
        self._live -= slots.size

    def _place(self, keys: np.ndarray, starts: np.ndarray | None = None) -> None:
        table, mask = self._table, int(self._mask)
        slots = (keys & self._mask).astype(np.int64) if starts is None else starts.copy()
        pending = np.arange(keys.size)
        while pending.size:
            at = slots[pending]
            values = table[at]
            free = (values == EMPTY) | (values == TOMBSTONE)
            # Several keys may want the same free slot this round: all write, one value stays,
            # and reading back tells each key whether it was the one.
            candidates = pending[free]
            where = at[free]
            table[where] = keys[candidates]
            won = table[where] == keys[candidates]
            self._used += int(np.count_nonzero(won & (values[free] == EMPTY)))
            placed = np.zeros(pending.size, dtype=bool)
            placed[np.flatnonzero(free)[won]] = True
            pending = pending[~placed]
            slots[pending] = (slots[pending] + 1) & mask
        self._live += keys.size

    def keys(self) -> np.ndarray:
        """Every hash in the set (folded), in table order."""
        return self._table[self._table > TOMBSTONE]

    def _grow(self, live_after: int) -> None:
        keys = self.keys()
        size = 1 << max(4, int(live_after / MAX_LOAD).bit_length())
        self._table = np.zeros(size, dtype=np.uint64)
        self._mask = np.uint64(size - 1)
        self._live = self._used = 0
        self._fill(keys)

    def _fill(self, keys: np.ndarray) -> None:
        """Place distinct keys into an empty table at once: sorted by home slot, each key takes
        the first slot at or after its home not taken by the keys before it, which is exactly
        where linear probing would put it (the few that run past the end wrap round by probing).
        Much faster than probing rounds when a table doubles (decisions/0006). Works in place
        where it can: at 20 M keys each temporary array is 160 MB."""
        bits = np.uint64(self._table.size.bit_length() - 1)
        # Sorting the keys rotated so that their home bits lead orders them by home slot, and a
        # plain sort of integers is several times faster than an argsort.
        rotated = keys << (np.uint64(64) - bits)
        rotated |= keys >> bits
        rotated.sort()
        ordered = rotated >> (np.uint64(64) - bits)
        rotated <<= bits
        ordered |= rotated
        del rotated
        slots = (ordered & self._mask).view(np.int64)  # home slots, then (in place) the slots taken
        steps = np.arange(ordered.size, dtype=np.int64)
        slots -= steps
        np.maximum.accumulate(slots, out=slots)
        slots += steps
        del steps
        inside = int(np.searchsorted(slots, self._table.size))  # slots only grow: a tail runs over
        self._table[slots[:inside]] = ordered[:inside]
        self._live = self._used = inside
        if inside < ordered.size:
            self._place(ordered[inside:], np.zeros(ordered.size - inside, dtype=np.int64))


def fold(hashes: np.ndarray) -> np.ndarray:
    """Hashes as `U64Set` stores them (0 and 1 folded onto 2 and 3), for the sorted arrays too."""
    keys = np.asarray(hashes, dtype=np.uint64)
    return np.where(keys < 2, keys | np.uint64(2), keys)


class DayIds:
    """The accepted ids of one UTC event day: sorted `base`, plus the table of ids admitted since."""

    __slots__ = ("added", "base", "quiet", "used")

    def __init__(self, stored: np.ndarray, *, quiet: bool) -> None:
        # A busy day is probed by every batch: one hash table, one probe per id. A quiet day is
        # probed only by late events: a sorted array, 8 bytes per id and quick to build (0006).
        self.base = stored if quiet else np.zeros(0, dtype=np.uint64)
        self.added = U64Set() if quiet else U64Set.of(stored)
        self.quiet = quiet  # over for an hour: its table was folded; late ids go to a new one
        self.used = 0  # when a batch last needed the day (a tick), for least-recently-used eviction

    def in_base(self, keys: np.ndarray) -> np.ndarray:
        """True where a (folded) key is in the sorted array."""
        if not self.base.size:
            return np.zeros(keys.size, dtype=bool)
        # Sorted probes walk the array once: 9 ms for 50k keys in 20 M instead of 39 (0006).
        order = np.argsort(keys)
        at = np.searchsorted(self.base, keys[order])
        found = np.zeros(keys.size, dtype=bool)
        found[order] = self.base[np.minimum(at, self.base.size - 1)] == keys[order]
        return found

    def fold_added(self) -> None:
        """Move the table's ids into the sorted array, once the day is quiet (8 bytes per id)."""
        if len(self.added):
            self.base = np.sort(np.concatenate([self.base, self.added.keys()]))
            self.added = U64Set()
        self.quiet = True

    @property
    def nbytes(self) -> int:
        """Memory held for the day."""
        return int(self.base.nbytes + self.added._table.nbytes)

    def __len__(self) -> int:
        return int(self.base.size) + len(self.added)


@dataclass(frozen=True, slots=True)
class Reservation:
    """The ids one batch took: `fresh` marks them in the batch; `release` or `forget` settles it."""

    fresh: np.ndarray
    taken: dict[date, np.ndarray] = field(default_factory=dict)  # folded hashes, by event day


def day_start(day: date) -> datetime:
    """Midnight UTC opening a day."""
    return datetime.combine(day, time(), UTC)


class Deduplicator:
    """Remembers accepted event ids, by event day, for as long as events of that day are accepted."""

    def __init__(
        self,
        *,
        load: Callable[[date], pl.Series],
        max_age_s: int,
        future_skew_s: int,
        cold_bytes: int = 512 << 20,
    ) -> None:
        self._load = load  # the stored event ids of one day (the lake's)
        self._max_age = timedelta(seconds=max_age_s)
        self._skew = timedelta(seconds=future_skew_s)
        self._cold_bytes = cold_bytes
        self._days: dict[date, DayIds] = {}
        self._pending: Counter[date] = Counter()  # batches whose ids are taken but not yet stored
        self._ticks = itertools.count(1)
        self._lock = threading.Lock()

    def warm(self, now: datetime) -> int:
        """Load the ids of the days real-time traffic falls on (at start); return how many."""
        with self._lock:
            hot = [d for d in self._window(now) if self._is_hot(d, now)]
            return sum(len(self._entry(day, now)) for day in hot)

    def admit(self, hashes: pl.Series, days: pl.Series, now: datetime) -> Reservation:
        """Take the ids never accepted before (the first of each within the batch), each on its
        event's day; `fresh` is True where one was taken. Release the reservation once the batch
        is stored, or `forget` it if it is not; ids of days not in memory are loaded first."""
        eligible: np.ndarray = hashes.is_first_distinct().to_numpy()
        keys = fold(hashes.to_numpy())
        fresh = np.zeros(keys.size, dtype=bool)
        taken: dict[date, np.ndarray] = {}
        if not keys.size:
            return Reservation(fresh, taken)
        with self._lock:
            self._expire(now)
            for day, rows in _by_day(days):
                entry = self._entry(day, now)
                wanted = eligible[rows] & ~entry.in_base(keys[rows])
                added = entry.added.add_missing(keys[rows], wanted)
                fresh[rows] = added
                if added.any():
                    taken[day] = keys[rows][added]
                    self._pending[day] += 1
            self._settle(now)
        return Reservation(fresh, taken)

    def release(self, reservation: Reservation) -> None:
        """The batch is stored: its ids stay taken, and its days may be folded or dropped again."""
        with self._lock:
            self._pending.subtract(reservation.taken.keys())

    def forget(self, reservation: Reservation) -> None:
        """Give back the ids of a batch that was not stored after all."""
        with self._lock:
            for day, keys in reservation.taken.items():
                entry = self._days.get(day)
                if entry is not None:  # a reserved day is never dropped, but be safe
                    entry.added.remove(keys)
            self._pending.subtract(reservation.taken.keys())

    def __len__(self) -> int:
        return sum(len(entry) for entry in self._days.values())

    @property
    def nbytes(self) -> int:
        """Memory held for ids."""
        return sum(entry.nbytes for entry in self._days.values())

    def _window(self, now: datetime) -> list[date]:
        first, last = (now - self._max_age).date(), (now + self._skew).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def _is_hot(self, day: date, now: datetime) -> bool:
        return now < day_start(day) + DAY + HOT_AFTER

    def _entry(self, day: date, now: datetime) -> DayIds:
        entry = self._days.get(day)
        if entry is None:
            entry = self._days[day] = DayIds(self._stored(day), quiet=not self._is_hot(day, now))
        entry.used = next(self._ticks)
        return entry

    def _stored(self, day: date) -> np.ndarray:
        """The distinct, folded hashes of a day's stored ids, sorted (the ids' text let go early)."""
        stored = self._load(day)
        if not stored.len():
            return np.zeros(0, dtype=np.uint64)
        keys = fold(id_hashes(stored).to_numpy())
        del stored
        keys.sort()
        repeated = keys[1:] == keys[:-1]  # none, unless an earlier version stored an id twice
        return np.delete(keys, np.flatnonzero(repeated) + 1) if repeated.any() else keys

    def _expire(self, now: datetime) -> None:
        """Forget days no event of which is accepted any more."""
        oldest = now - self._max_age
        for day in [d for d in self._days if day_start(d) + DAY <= oldest]:
            del self._days[day]

    def _settle(self, now: datetime) -> None:
        """Fold quiet days into sorted arrays; drop the least recently used beyond `cold_bytes`.
        Never a day with a batch in flight: its ids are not in the lake yet, nor removable."""
        quiet = [
            (entry.used, day)
            for day, entry in self._days.items()
            if not self._is_hot(day, now) and self._pending[day] <= 0
        ]
        for _, day in quiet:
            if not self._days[day].quiet:
                self._days[day].fold_added()
        held = sum(self._days[day].nbytes for _, day in quiet)
        for _, day in sorted(quiet)[:-1]:  # the day in use just now stays
            if held <= self._cold_bytes:
                break
            held -= self._days.pop(day).nbytes


def _by_day(days: pl.Series) -> list[tuple[date, np.ndarray | slice]]:
    """The rows of each event day (all of them, as a slice, in the usual one-day batch)."""
    first, last = days.min(), days.max()
    if first == last:
        assert isinstance(first, date)
        return [(first, slice(None))]
    codes = days.to_physical().to_numpy()
    return [(date(1970, 1, 1) + timedelta(days=int(code)), codes == code) for code in np.unique(codes)]
