"""`housing_unusual_hours`: an entry at an hour unusual for that building, learned from its own history.

The rule keeps, per building (or compound gate, for gate doors), a histogram of its entries by
local hour of day, learnt from every granted swipe it sees. An entry is unusual when the
building has at least `min_history` entries and its hour (with `spread_hours` either side, so
that 06:55 is not odd beside a busy 07:00) held less than `max_share` of them: a night-shift
building learns its nights, a quiet family building learns that 03:00 is rare. No fixed clock.
Each entry is judged against the history before it, and then added to it.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
from pydantic import Field

from safecity.core.finding import Finding
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


class UnusualHoursRule(HousingRule):
    """Per-place hour histograms in the rule's state; one warning per card, place and day."""

    kind = "housing_unusual_hours"
    default_title = "Entry at an unusual hour for the building"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: UnusualHoursParams = config.typed_params()
        self._hist = np.zeros((0, HOURS), dtype=np.int64)
        self._total = np.zeros(0, dtype=np.int64)  # entries per place: the histogram's row sums, kept

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Judge the batch's entries against each place's history, then learn them."""
        if batch.is_empty():
            return []
        places = places_of(facts)
        swipes = places.swipes(batch)
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


UNUSUAL_HOURS = RuleKind(UnusualHoursRule.kind, UnusualHoursParams, UnusualHoursRule)
