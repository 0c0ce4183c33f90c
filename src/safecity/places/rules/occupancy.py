"""`housing_group_renting`: more people living in a flat or a building than it holds (群租).

Defined on what the doors see, over the last `days` local days:

* a card **lives** in a building if it was let in by that building's own doors (not a compound
  gate, which every building shares) on at least `min_days` different days: a visitor seen
  once or twice is not a resident;
* a **flat's** residents are those of them the registry attributes to it: its open tenants, and
  visitors whose pass names it (a landlord handing out rolling visitor passes instead of
  registering tenants shows here);
* a **building's** residents are all of them, attributed or not (lent cards, passes for the
  compound); its capacity is the sum of its flats' capacities;
* a place is group-rented when residents > capacity x `ratio` and exceed it by at least
  `min_excess`. A building with no flats registered has no capacity and is not judged.

Registered tenants over capacity are warned of at registration already (places/warnings.py);
this rule sees the people the registrations do not show. It counts when the engine ticks, at
most every `check_every_minutes`, and warns again only if a place's residents grow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import polars as pl
from pydantic import Field

from safecity.core.finding import Finding, Ref
from safecity.places.facts import BUILDING
from safecity.places.models import FLAT
from safecity.places.rules.common import HousingRule, evidence, first, local_clock, place_refs, places_of
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.rules.base import EVIDENCE_COLUMNS

_KEY = ["building_code", "card_h", "day"]
FOLD_ROWS = 1_000_000  # pending entries folded into the state before the next tick
Level = Literal["flat", "building"]
LEVELS: tuple[Level, ...] = ("flat", "building")


class GroupRentingParams(RuleParams):
    """More residents (cards entering on several days) than a flat's or building's capacity."""

    days: int = Field(7, ge=1, le=90, description="The period looked at, in local days.")
    min_days: int = Field(3, ge=1, le=90, description="Days of entries that make a card a resident.")
    ratio: float = Field(1.0, ge=0.5, le=10, description="Residents over capacity times this are too many.")
    min_excess: int = Field(1, ge=1, le=100, description="Residents above the limit before it is a warning.")
    levels: list[Level] = Field(
        default_factory=lambda: list(LEVELS), min_length=1, description="Places judged."
    )
    check_every_minutes: float = Field(60, gt=0, le=24 * 60, description="How often residents are counted.")
    timezone: str = Field("Asia/Shanghai", description="Where a day begins and ends (IANA name).")


class GroupRentingRule(HousingRule):
    """Keeps each card's days of entry per building; counts residents per flat and building on tick."""

    kind = "housing_group_renting"
    default_title = "More people living here than it holds"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: GroupRentingParams = config.typed_params()
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
        self._days: pl.DataFrame | None = None  # one row per (building, card, day): the day's last entry
        self._checked: datetime | None = None
        self._reported: dict[str, int] = {}

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Keep the batch's last entry per (building, card, day)."""
        if batch.is_empty():
            return []
        entries = (
            places_of(facts)
            .swipes(batch)
            .select("building_code", "card_h", "building_id", "flat_id", "via", "granted", *EVIDENCE_COLUMNS)
            .filter(pl.col("granted") & pl.col("building_id").is_not_null() & pl.col("subject").is_not_null())
        )
        if not entries.is_empty():
            day, _ = local_clock(entries["ts"], self.params.timezone)
            self._pending.append(
                entries.select(
                    "building_code", "card_h", "building_id", "flat_id", "via", *EVIDENCE_COLUMNS
                ).with_columns(day)
            )
            self._pending_rows += entries.height
        if self._pending_rows >= FOLD_ROWS:  # memory stays flat between ticks
            self._fold()
        return []

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Count residents if a check is due."""
        if self._checked is not None and now - self._checked < timedelta(
            minutes=self.params.check_every_minutes
        ):
            return []
        self._checked = now
        self._fold()
        if self._days is None or self._days.is_empty():
            return []
        view = places_of(facts).view()
        residents = (
            self._days.sort("ts")
            .group_by("building_code", "card_h")
            .agg(pl.col("day").n_unique().alias("n_days"), pl.all().exclude("building_code", "card_h").last())
            .filter(pl.col("n_days") >= self.params.min_days)
        )
        findings: list[Finding] = []
        if "flat" in self.params.levels:
            flats = residents.filter(pl.col("flat_id").is_not_null()).join(
                view.flats.select("flat_id", "flat_number", "capacity", "compound_id"), on="flat_id"
            )
            tenants = view.tenants.group_by("flat_id").agg(pl.len().alias("registered"))
            findings += self._judge(flats, "flat_id", tenants, now)
        if "building" in self.params.levels:
            buildings = residents.join(
                view.buildings.select("building_id", "capacity", "compound_id", "building_name"),
                on="building_id",
            ).filter(pl.col("capacity") > 0)
            tenants = view.tenants.group_by("building_id").agg(pl.len().alias("registered"))
            findings += self._judge(buildings, "building_id", tenants, now)
        return findings

    def _judge(
        self, residents: pl.DataFrame, place: str, tenants: pl.DataFrame, now: datetime
    ) -> list[Finding]:
        """Warn for each place whose residents exceed its capacity (and grew since the last warning)."""
        counted = residents.group_by(place).agg(pl.len().alias("residents"), pl.col("capacity").first())
        limit = pl.col("capacity") * self.params.ratio
        over = counted.filter(
            (pl.col("residents") > limit) & (pl.col("residents") - limit >= self.params.min_excess)
        ).join(tenants, on=place, how="left")
        findings = []
        entity = FLAT if place == "flat_id" else BUILDING
        for row in over.iter_rows(named=True):
            key = f"{entity}:{row[place]}"
            if self._reported.get(key, 0) >= row["residents"]:
                continue
            self._reported[key] = row["residents"]
            rows = residents.filter(pl.col(place) == row[place])
            attributed = rows.filter(pl.col("flat_id").is_not_null())
            findings.append(
                self.finding(
                    subject_kind=entity,
                    subject=str(row[place]),
                    dedup_key=f"group:{key}",
                    now=now,
                    items=evidence(rows),
                    facts={
                        entity: row[place],
                        "flat_number": first(rows, "flat_number") if entity == FLAT else None,
                        "building_id": first(rows, "building_id"),
                        "compound_id": first(rows, "compound_id"),
                        "capacity": row["capacity"],
                        "residents": row["residents"],
                        "registered_tenants": row["registered"] or 0,
                        "residents_by_visitor_pass": attributed.filter(pl.col("via") == "visitor").height,
                        "residents_not_registered_here": rows.height - attributed.height,
                        "period_days": self.params.days,
                        "min_days": self.params.min_days,
                    },
                    refs=(
                        *place_refs(rows.select("device", "compound_id", "building_id")),
                        Ref(entity, str(row[place])),
                    ),
                )
            )
        return findings

    def _fold(self) -> None:
        """Merge pending entries into the per-day state and drop days older than the period."""
        if not self._pending:
            return
        frames = self._pending if self._days is None else [self._days, *self._pending]
        self._pending, self._pending_rows = [], 0
        days = pl.concat(frames, how="vertical_relaxed").sort("ts").unique(_KEY, keep="last")
        period = timedelta(days=self.params.days - 1)
        self._days = days.filter(pl.col("day") >= pl.col("day").max() - period)


GROUP_RENTING = RuleKind(GroupRentingRule.kind, GroupRentingParams, GroupRentingRule)
