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
        near = sum(
            hist[place, (hour + d) % HOURS]
            for d in range(-self.params.spread_hours, self.params.spread_hours + 1)
        )
        before = total[place]
        share = near / np.maximum(before, 1)
        unusual = (before >= self.params.min_history) & (share < self.params.max_share)
        if self.params.habits:
            cards = swipes["card_row"].to_numpy()[rows]
            days = day.cast(pl.Int32).to_numpy()[rows]
            self._habits.follow(view)
            self._habits.roll(cards, days)
            unusual &= ~self._habits.usual(cards, hour, self.params.spread_hours)
            self._habits.learn(cards, hour)
        # Learn after judging: an entry is never its own precedent.
        np.add.at(hist, (place, hour), 1)
        np.add.at(total, place, 1)
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
    """By card row: the local hours (bits 0-23) each card entered at on days before its latest, and on it.

    Carried over by card hash when the places view reloads (rows are renumbered). Unknown cards
    (row -1) have no habits.
    """

    def __init__(self) -> None:
        self._view: PlaceView | None = None
        self._before = np.zeros(0, dtype=np.uint32)  # hours of the card's earlier days
        self._latest = np.zeros(0, dtype=np.uint32)  # hours of its latest day
        self._day = np.zeros(0, dtype=np.int32)  # its latest day (days since 1970), -1: none

    def follow(self, view: PlaceView) -> None:
        """Renumber the state for a reloaded view."""
        if view is self._view:
            return
        size = len(view.card_index)
        before, latest = np.zeros(size, dtype=np.uint32), np.zeros(size, dtype=np.uint32)
        day = np.full(size, -1, dtype=np.int32)
        if self._view is not None and self._day.size:
            moved = view.card_index.find(self._view.card_index.keys())
            kept, into = moved >= 0, moved[moved >= 0]
            before[into], latest[into], day[into] = self._before[kept], self._latest[kept], self._day[kept]
        self._view, self._before, self._latest, self._day = view, before, latest, day

    def roll(self, cards: np.ndarray, days: np.ndarray) -> None:
        """A card's first entry of a later day moves its latest day's hours into the earlier ones."""
        known = cards >= 0
        cards, days = cards[known], days[known]
        if not cards.size:
            return
        for d in range(int(days.min()), int(days.max()) + 1):  # a batch spans one day, two at midnight
            on = cards[days == d]
            newer = on[self._day[on] < d]
            self._before[newer] |= self._latest[newer]
            self._latest[newer] = 0
            self._day[newer] = d

    def usual(self, cards: np.ndarray, hours: np.ndarray, spread: int) -> np.ndarray:
        """Whether the card entered at each hour (with its spread) on an earlier day."""
        window = np.zeros(hours.size, dtype=np.uint32)
        for d in range(-spread, spread + 1):
            window |= np.left_shift(np.uint32(1), ((hours + d) % HOURS).astype(np.uint32))
        seen = self._before[np.maximum(cards, 0)] & window
        return (cards >= 0) & (seen != 0)

    def learn(self, cards: np.ndarray, hours: np.ndarray) -> None:
        """Add the entries to their cards' latest day."""
        known = cards >= 0
        np.bitwise_or.at(
            self._latest, cards[known], np.left_shift(np.uint32(1), hours[known].astype(np.uint32))
        )


UNUSUAL_HOURS = RuleKind(UnusualHoursRule.kind, UnusualHoursParams, UnusualHoursRule)
