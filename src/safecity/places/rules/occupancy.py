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

State, sized for 1.4 million tenants: entries of a card at its own home building (nearly all)
set one bit per local day in a 64-bit mask by card row (days modulo 64, so `days` is at most
60); the few entries elsewhere are kept as rows. Counting is a popcount. A warning's evidence is
its residents' entries of the last `evidence_hours` (the raw entries of a week cost 1 s a tick).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from safecity.core.finding import Finding, Ref
from safecity.places.facts import BUILDING, PlaceView
from safecity.places.models import FLAT
from safecity.places.rules.common import HousingRule, evidence, first, local_clock, place_refs, places_of
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.rules.base import EVIDENCE_COLUMNS

_KEY = ["building_code", "card_h", "day"]
_EPOCH = date(1970, 1, 1)
_BITS = 64
_DENSE_KEYS = 50_000_000  # keys up to this are counted with a bincount
Level = Literal["flat", "building"]
LEVELS: tuple[Level, ...] = ("flat", "building")


class GroupRentingParams(RuleParams):
    """More residents (cards entering on several days) than a flat's or building's capacity."""

    days: int = Field(7, ge=1, le=60, description="The period looked at, in local days.")
    min_days: int = Field(3, ge=1, le=60, description="Days of entries that make a card a resident.")
    ratio: float = Field(1.0, ge=0.5, le=10, description="Residents over capacity times this are too many.")
    min_excess: int = Field(1, ge=1, le=100, description="Residents above the limit before it is a warning.")
    levels: list[Level] = Field(
        default_factory=lambda: list(LEVELS), min_length=1, description="Places judged."
    )
    check_every_minutes: float = Field(60, gt=0, le=24 * 60, description="How often residents are counted.")
    evidence_hours: float = Field(24, gt=0, le=7 * 24, description="Entries kept as a warning's evidence.")
    timezone: str = Field("Asia/Shanghai", description="Where a day begins and ends (IANA name).")


class GroupRentingRule(HousingRule):
    """Day masks of cards at home, rows of cards elsewhere; residents counted per place on tick."""

    kind = "housing_group_renting"
    default_title = "More people living here than it holds"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: GroupRentingParams = config.typed_params()
        self._view: PlaceView | None = None
        self._mask = np.zeros(0, dtype=np.uint64)  # by card row: local days (mod 64) it entered home
        self._newest = -1  # the newest local day seen (days since 1970)
        self._away: pl.DataFrame | None = (
            None  # entries outside the card's home: last per (building, card, day)
        )
        # Batches of the last `evidence_hours` (the entries of a warning's evidence), whole: each
        # dropped when all of it is older (filtering a day of swipes each tick cost 80 ms).
        self._recent: list[tuple[datetime, pl.DataFrame]] = []  # (its newest swipe, the batch)
        self._since: datetime | None = None  # evidence is entries after this
        self._checked: datetime | None = None
        self._reported: dict[str, int] = {}

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Mark each card's day of entry at home; keep entries elsewhere as rows."""
        if batch.is_empty():
            return []
        places = places_of(facts)
        swipes, view = places.enriched(batch)
        if swipes.is_empty():
            return []
        self._follow(view)
        building = swipes["building_code"].fill_null(-1).to_numpy()
        entered = swipes["granted"].to_numpy() & (building >= 0) & swipes["subject"].is_not_null().to_numpy()
        if not entered.any():
            return []
        day, _ = local_clock(swipes["ts"], self.params.timezone)
        days = day.cast(pl.Int32).to_numpy().astype(np.int64)
        self._advance(int(days[entered].max()))
        fresh = entered & (days > self._newest - _BITS)  # older than the masks reach: nothing to mark
        at_home = fresh & (building == swipes["home_building_code"].to_numpy())
        rows = swipes["card_row"].to_numpy()
        home_rows, home_days = rows[at_home], days[at_home]
        if home_rows.size:
            # Day by day (a batch holds one or two): a card twice in the batch sets the same bit
            # twice, which a plain assignment does right; `bitwise_or.at` cost 4 ms a batch.
            for d in range(int(home_days.min()), int(home_days.max()) + 1):
                on = home_rows[home_days == d]
                self._mask[on] |= np.uint64(1) << np.uint64(d % _BITS)
        kept = swipes.select("building_code", "card_h", "building_id", "flat_id", "via", *EVIDENCE_COLUMNS)
        # Kept whole (a selection costs nothing); the entries are picked when a tick prunes.
        newest = swipes["ts"].max()
        assert isinstance(newest, datetime)
        self._recent.append((newest, kept.with_columns(pl.Series("_entered", entered))))
        if len(self._recent) >= 64:  # memory stays flat without ticks too
            self._prune()
        away = np.flatnonzero(fresh & ~at_home)
        if away.size:
            self._keep_away(kept[away].with_columns(day[away]))
        return []

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Count residents if a check is due."""
        if self._checked is not None and now - self._checked < timedelta(
            minutes=self.params.check_every_minutes
        ):
            return []
        self._checked = now
        if self._newest < 0:
            return []
        view = places_of(facts).view()
        self._follow(view)
        self._prune()
        residents = self._residents(view)
        if residents.is_empty():
            return []
        # Counted by integer keys with numpy; names are joined only to the places over their
        # capacity (joining them to a million residents and grouping by name cost 300 ms a tick).
        findings: list[Finding] = []
        if "flat" in self.params.levels:
            ids = residents["flat_id"].drop_nulls().to_numpy()
            over = self._over(ids, view.flats.select("flat_id", "capacity"), "flat_id")
            findings += self._judge(residents, over, "flat_id", view, now)
        if "building" in self.params.levels:
            codes = residents["building_code"].to_numpy()
            places = view.buildings.select("building_code", "building_id", "capacity").filter(
                pl.col("capacity") > 0
            )
            over = self._over(codes, places, "building_code")
            findings += self._judge(residents, over, "building_id", view, now)
        return findings

    def _over(self, keys: np.ndarray, places: pl.DataFrame, key: str) -> pl.DataFrame:
        """Places (`places`' rows, with `residents`) whose residents by `key` exceed the limit.

        Keys are database ids or codes, so dense: counted with a bincount against a capacity
        array (a Polars group-by and join cost 50 ms each at Wenzhou scale).
        """
        limit = self.params.ratio
        if not keys.size or keys.min() < 0 or keys.max() > _DENSE_KEYS:
            counted = pl.DataFrame({key: keys}).group_by(key).agg(pl.len().alias("residents"))
            return counted.join(places, on=key).filter(
                (pl.col("residents") > pl.col("capacity") * limit)
                & (pl.col("residents") - pl.col("capacity") * limit >= self.params.min_excess)
            )
        counts = np.bincount(keys)
        capacity = np.full(counts.size, -1, dtype=np.int64)  # -1: not a place judged here
        known = places.filter(pl.col(key) < counts.size)
        capacity[known[key].to_numpy()] = known["capacity"].to_numpy()
        allowed = capacity * limit
        over = np.flatnonzero(
            (capacity >= 0) & (counts > allowed) & (counts - allowed >= self.params.min_excess)
        )
        found = pl.DataFrame(
            {key: over, "residents": counts[over]}, schema={key: pl.Int64, "residents": pl.UInt32}
        )
        return found.join(places, on=key)

    def _residents(self, view: PlaceView) -> pl.DataFrame:
        """Every resident card: building_code, card_h, and flat_id and via if attributed."""
        window = np.uint64(0)
        for d in range(self._newest - self.params.days + 1, self._newest + 1):
            window |= np.left_shift(np.uint64(1), np.uint64(d % _BITS))
        at_home = np.flatnonzero(np.bitwise_count(self._mask & window) >= self.params.min_days)
        homes = (
            view.card_homes[at_home]
            .select("building_code", "flat_id", "via")
            .with_columns(pl.Series("card_h", view.card_index.keys()[at_home], dtype=pl.UInt64))
        )
        parts = [homes]
        if self._away is not None:
            oldest = _EPOCH + timedelta(days=self._newest - self.params.days + 1)
            parts.append(
                self._away.filter(pl.col("day") >= oldest)
                .group_by("building_code", "card_h")
                .agg(pl.col("day").n_unique().alias("n_days"), pl.col("flat_id").last(), pl.col("via").last())
                .filter(pl.col("n_days") >= self.params.min_days)
                .select("building_code", "flat_id", "via", "card_h")
            )
        return pl.concat(parts, how="vertical_relaxed")

    def _judge(
        self,
        residents: pl.DataFrame,
        over: pl.DataFrame,
        place: str,
        view: PlaceView,
        now: datetime,
    ) -> list[Finding]:
        """Warn for each place over its capacity (`over`) whose residents grew since the last warning."""
        if over.is_empty():
            return []
        registered = (
            view.tenants.filter(pl.col(place).is_in(over[place].implode()))
            .group_by(place)
            .agg(pl.len().alias("registered"))
        )
        over = over.join(registered, on=place, how="left")
        findings: list[Finding] = []
        entity = FLAT if place == "flat_id" else BUILDING
        grown = [
            row
            for row in over.iter_rows(named=True)
            if self._reported.get(f"{entity}:{row[place]}", 0) < row["residents"]
        ]
        if not grown:
            return findings
        # The places' residents and entries grouped once: per place, a filter of every resident
        # and entry would make a tick quadratic in the places warned of.
        key = "flat_id" if place == "flat_id" else "building_code"
        wanted = over.filter(pl.col(place).is_in([row[place] for row in grown])).select(key)
        chosen = residents.join(wanted, on=key, how="semi").join(
            view.buildings.select("building_code", "building_id", "compound_id"), on="building_code"
        )
        if place == "flat_id":
            chosen = chosen.join(view.flats.select("flat_id", "flat_number"), on="flat_id", how="left")
        by_place = {k[0]: g for k, g in chosen.group_by(place)}
        entries = self._entries(chosen)
        seen_by = self._by_place(entries, chosen, place)
        empty = entries.clear()
        for row in grown:
            key = f"{entity}:{row[place]}"
            self._reported[key] = row["residents"]
            rows = by_place[row[place]]
            attributed = rows.filter(pl.col("flat_id").is_not_null())
            seen = seen_by.get(row[place], empty)
            findings.append(
                self.finding(
                    subject_kind=entity,
                    subject=str(row[place]),
                    dedup_key=f"group:{key}",
                    now=now,
                    items=evidence(seen),
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
                        *place_refs(rows.select("compound_id", "building_id")),
                        *place_refs(seen.select("device")),
                        Ref(entity, str(row[place])),
                    ),
                )
            )
        return findings

    @staticmethod
    def _by_place(entries: pl.DataFrame, residents: pl.DataFrame, place: str) -> dict[object, pl.DataFrame]:
        """Entries grouped by the place (flat or building) of the resident who made them."""
        if entries.is_empty():
            return {}
        owners = residents.select(*dict.fromkeys(("building_id", "card_h", place)))
        return {k[0]: g for k, g in entries.join(owners, on=["building_id", "card_h"]).group_by(place)}

    def _entries(self, residents: pl.DataFrame) -> pl.DataFrame:
        """The residents' recent entries at their building (a warning's evidence)."""
        if not self._recent:
            return pl.DataFrame(
                schema={"building_id": pl.String, "card_h": pl.UInt64, "ts": pl.Datetime("ms", "UTC")}
            )
        recent = pl.concat([rows for _, rows in self._recent], how="vertical_relaxed")
        entered = (
            pl.col("_entered") if self._since is None else pl.col("_entered") & (pl.col("ts") > self._since)
        )
        return recent.filter(entered).join(
            residents.select("building_id", "card_h").unique(), on=["building_id", "card_h"], how="semi"
        )

    def _keep_away(self, rows: pl.DataFrame) -> None:
        away = rows if self._away is None else pl.concat([self._away, rows], how="vertical_relaxed")
        self._away = away.unique(_KEY, keep="last", maintain_order=True)

    def _advance(self, day: int) -> None:
        """A new newest day clears the mask bits it takes over from 64 days ago."""
        if day <= self._newest:
            return
        if self._newest < 0 or day - self._newest >= _BITS:
            self._mask[:] = 0
        else:
            clear = np.uint64(0)
            for d in range(self._newest + 1, day + 1):
                clear |= np.left_shift(np.uint64(1), np.uint64(d % _BITS))
            self._mask &= ~clear
        self._newest = day

    def _prune(self) -> None:
        """Drop kept rows older than the period, and evidence older than `evidence_hours`."""
        if self._away is not None:
            oldest = _EPOCH + timedelta(days=self._newest - self.params.days + 1)
            self._away = self._away.filter(pl.col("day") >= oldest)
        if self._recent:
            self._since = max(at for at, _ in self._recent) - timedelta(hours=self.params.evidence_hours)
            self._recent = [(at, rows) for at, rows in self._recent if at > self._since]

    def _follow(self, view: PlaceView) -> None:
        """Carry the day masks over to a reloaded view (card rows are renumbered; hashes are not)."""
        if view is self._view:
            return
        mask = np.zeros(len(view.card_index), dtype=np.uint64)
        if self._view is not None and self._mask.size:
            moved = view.card_index.find(self._view.card_index.keys())
            mask[moved[moved >= 0]] = self._mask[moved >= 0]
        self._view, self._mask = view, mask


GROUP_RENTING = RuleKind(GroupRentingRule.kind, GroupRentingParams, GroupRentingRule)
