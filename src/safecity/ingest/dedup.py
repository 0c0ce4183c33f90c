"""Idempotency on event id: a rolling memory of the 64-bit hashes of recently accepted ids.

Two generations of NumPy open-addressing tables (`U64Set`): membership and insertion run
vectorised over a whole batch, and memory is under 14 bytes per id at the table's load.
A generation rotates every `window_s`, so an id is remembered for between one and two
windows. The 64-bit hash makes a false duplicate about a 1e-5 chance per day at 20 M ids/day;
see docs/decisions/0003-ingest-decoding.md.
"""

from __future__ import annotations

import threading
from datetime import datetime

import numpy as np
import polars as pl

HASH_SEED = 0x5AFEC17  # fixed so that hashes computed at start-up match those kept at run time


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

    def _grow(self, live_after: int) -> None:
        old = self._table
        keys = old[old > TOMBSTONE]
        size = 1 << max(4, int(live_after / MAX_LOAD).bit_length())
        self._table = np.zeros(size, dtype=np.uint64)
        self._mask = np.uint64(size - 1)
        self._live = self._used = 0
        self._place(keys)


class Deduplicator:
    """Remembers accepted event ids for at least `window_s` seconds."""

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self._current = U64Set()
        self._previous = U64Set()
        self._rotated_at: datetime | None = None
        self._lock = threading.Lock()

    def _maybe_rotate(self, now: datetime) -> None:
        if self._rotated_at is None:
            self._rotated_at = now
        elif (now - self._rotated_at).total_seconds() >= self.window_s:
            self._previous, self._current = self._current, U64Set(max(1 << 16, len(self._current)))
            self._rotated_at = now

    def admit(self, hashes: pl.Series, now: datetime) -> np.ndarray:
        """Reserve the ids never accepted before (the first of each within the batch); return
        True where one was. `forget` withdraws them if the batch is not stored after all.

        Looking up and reserving in one step probes the table once per id, and two batches
        prepared side by side cannot both take the same id.
        """
        eligible: np.ndarray = hashes.is_first_distinct().to_numpy()
        values = hashes.to_numpy()
        with self._lock:
            self._maybe_rotate(now)
            if len(self._previous):
                eligible &= ~self._previous.contains(values)
            return self._current.add_missing(values, eligible)

    def remember(self, hashes: pl.Series, now: datetime) -> None:
        """Record ids as accepted (call once they are durable)."""
        values = hashes.to_numpy()
        with self._lock:
            self._maybe_rotate(now)
            # The ids given here are distinct: one batch's admitted ids, or the lake's.
            self._current.add(values, distinct=True)

    def forget(self, hashes: pl.Series) -> None:
        """Withdraw ids reserved by a batch that was not stored after all."""
        values = hashes.to_numpy()
        with self._lock:
            self._current.remove(values)
            self._previous.remove(values)

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)
