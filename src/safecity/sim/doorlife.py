"""A week of life at the doors of a generated city's rental housing, with planted incidents and
their ground truth.

Tenants come home (and some also at midday) at the times of their routines: a card swipe at the
compound gate if it has one, then at their building's door, both granted. Night-shift workers
come home in the morning. Planted among them, one situation for every housing warning, each
written to the ground truth with what it is about (refs as the warnings name them) and when:

* `housing_denied_attempts`: a tenant of another building trying a door again and again;
* `housing_unknown_card`: a card registered nowhere trying doors of different buildings;
* `housing_dormant_tenant`: a tenant who moved out without being checked out (no swipe from the
  start; found once the rule's silence has passed, so only in runs longer than it);
* `housing_group_renting`: a flat whose landlord lets extra people in on rolling visitor passes
  (the passes are part of the output, to register before the swipes);
* `housing_many_compounds`: a card with passes to many compounds entering five in one day;
* `housing_unusual_hours`: a day worker coming home at 03:30 to a busy building, late in the run
  (the rule must have learnt the building first);
* `hotlist` (`wanted-person-at-door`): a watch-listed tenant's ordinary swipes (the list entry
  is part of the output).

A swipe's decision is what the door's list says (the controller's local decision when it is in
step). The same tables, start and seed give the same swipes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from safecity.sim.population import id_numbers

MS_PER_MIN = 60_000
LOCAL_OFFSET_MS = 8 * 3600 * 1000  # China Standard Time
TRUTH_SCHEMA: dict[str, pl.DataType] = {
    "rule_kind": pl.String(),
    "refs": pl.List(
        pl.String()
    ),  # "entity:id"; a card as "card:<identity number>" (its pseudonym at scoring)
    "start": pl.Datetime("ms", "UTC"),
    "end": pl.Datetime("ms", "UTC"),
}
SWIPE_SCHEMA: dict[str, pl.DataType] = {
    "device": pl.String(),
    "card": pl.String(),
    "ts": pl.Datetime("ms", "UTC"),
    "granted": pl.Boolean(),
    "reason": pl.String(),
}


@dataclass(frozen=True, slots=True)
class DoorLife:
    """Swipes in time order, the ground truth, and what must be registered before the swipes."""

    swipes: pl.DataFrame  # SWIPE_SCHEMA
    truth: pl.DataFrame  # TRUTH_SCHEMA
    passes: pl.DataFrame  # visitor passes: compound_id, flat_id, id_number, name, valid_from, valid_until
    wanted: pl.DataFrame  # people to watch-list: person_id, id_number
    moved_out: pl.DataFrame  # tenancies whose tenant left without checking out: tenancy_id


def door_life(
    tables: dict[str, pl.DataFrame],
    *,
    start: datetime,
    days: int,
    seed: int,
    plants: int = 2,
    focus: Collection[str] = (),
) -> DoorLife:
    """`days` of swipes from `start` (aware) for housing `tables` (sim.housing), `plants` of each incident.

    With `focus` (compound ids), the incidents at one building and the watch-listed tenants are
    planted there (the demo's community accounts see them); incidents across compounds still
    range over the city.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20]))
    t0 = int(start.timestamp() * 1000)
    homes = _homes(tables)
    moved = rng.choice(homes.height, size=min(plants, homes.height), replace=False)
    focused = np.flatnonzero(homes["compound_id"].is_in(list(focus)).to_numpy()) if focus else np.array([])
    candidates = np.setdiff1d(focused if focused.size else np.arange(homes.height), moved)
    wanted = rng.choice(candidates, size=min(plants, candidates.size), replace=False)
    away = np.zeros(homes.height, dtype=bool)
    away[moved] = True
    routine = _routine(homes.filter(pl.Series(~away)), t0, days, rng)
    plan = _Plan(tables, homes, rng, t0, days, focus)
    for _ in range(plants):
        plan.denied_attempts()
        plan.unknown_card()
        plan.group_renting()
        plan.many_compounds()
        plan.unusual_hours()
    for row in moved.tolist():
        # Gone since before the run (nobody saw them leave): the situation spans all of it.
        plan.truth(
            "housing_dormant_tenant",
            [f"tenancy:{homes['tenancy_id'][row]}"],
            t0 - 3650 * 1440 * MS_PER_MIN,
            t0 + days * 1440 * MS_PER_MIN,
        )
    wanted_rows = homes[wanted.tolist()]
    for tenancy in wanted_rows["tenancy_id"].to_list():
        card = homes.filter(pl.col("tenancy_id") == tenancy)["id_number"][0]
        plan.truth("hotlist", [f"card:{card}"], t0, t0 + days * 1440 * MS_PER_MIN)
    swipes = pl.concat([routine, *plan.swipes]).sort("ts", "device", "card")
    return DoorLife(
        swipes=swipes,
        truth=pl.DataFrame(plan.truth_rows, schema=TRUTH_SCHEMA, orient="row"),
        passes=pl.DataFrame(plan.pass_rows, schema=_PASS_SCHEMA, orient="row"),
        wanted=wanted_rows.select("person_id", "id_number"),
        moved_out=homes[moved.tolist()].select("tenancy_id"),
    )


def _homes(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Each tenancy with its card, routine and the doors it enters by (gate first, if any)."""
    doors = tables["doors"]
    gates = doors.filter(pl.col("building_id").is_null() & pl.col("shop_id").is_null()).select(
        "compound_id", pl.col("device_id").alias("gate")
    )
    entrances = doors.filter(pl.col("building_id").is_not_null()).select(
        "building_id", pl.col("device_id").alias("door")
    )
    return (
        tables["tenancies"]
        .rename({"id": "tenancy_id"})
        .join(tables["people"].select("person_id", "id_number"), on="person_id")
        .join(entrances, on="building_id")
        .join(gates, on="compound_id", how="left")
        .sort("tenancy_id")
    )


def _entries(
    homes: pl.DataFrame, minutes: np.ndarray, day: np.ndarray, t0: int, rng: np.random.Generator
) -> pl.DataFrame:
    """Granted swipes of `homes` rows at local `minutes` of day `day`: the gate a minute before the door."""
    local_midnight = t0 - (t0 + LOCAL_OFFSET_MS) % (1440 * MS_PER_MIN)
    at = local_midnight + day * 1440 * MS_PER_MIN + (minutes * MS_PER_MIN).astype(np.int64)
    at = at + rng.integers(0, MS_PER_MIN, len(at))
    door = pl.DataFrame({"device": homes["door"], "card": homes["id_number"], "ts": at})
    gated = homes["gate"].is_not_null().to_numpy()
    gate = pl.DataFrame(
        {
            "device": homes["gate"].filter(gated),
            "card": homes["id_number"].filter(gated),
            "ts": at[gated] - MS_PER_MIN,
        }
    )
    both = pl.concat([door, gate])
    return both.select(
        "device",
        "card",
        pl.col("ts").cast(pl.Datetime("ms", "UTC")),
        pl.lit(True).alias("granted"),
        pl.lit("listed").alias("reason"),
    )


def _routine(homes: pl.DataFrame, t0: int, days: int, rng: np.random.Generator) -> pl.DataFrame:
    """Every tenant's homecomings: most days (fewer at weekends), some also at midday."""
    frames = []
    back = homes["back_min"].to_numpy().astype(np.float64)
    for day in range(days):
        home = rng.random(homes.height) < 0.93
        when = np.clip(back + rng.normal(0, 25, homes.height), 0, 1439)
        frames.append(_entries(homes.filter(pl.Series(home)), when[home], np.full(home.sum(), day), t0, rng))
        lunch = rng.random(homes.height) < 0.15
        noon = np.clip(rng.normal(12.5 * 60, 30, homes.height), 0, 1439)
        frames.append(
            _entries(homes.filter(pl.Series(lunch)), noon[lunch], np.full(lunch.sum(), day), t0, rng)
        )
    window_end = t0 + days * 1440 * MS_PER_MIN
    return pl.concat(frames).filter(
        (pl.col("ts") >= pl.lit(t0).cast(pl.Datetime("ms", "UTC")))
        & (pl.col("ts") < pl.lit(window_end).cast(pl.Datetime("ms", "UTC")))
    )


_PASS_SCHEMA: dict[str, pl.DataType] = {
    "compound_id": pl.String(),
    "flat_id": pl.Int64(),
    "id_number": pl.String(),
    "name": pl.String(),
    "valid_from": pl.Datetime("ms", "UTC"),
    "valid_until": pl.Datetime("ms", "UTC"),
}


class _Plan:
    """The planted incidents: their swipes, passes and ground truth."""

    def __init__(
        self,
        tables: dict[str, pl.DataFrame],
        homes: pl.DataFrame,
        rng: np.random.Generator,
        t0: int,
        days: int,
        focus: Collection[str] = (),
    ) -> None:
        self.tables, self.homes, self.rng, self.t0, self.days = tables, homes, rng, t0, days
        self.swipes: list[pl.DataFrame] = []
        self.truth_rows: list[tuple[str, list[str], datetime, datetime]] = []
        self.pass_rows: list[tuple[object, ...]] = []
        self._strangers = iter(self._stranger_numbers(rng))
        buildings = homes.group_by("building_id").agg(
            pl.len().alias("n"), pl.first("door"), pl.first("compound_id")
        )
        self.everywhere = buildings.sort(["n", "building_id"], descending=[True, False])
        there = self.everywhere.filter(pl.col("compound_id").is_in(list(focus)))
        self.busy = there if there.height >= 3 else self.everywhere  # incidents at one place

    @staticmethod
    def _stranger_numbers(rng: np.random.Generator) -> list[str]:
        """Valid numbers of people registered nowhere in the city (a code no generator uses)."""
        n = 200
        birth = np.datetime64("1990-01-01") + rng.integers(0, 8000, n).astype("timedelta64[D]")
        return id_numbers(np.full(n, 370102, dtype=np.int64), birth, rng.random(n) < 0.5, rng).to_list()

    def at(self, day: int, minute: float) -> int:
        local_midnight = self.t0 - (self.t0 + LOCAL_OFFSET_MS) % (1440 * MS_PER_MIN)
        return int(local_midnight + day * 1440 * MS_PER_MIN + minute * MS_PER_MIN)

    def swipe(self, rows: list[tuple[str, str, int, bool, str]]) -> None:
        self.swipes.append(
            pl.DataFrame(
                rows,
                schema={
                    "device": pl.String(),
                    "card": pl.String(),
                    "ts": pl.Int64,
                    "granted": pl.Boolean(),
                    "reason": pl.String(),
                },
                orient="row",
            ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
        )

    def truth(self, kind: str, refs: list[str], start_ms: int, end_ms: int) -> None:
        self.truth_rows.append((kind, refs, _dt(start_ms), _dt(end_ms)))

    def _day(self, last: int = 0) -> int:
        """A day of the run (the last `last` days only, if given)."""
        return int(self.rng.integers(max(0, self.days - last) if last else 0, self.days))

    def denied_attempts(self) -> None:
        """A tenant of one building trying another's door six times in four minutes, at night."""
        target = self.busy[int(self.rng.integers(0, max(1, self.busy.height // 2)))]
        other = self.homes.filter(pl.col("building_id") != target["building_id"][0])
        card = other["id_number"][int(self.rng.integers(0, other.height))]
        when = self.at(self._day(), 60 * 23 + self.rng.uniform(0, 50))
        door = target["door"][0]
        self.swipe([(door, card, when + k * 40_000, False, "not_listed") for k in range(6)])
        self.truth("housing_denied_attempts", [f"door:{door}"], when, when + 6 * 40_000)

    def unknown_card(self) -> None:
        """A card registered nowhere tried at the doors of three buildings within half an hour."""
        card = next(self._strangers)
        when = self.at(self._day(), self.rng.uniform(60, 1380))
        picks = (
            self.busy.sample(3, seed=int(self.rng.integers(0, 2**31))) if self.busy.height >= 3 else self.busy
        )
        rows = [
            (d, card, when + k * 9 * MS_PER_MIN, False, "not_listed") for k, d in enumerate(picks["door"])
        ]
        self.swipe(rows)
        self.truth("housing_unknown_card", [f"card:{card}"], when, rows[-1][2])

    def group_renting(self) -> None:
        """A flat whose landlord lets capacity + 2 more people in on rolling passes; they come home daily."""
        flats = self.tables["flats"].filter(pl.col("capacity") <= 4)
        flat = flats[int(self.rng.integers(0, flats.height))]
        building = flat["building_id"][0]
        door_of = self.homes.filter(pl.col("building_id") == building)
        door = door_of["door"][0] if door_of.height else self._door_of_building(building)
        compound = self.tables["buildings"].filter(pl.col("id") == building)["compound_id"][0]
        extra = int(flat["capacity"][0]) + 2
        rows = []
        for _ in range(extra):
            card = next(self._strangers)
            self.pass_rows.append(
                (
                    compound,
                    int(flat["id"][0]),
                    card,
                    "合租人",
                    _dt(self.t0 - 86_400_000),
                    _dt(self.at(self.days, 0)),
                )
            )
            for day in range(self.days):
                rows.append((door, card, self.at(day, 19 * 60 + self.rng.uniform(0, 180)), True, "visitor"))
        self.swipe(rows)
        self.truth(
            "housing_group_renting",
            [f"flat:{flat['id'][0]}", f"building:{building}"],
            self.t0,
            self.at(self.days, 0),
        )

    def _door_of_building(self, building: str) -> str:
        return str(self.tables["doors"].filter(pl.col("building_id") == building)["device_id"][0])

    def many_compounds(self) -> None:
        """A card with passes to five compounds entering each of them within one evening."""
        card = next(self._strangers)
        compounds = (
            self.everywhere.unique("compound_id", maintain_order=True)
            .head(40)
            .sample(min(5, self.everywhere["compound_id"].n_unique()), seed=int(self.rng.integers(0, 2**31)))
        )
        day = self._day()
        when = self.at(day, 18 * 60)
        rows = []
        for k, (compound, door) in enumerate(zip(compounds["compound_id"], compounds["door"], strict=True)):
            self.pass_rows.append(
                (compound, None, card, "访客", _dt(when - 3_600_000), _dt(when + 86_400_000))
            )
            rows.append((door, card, when + k * 25 * MS_PER_MIN, True, "visitor"))
        self.swipe(rows)
        self.truth("housing_many_compounds", [f"card:{card}"], when, rows[-1][2])

    def unusual_hours(self) -> None:
        """A day worker of a busy building coming home at 03:30 on one of the last two days."""
        building = self.busy["building_id"][int(self.rng.integers(0, max(1, min(5, self.busy.height))))]
        tenants = self.homes.filter((pl.col("building_id") == building) & ~pl.col("night_shift"))
        row = tenants[int(self.rng.integers(0, tenants.height))]
        when = self.at(self._day(last=2), 3 * 60 + 30)
        self.swipe([(row["door"][0], row["id_number"][0], when, True, "listed")])
        self.truth("housing_unusual_hours", [f"door:{row['door'][0]}"], when, when)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


__all__ = ["SWIPE_SCHEMA", "TRUTH_SCHEMA", "DoorLife", "door_life"]
