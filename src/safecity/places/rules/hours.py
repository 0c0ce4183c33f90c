"""`housing_unusual_hours`: an entry at an hour unusual for that building, learned from its own history.

The rule keeps, per building (or compound gate, for gate doors), a histogram of its entries by
local hour of day, learnt from every granted swipe it sees. An entry is unusual when the
building has at least `min_history` entries and its hour (with `spread_hours` either side, so
that 06:55 is not odd beside a busy 07:00) held less than `max_share` of them: a night-shift
building learns its nights, a quiet family building learns that 03:00 is rare. No fixed clock.
Each entry is judged against the history before it, and then added to it.

With `habits` on (the default), an hour is also judged against the card's own history: a tenant
who came home at that hour (with its spread) on an earlier day is keeping their routine, however
rare it is for the building (one late worker among day workers was warned of every night; on the
accuracy city, 8 of 18 warnings). Their first such night is still warned of.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
from pydantic import Field

from safecity.core.finding import Finding
from safecity.places.facts import PlaceView
from safecity.places.rules.common import (
    CARD,
    HousingRule,
    evidence,
    first,
    local_clock,
    place_refs,
    places_of,
)
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams

HOURS = 24


class UnusualHoursParams(RuleParams):
    """Entries at an hour a building rarely sees, by its own history."""

    min_history: int = Field(
        500, ge=24, le=10_000_000, description="Entries learnt before a building is judged."
    )
    max_share: float = Field(
        0.005, gt=0, lt=0.5, description="An hour (with its spread) holding less than this share is unusual."
    )
    spread_hours: int = Field(1, ge=0, le=3, description="Neighbouring hours counted with an entry's hour.")
    timezone: str = Field("Asia/Shanghai", description="Whose hours of the day (IANA name).")
    habits: bool = Field(
        True, description="An hour the card itself entered at on an earlier day is usual for it."
    )


class UnusualHoursRule(HousingRule):
    """Per-place hour histograms in the rule's state; one warning per card, place and day."""

    kind = "housing_unusual_hours"
    default_title = "Entry at an unusual hour for the building"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: UnusualHoursParams = config.typed_params()
        self._hist = np.zeros((0, HOURS), dtype=np.int64)
        self._total = np.zeros(0, dtype=np.int64)  # entries per place: the histogram's row sums, kept
        self._habits = CardHours()

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Judge the batch's entries against each place's history, then learn them."""
        if batch.is_empty():
            return []
        places = places_of(facts)
        swipes, view = places.enriched(batch)
        if swipes.is_empty():
            return []
        # Whole columns as arrays, rows gathered only for the few flagged: the filter of a
        # 50,000-row frame costs more than the judgement itself.
        codes = swipes.select(
            pl.when(pl.col("building_code") >= 0)
            .then(pl.col("building_code"))
            .otherwise(pl.col("compound_code"))
            .fill_null(-1)
            .alias("place")
        )["place"].to_numpy()
        rows = np.flatnonzero(swipes["granted"].to_numpy() & (codes >= 0))
        if not rows.size:
            return []
        day, local_hour = local_clock(swipes["ts"], self.params.timezone)
        place, hour = codes[rows], local_hour.to_numpy()[rows]
        self._grow(places.codes())
        hist, total = self._hist, self._total
        # Hour by hour (a batch holds one or two): the window's counts for every place, then one
        # gather from that small array (a gather from the whole histogram per entry cost 3 ms).
        near = np.zeros(hour.size, dtype=np.int64)
        present = np.flatnonzero(np.bincount(hour, minlength=HOURS))
        for h in present:
            at = hour == h
            window = [
                (int(h) + d) % HOURS for d in range(-self.params.spread_hours, self.params.spread_hours + 1)
            ]
            near[at] = hist[:, window].sum(axis=1)[place[at]]
        before = total[place]
        share = near / np.maximum(before, 1)
        unusual = (before >= self.params.min_history) & (share < self.params.max_share)
        if self.params.habits:
            cards = swipes["card_row"].to_numpy()[rows]
            days = day.cast(pl.Int32).to_numpy()[rows]
            self._habits.follow(view)
            unusual &= ~self._habits.judge_and_learn(cards, days, hour, self.params.spread_hours)
        # Learn after judging: an entry is never its own precedent.
        for h in present:
            hist[:, h] += np.bincount(place[hour == h], minlength=total.size)
        total += np.bincount(place, minlength=total.size)
        if not unusual.any():
            return []
        picked = rows[unusual]
        flagged = swipes[picked].with_columns(
            day[picked],
            pl.Series("hour", hour[unusual]),
            pl.Series("place", place[unusual]),
            pl.Series("share", share[unusual]),
            pl.Series("history", before[unusual]),
        )
        return [self._finding(group, now) for _, group in flagged.group_by("place", "subject", "day")]

    def _finding(self, rows: pl.DataFrame, now: datetime) -> Finding:
        card = str(rows["subject"][0])
        where = first(rows, "building_id") or first(rows, "compound_id")
        return self.finding(
            subject_kind=CARD,
            subject=card,
            dedup_key=f"hours:{where}:{card}:{rows['day'][0]}",
            now=now,
            items=evidence(rows),
            facts={
                "card": card,
                "building_id": first(rows, "building_id"),
                "compound_id": first(rows, "compound_id"),
                "local_hours": sorted(set(rows["hour"].to_list())),
                "hour_share": round(float(rows["share"].to_numpy().max()), 5),
                "history_entries": int(rows["history"].to_numpy().max()),
                "tenant_here": rows["flat_id"].is_not_null().any(),
            },
            refs=place_refs(rows),
        )

    def _grow(self, codes: int) -> None:
        """Room for every place code given so far (codes only grow)."""
        if codes > self._hist.shape[0]:
            grown = np.zeros((codes, HOURS), dtype=np.int64)
            grown[: self._hist.shape[0]] = self._hist
            total = np.zeros(codes, dtype=np.int64)
            total[: self._total.size] = self._total
            self._hist, self._total = grown, total


class CardHours:
    """By card row: the local hours each card entered at on days before its latest, and on it.

    One 64-bit word a card (bits 0-23: hours of earlier days; 24-47: hours of its latest day;
    48-63: that day + 1, 0 for none), so a batch reads and writes each card once (three arrays
    cost 5 ms a batch at Wenzhou scale). Carried over by card hash when the places view reloads.
    Unknown cards (row -1) have no habits. A card twice in one batch keeps the hour of one of
    the two for that day (a batch spans an hour or less: almost always the same hour).
    """

    def __init__(self) -> None:
        self._view: PlaceView | None = None
        self._state = np.zeros(0, dtype=np.uint64)

    def follow(self, view: PlaceView) -> None:
        """Renumber the state for a reloaded view."""
        if view is self._view:
            return
        state = np.zeros(len(view.card_index), dtype=np.uint64)
        if self._view is not None and self._state.size:
            moved = view.card_index.find(self._view.card_index.keys())
            state[moved[moved >= 0]] = self._state[moved >= 0]
        self._view, self._state = view, state

    def judge_and_learn(
        self, cards: np.ndarray, days: np.ndarray, hours: np.ndarray, spread: int
    ) -> np.ndarray:
        """Whether the card entered at each hour (with its spread) on an earlier day; then add the entries."""
        usual = np.zeros(cards.size, dtype=bool)
        known = np.flatnonzero(cards >= 0)
        if not known.size:
            return usual
        rows, day, hour = cards[known], days[known].astype(np.uint64) + _ONE, hours[known].astype(np.uint64)
        state = self._state[rows]
        earlier, latest, last_day = state & _HOURS_MASK, (state >> _LATEST) & _HOURS_MASK, state >> _DAY
        # A card's first entry of a later day moves its latest day's hours into the earlier ones.
        newer = day > last_day
        earlier = np.where(newer, earlier | latest, earlier)
        latest = np.where(newer, _ZERO, latest)
        last_day = np.where(newer, day, last_day)
        window = np.zeros(hour.size, dtype=np.uint64)
        for d in range(-spread, spread + 1):
            window |= _ONE << ((hour + np.uint64(d % HOURS)) % np.uint64(HOURS))
        usual[known] = (earlier & window) != 0
        latest |= _ONE << hour
        self._state[rows] = earlier | (latest << _LATEST) | (last_day << _DAY)
        return usual


_ONE, _ZERO = np.uint64(1), np.uint64(0)
_HOURS_MASK = np.uint64((1 << HOURS) - 1)
_LATEST, _DAY = np.uint64(24), np.uint64(48)


UNUSUAL_HOURS = RuleKind(UnusualHoursRule.kind, UnusualHoursParams, UnusualHoursRule)
