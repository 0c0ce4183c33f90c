"""`housing_many_compounds`: one card entering many compounds in one local day (a lent or cloned
card, or someone casing places).

The batches' distinct (card, day, compound) entries are gathered cheaply as they come and
counted when the engine ticks (or when many are waiting): a card's compounds of a day are a
day-long pattern, so a warning a tick later costs nothing, while counting against the day's
state on every 50 ms batch would cost more than every other rule together.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
from pydantic import Field

from safecity.core.finding import Finding
from safecity.places.rules.common import CARD, HousingRule, evidence, local_clock, place_refs, places_of
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.rules.base import EVIDENCE_COLUMNS

_KEY = ["card_h", "day", "compound_code"]
_ONE_DAY = timedelta(days=1)
FOLD_ROWS = 500_000  # pending entries that make a count before the next tick (memory stays flat)


class ManyCompoundsParams(RuleParams):
    """One card let into many different compounds in one local day."""

    compounds: int = Field(4, ge=2, le=100, description="Distinct compounds in one day that make a warning.")
    timezone: str = Field("Asia/Shanghai", description="Where a day begins and ends (IANA name).")


class ManyCompoundsRule(HousingRule):
    """Counts each card's distinct compounds per local day; warns once per card and day, again if it grows."""

    kind = "housing_many_compounds"
    default_title = "One card entering many compounds in a day"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: ManyCompoundsParams = config.typed_params()
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
        self._seen: pl.DataFrame | None = None
        self._reported: dict[tuple[int, date], int] = {}  # (card hash, day) -> compounds warned of

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Keep the batch's first entry per (card, day, compound); count when many are waiting."""
        if batch.is_empty():
            return []
        entries = (
            places_of(facts)
            .swipes(batch)
            .select("card_h", "compound_code", "compound_id", "granted", *EVIDENCE_COLUMNS)
            .filter(pl.col("granted") & pl.col("compound_id").is_not_null() & pl.col("subject").is_not_null())
        )
        if entries.is_empty():
            return []
        day, _ = local_clock(entries["ts"], self.params.timezone)
        entries = entries.select("card_h", "compound_code", "compound_id", *EVIDENCE_COLUMNS).with_columns(
            day
        )
        self._pending.append(entries)
        self._pending_rows += entries.height
        return self._count(now) if self._pending_rows >= FOLD_ROWS else []

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Count what the batches gathered since the last count."""
        return self._count(now)

    def _count(self, now: datetime) -> list[Finding]:
        if not self._pending:
            return []
        frames = self._pending if self._seen is None else [self._seen, *self._pending]
        self._pending, self._pending_rows = [], 0
        seen = pl.concat(frames).unique(_KEY, keep="first", maintain_order=True)
        # Yesterday stays for entries reported late by an offline controller; older days are done.
        newest: date = seen["day"].max()  # type: ignore[assignment]  # a Date column's max is a date
        self._seen = seen.filter(pl.col("day") >= newest - _ONE_DAY)
        counts = (
            self._seen.group_by("card_h", "day")
            .agg(pl.len().alias("n"))
            .filter(pl.col("n") >= self.params.compounds)
        )
        fresh = [(h, d, n) for h, d, n in counts.iter_rows() if self._reported.get((h, d), 0) < n]
        if not fresh:
            return []
        wanted = pl.DataFrame(
            {"card_h": [h for h, _, _ in fresh], "day": [d for _, d, _ in fresh]},
            schema={"card_h": pl.UInt64, "day": pl.Date},
        )
        rows = self._seen.join(wanted, on=["card_h", "day"], how="semi")
        findings = []
        for (card_h, day), group in rows.group_by("card_h", "day"):
            card = str(group["subject"][0])
            self._reported[(card_h, day)] = group.height
            findings.append(
                self.finding(
                    subject_kind=CARD,
                    subject=card,
                    dedup_key=f"roaming:{card}:{day}",
                    now=now,
                    items=evidence(group),
                    facts={
                        "card": card,
                        "day": str(day),
                        "compounds": sorted(group["compound_id"].to_list()),
                        "compound_count": group.height,
                    },
                    refs=place_refs(group.select("device", "compound_id")),
                )
            )
        self._reported = {k: v for k, v in self._reported.items() if k[1] >= newest - _ONE_DAY}
        return findings


MANY_COMPOUNDS = RuleKind(ManyCompoundsRule.kind, ManyCompoundsParams, ManyCompoundsRule)
