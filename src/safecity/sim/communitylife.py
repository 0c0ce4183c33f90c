"""A week of the smart communities and shops of a generated city: gate plate reads, alarm panels and
shop doors, with planted incidents, decoys and their ground truth (as sim/doorlife.py does for the
housing warnings).

Routine: residents' cars come home most evenings through their compound's plate camera; a few
visitors' cars a day enter once each; every shop's owner opens the door with a card swipe a
little after opening time, and its staff swipe in later in the morning on six days of seven (and
some again after lunch), drawn apart from everything else so that the planted incidents are the
ones of a city without staff. Planted, `plants` of each, written to the ground truth with what
they are about (the refs the warnings name) and when:

* `community_intrusion`: two intrusion alarms a few seconds apart in a compound's perimeter zone
  in the small hours (the zone is armed 22:00 to 06:00);
* `shop_armed_breach`: a burglary at night: the shop door forced, then open without a swipe;
* `community_unregistered_vehicle`: a car nobody registered entering one compound's gate on five
  different evenings of the week.

Decoys that must stay quiet, `plants` of each, in `decoys` (same schema as the truth): an
intrusion alarm from a perimeter zone in the afternoon (disarmed), a shop door opened without a
swipe during business hours (disarmed by its schedule), a visitor's car seen once.

Alarm and camera times are what the device reports; the shops' armed state follows their
business hours (the platform's schedule arms them at closing), so a replay must run that
schedule as time passes. The same tables, start and seed give the same records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from safecity.sim.community import CAMERA_PREFIX, PANEL_PREFIX, PERIMETER, plates
from safecity.sim.doorlife import TRUTH_SCHEMA

MS_PER_MIN = 60_000
DAY_MS = 1440 * MS_PER_MIN
LOCAL_OFFSET_MS = 8 * 3600 * 1000  # China Standard Time
CAR_HOME_SHARE = 0.7  # residents' cars entering on a given evening
VISITORS_PER_COMPOUND_DAY = 0.8  # visitors' cars a compound sees a day (Poisson mean)
PLANTED_VEHICLE_DAYS = 5  # the rule warns from 4 days within 7
RECORD_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "device": pl.String(),
    "subject": pl.String(),  # a plate; a card's identity number for a swipe; null for an alarm
    "code": pl.String(),
    "ts": pl.Datetime("ms", "UTC"),
    "attrs": pl.String(),  # JSON text or null
}
_Row = tuple[str, str, str | None, str | None, int, str | None]


@dataclass(frozen=True, slots=True)
class CommunityLife:
    """Records in time order, the ground truth of planted incidents, and the decoys."""

    records: pl.DataFrame  # RECORD_SCHEMA
    truth: pl.DataFrame  # doorlife.TRUTH_SCHEMA
    decoys: pl.DataFrame  # doorlife.TRUTH_SCHEMA: what must raise nothing


def community_life(
    housing: dict[str, pl.DataFrame],
    community: dict[str, pl.DataFrame],
    *,
    start: datetime,
    days: int,
    seed: int,
    plants: int = 2,
) -> CommunityLife:
    """`days` (at least 5) from `start` for `housing` (sim.housing) and `community` (sim.community)."""
    if days < PLANTED_VEHICLE_DAYS:
        raise ValueError(f"days: a community week needs at least {PLANTED_VEHICLE_DAYS} days, got {days}")
    life = _Life(housing, community, start, days, np.random.default_rng(np.random.SeedSequence([seed, 30])))
    life.routine()
    compounds = life.pick(housing["compounds"]["id"].to_list(), 2 * plants)
    shops = life.pick(housing["shops"]["id"].to_list(), 2 * plants)
    for n in range(plants):
        if n < len(compounds) // 2:
            life.intrusion(compounds[2 * n], decoy=False)
            life.intrusion(compounds[2 * n + 1], decoy=True)
        if n < len(shops) // 2:
            life.shop_breach(shops[2 * n], decoy=False)
            life.shop_breach(shops[2 * n + 1], decoy=True)
        life.unregistered_vehicle()
    life.staff_at_work(np.random.default_rng(np.random.SeedSequence([seed, 31])))
    return life.result()


class _Life:
    """The records being written, with the truth and the decoys."""

    def __init__(
        self,
        housing: dict[str, pl.DataFrame],
        community: dict[str, pl.DataFrame],
        start: datetime,
        days: int,
        rng: np.random.Generator,
    ) -> None:
        self.housing, self.community, self.days, self.rng = housing, community, days, rng
        t0 = int(start.timestamp() * 1000)
        self.t0, self.midnight = t0, t0 - (t0 + LOCAL_OFFSET_MS) % DAY_MS
        self.rows: list[_Row] = []
        self.truth_rows: list[tuple[str, list[str], datetime, datetime]] = []
        self.decoy_rows: list[tuple[str, list[str], datetime, datetime]] = []
        # Visitors' and planted cars: plates of another province, never a resident's.
        # Half as many again as the visitors expected, and room for the planted (Poisson sums
        # over hundreds of compound-days stay well inside that).
        expected = VISITORS_PER_COMPOUND_DAY * housing["compounds"].height * (days + 1)
        self._plates = iter(plates("皖A", int(1.5 * expected) + 1000, rng))
        zones = community["alarm_zones"]
        self.zone_ids = {(d, z): int(i) for d, z, i in zones.select("device_id", "zone", "id").iter_rows()}

    def at(self, day: int, minute: float) -> int:
        """Epoch ms of a local minute of a day of the run."""
        return int(self.midnight + day * DAY_MS + minute * MS_PER_MIN)

    def inside(self, ms: int) -> bool:
        return self.t0 <= ms < self.t0 + self.days * DAY_MS

    def day(self) -> int:
        """A whole day of the run (the first starts at the start's local midnight after it)."""
        return int(self.rng.integers(1, self.days))

    def pick(self, items: list[object], n: int) -> list[object]:
        chosen = self.rng.choice(len(items), size=min(n, len(items)), replace=False)
        return [items[i] for i in sorted(chosen.tolist())]

    # --- routine ------------------------------------------------------------------------------

    def routine(self) -> None:
        """Residents' cars home in the evening, visitors' cars once, shop owners opening up."""
        vehicles = self.community["vehicles"]
        for day in range(self.days + 1):
            home = self.rng.random(vehicles.height) < CAR_HOME_SHARE
            when = np.clip(self.rng.normal(18.5 * 60, 80, vehicles.height), 0, 1439)
            for compound, plate, minute in zip(
                vehicles["compound_id"].filter(home), vehicles["plate"].filter(home), when[home], strict=True
            ):
                self.read(compound, plate, self.at(day, minute))
            for compound in self.housing["compounds"]["id"].to_list():
                for _ in range(int(self.rng.poisson(VISITORS_PER_COMPOUND_DAY))):
                    plate = next(self._plates)
                    self.read(compound, plate, self.at(day, self.rng.uniform(9 * 60, 21 * 60)))
            self._owners_open(day)

    def _owners_open(self, day: int) -> None:
        shops = self.housing["shops"].join(
            self.housing["people"].select(pl.col("person_id").alias("owner_person_id"), "id_number"),
            on="owner_person_id",
        )
        for shop, opens, card in shops.select("id", "opens", "id_number").iter_rows():
            hour, minute = (int(x) for x in opens.split(":"))
            ms = self.at(day, hour * 60 + minute + self.rng.uniform(20, 60))
            self.add(("door_swipe", _shop_door(shop), card, "granted", ms, '{"reason":"listed"}'))

    def staff_at_work(self, rng: np.random.Generator) -> None:
        """Shop staff swipe in 30-150 minutes after opening (the schedule has disarmed the shop), on six
        days of seven, and half of them again after lunch: ordinary swipes in business hours."""
        staff = self.housing.get("shop_staff")
        if staff is None or staff.is_empty():
            return
        rows = (
            staff.join(self.housing["shops"].select(pl.col("id").alias("shop_id"), "opens"), on="shop_id")
            .join(self.housing["people"].select("person_id", "id_number"), on="person_id")
            .select("shop_id", "opens", "id_number")
            .rows()
        )
        for day in range(self.days + 1):
            for shop, opens, card in rows:
                if rng.random() < 1 / 7:  # a day off
                    continue
                hour, minute = (int(x) for x in opens.split(":"))
                times = [self.at(day, hour * 60 + minute + rng.uniform(30, 150))]
                if rng.random() < 0.5:
                    times.append(self.at(day, rng.uniform(13 * 60, 14 * 60)))
                for ms in times:
                    self.add(("door_swipe", _shop_door(shop), card, "granted", ms, '{"reason":"listed"}'))

    def read(self, compound: str, plate: str, ms: int) -> None:
        self.add(("plate_read", CAMERA_PREFIX + compound, plate, None, ms, None))

    def add(self, row: _Row) -> None:
        if self.inside(row[4]):
            self.rows.append(row)

    # --- planted incidents and decoys -----------------------------------------------------------

    def intrusion(self, compound: object, *, decoy: bool) -> None:
        """Two alarms in the perimeter zone: in the small hours (armed), or the afternoon (decoy)."""
        panel = PANEL_PREFIX + str(compound)
        minute = self.rng.uniform(13 * 60, 16 * 60) if decoy else self.rng.uniform(60, 270)
        first = self.at(self.day(), minute)
        attrs = json.dumps({"zone": PERIMETER})
        for k in range(2):
            self.add(("alarm", panel, None, "intrusion", first + k * 40_000, attrs))
        refs = [f"alarm_zone:{self.zone_ids[(panel, PERIMETER)]}"]
        self.write("community_intrusion", refs, first, first + 40_000, decoy=decoy)

    def shop_breach(self, shop: object, *, decoy: bool) -> None:
        """The door forced at night, then open without a swipe; a decoy: opened so in the afternoon."""
        door = _shop_door(int(shop))  # type: ignore[call-overload]
        first = self.at(
            self.day(), self.rng.uniform(13 * 60, 16 * 60) if decoy else self.rng.uniform(120, 240)
        )
        if not decoy:
            self.add(("alarm", door, None, "door_forced", first, None))
        self.add(("alarm", door, None, "door_opened_no_swipe", first + 30_000, None))
        self.write("shop_armed_breach", [f"shop:{shop}", f"door:{door}"], first, first + 30_000, decoy=decoy)

    def unregistered_vehicle(self) -> None:
        """A car nobody registered entering one compound on five evenings; a visitor's once (decoy)."""
        compounds = self.housing["compounds"]["id"].to_list()
        compound = compounds[int(self.rng.integers(0, len(compounds)))]
        plate = next(self._plates)
        # The first evening and four more within the week (the rule's window is seven days).
        later = self.rng.choice(np.arange(1, min(self.days, 7)), PLANTED_VEHICLE_DAYS - 1, replace=False)
        times = [self.at(int(d), self.rng.uniform(20 * 60, 23 * 60)) for d in [0, *sorted(later.tolist())]]
        for ms in times:
            self.read(compound, plate, ms)
        self.write("community_unregistered_vehicle", [f"plate:{plate}"], times[0], times[-1], decoy=False)
        visitor = next(self._plates)
        once = self.at(self.day(), self.rng.uniform(10 * 60, 20 * 60))
        self.read(compound, visitor, once)
        self.write("community_unregistered_vehicle", [f"plate:{visitor}"], once, once, decoy=True)

    def write(self, kind: str, refs: list[str], start_ms: int, end_ms: int, *, decoy: bool) -> None:
        (self.decoy_rows if decoy else self.truth_rows).append((kind, refs, _dt(start_ms), _dt(end_ms)))

    def result(self) -> CommunityLife:
        records = (
            pl.DataFrame(self.rows, schema={**RECORD_SCHEMA, "ts": pl.Int64()}, orient="row")
            .with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
            .sort("ts", "device", "kind", "subject", nulls_last=True)
        )
        return CommunityLife(
            records=records,
            truth=pl.DataFrame(self.truth_rows, schema=TRUTH_SCHEMA, orient="row"),
            decoys=pl.DataFrame(self.decoy_rows, schema=TRUTH_SCHEMA, orient="row"),
        )


def _shop_door(shop: int) -> str:
    """The device id sim.housing gives a shop's door controller."""
    return f"DC-SHOP-{shop:05d}"


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


__all__ = ["RECORD_SCHEMA", "CommunityLife", "community_life"]
