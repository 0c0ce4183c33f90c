"""Daily trips of every bike, generated for a whole day at once from the bikes' routines.

A working day is home -> work in the morning, back in the evening, and sometimes an errand
(home -> market -> home) after dinner; weekends have fewer commutes and more errands. The
return trip rides the same roads as the outward one, as people do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt
import polars as pl

from safecity.sim.grid import FloatArray, Grid, IntArray
from safecity.sim.route import cumulative_units, route_waypoints

LOCAL_TZ = timezone(timedelta(hours=8), "CST")  # China Standard Time, no daylight saving
SPEED_RANGE_MPS = (12 / 3.6, 25 / 3.6)  # e-bikes ride at 12-25 km/h (25 is the legal limit)
KIND_AM, KIND_PM, KIND_ERRAND, KIND_ERRAND_BACK, KIND_HIDEOUT, KIND_GETAWAY, KIND_DELIVERY = range(7)
_PURPOSE = {"work": 0, "school": 1, "market": 2, "delivery": 3}
DELIVERY = _PURPOSE["delivery"]
# Share of riders who make their main trip, by purpose (work, school, market, delivery).
_GO_WEEKDAY = np.array([0.93, 0.96, 0.55, 0.92])
_GO_WEEKEND = np.array([0.20, 0.0, 0.70, 0.92])
# Couriers ride the lunch and dinner rushes (local time): rounds from their depot and back.
_SHIFTS_S = (10.6 * 3600, 16.6 * 3600)
_DROPS_PER_SHIFT = 8
_EPOCH_DAY = date(2000, 1, 1).toordinal()


@dataclass(frozen=True, slots=True)
class Fleet:
    """The bikes' routines as arrays indexed by bike (bike id - 1)."""

    tags: list[str]
    owner_id: IntArray
    purpose: IntArray
    home_x: IntArray
    home_y: IntArray
    dest_x: IntArray
    dest_y: IntArray
    errand_x: IntArray
    errand_y: IntArray
    am_s: FloatArray
    pm_s: FloatArray
    errand_p: FloatArray
    errand_s: FloatArray
    speed_mps: FloatArray
    hfirst: npt.NDArray[np.bool_]
    route_u: FloatArray

    @classmethod
    def from_tables(cls, bikes: pl.DataFrame, routines: pl.DataFrame) -> Fleet:
        """Build from the city's bikes and routines tables."""
        r = bikes.select("bike_id", "tag_id", "owner_id").join(routines, on="bike_id").sort("bike_id")
        if r.height != bikes.height or r["bike_id"].to_list() != list(range(1, r.height + 1)):
            raise ValueError("bike ids must be 1..n with one routine each")

        def ints(name: str) -> IntArray:
            return r[name].to_numpy().astype(np.int64)

        def floats(name: str) -> FloatArray:
            return r[name].to_numpy().astype(np.float64)

        return cls(
            tags=r["tag_id"].to_list(),
            owner_id=ints("owner_id"),
            purpose=r["purpose"].replace_strict(_PURPOSE, return_dtype=pl.Int64).to_numpy(),
            home_x=ints("home_x"),
            home_y=ints("home_y"),
            dest_x=ints("dest_x"),
            dest_y=ints("dest_y"),
            errand_x=ints("errand_x"),
            errand_y=ints("errand_y"),
            am_s=floats("depart_am_s"),
            pm_s=floats("depart_pm_s"),
            errand_p=floats("errand_p"),
            errand_s=floats("errand_s"),
            speed_mps=floats("speed_kmh") / 3.6,
            hfirst=r["route_hfirst"].to_numpy().astype(bool),
            route_u=floats("route_u"),
        )

    @property
    def size(self) -> int:
        """Number of bikes."""
        return len(self.tags)


@dataclass(frozen=True, slots=True)
class Trips:
    """A set of trips: who rides, when, how fast, and the route's six waypoints."""

    bike: IntArray
    start_ms: IntArray
    speed_mps: FloatArray
    wx: IntArray  # (n, 6) lattice waypoints
    wy: IntArray
    key: IntArray  # unique per trip and stable: seeds the trip's read noise
    kind: IntArray

    def __len__(self) -> int:
        return len(self.bike)

    def length_m(self, grid: Grid) -> FloatArray:
        """Distance ridden on each trip, metres."""
        return (cumulative_units(self.wx, self.wy)[:, -1] * grid.unit_m).astype(np.float64)

    def end_ms(self, grid: Grid) -> IntArray:
        """Arrival time of each trip, epoch ms."""
        return self.start_ms + np.round(self.length_m(grid) / self.speed_mps * 1000).astype(np.int64)

    def take(self, idx: IntArray | npt.NDArray[np.bool_]) -> Trips:
        """The trips at positions `idx` (or where a mask is true)."""
        return Trips(
            self.bike[idx],
            self.start_ms[idx],
            self.speed_mps[idx],
            self.wx[idx],
            self.wy[idx],
            self.key[idx],
            self.kind[idx],
        )

    def starting_between(self, lo_ms: int, hi_ms: int) -> Trips:
        """Trips starting in [lo_ms, hi_ms); the trips must be sorted by start."""
        a, b = np.searchsorted(self.start_ms, [lo_ms, hi_ms])
        return self.take(np.arange(a, b))

    @staticmethod
    def concat(parts: list[Trips]) -> Trips:
        """Join trip sets, then sort them by start time."""
        joined = Trips(*(np.concatenate([getattr(p, f) for p in parts]) for f in Trips.__slots__))
        return joined.take(np.lexsort((joined.bike, joined.start_ms)))


def local_midnight(day: date) -> datetime:
    """Midnight of a local (China Standard Time) calendar day, as UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).astimezone(UTC)


def local_day(when: datetime) -> date:
    """The local calendar day of an instant."""
    return when.astimezone(LOCAL_TZ).date()


def day_trips(fleet: Fleet, grid: Grid, seed: int, day: date) -> Trips:
    """Every routine trip of one local day, sorted by start time."""
    n = fleet.size
    rng = np.random.default_rng([seed, 0x7419, day.toordinal()])
    midnight_ms = int(local_midnight(day).timestamp() * 1000)
    go_share = _GO_WEEKEND if day.weekday() >= 5 else _GO_WEEKDAY
    go = rng.random(n) < go_share[fleet.purpose]
    am = fleet.am_s + rng.normal(0, 600, n)
    pm = fleet.pm_s + rng.normal(0, 900, n)
    speed = np.clip(fleet.speed_mps * rng.uniform(0.9, 1.1, n), *SPEED_RANGE_MPS)
    errand = rng.random(n) < np.minimum(1.0, fleet.errand_p * (1.4 if day.weekday() >= 5 else 1.0))
    errand_at = fleet.errand_s + rng.normal(0, 1200, n)
    dwell = rng.uniform(900, 5400, n)

    home = (fleet.home_x, fleet.home_y)
    out_x, out_y = route_waypoints(*home, fleet.dest_x, fleet.dest_y, fleet.hfirst, fleet.route_u, grid)
    out_s = cumulative_units(out_x, out_y)[:, -1] * grid.unit_m / speed
    err_u = np.modf(fleet.route_u * 3.7)[0]
    err_x, err_y = route_waypoints(*home, fleet.errand_x, fleet.errand_y, ~fleet.hfirst, err_u, grid)
    err_s = cumulative_units(err_x, err_y)[:, -1] * grid.unit_m / speed
    couriers = np.flatnonzero(go & (fleet.purpose == DELIVERY))
    rounds, rounds_end_s = _delivery_rounds(fleet, grid, day, rng, couriers, speed, am + out_s)
    pm[couriers] = np.maximum(pm[couriers], rounds_end_s + 300)
    pm = np.maximum(pm, am + out_s + 1800)
    errand_at = np.maximum(errand_at, np.where(go, pm + out_s + 900, 0.0))
    back_at = errand_at + err_s + dwell

    bikes = np.arange(n, dtype=np.int64)
    parts = [rounds]
    for kind, mask, start_s, wx, wy in (
        (KIND_AM, go, am, out_x, out_y),
        (KIND_PM, go, pm, out_x[:, ::-1], out_y[:, ::-1]),
        (KIND_ERRAND, errand, errand_at, err_x, err_y),
        (KIND_ERRAND_BACK, errand, back_at, err_x[:, ::-1], err_y[:, ::-1]),
    ):
        idx = np.flatnonzero(mask)
        parts.append(
            Trips(
                bike=bikes[idx],
                start_ms=midnight_ms + np.round(start_s[idx] * 1000).astype(np.int64),
                speed_mps=speed[idx],
                wx=np.ascontiguousarray(wx[idx]),
                wy=np.ascontiguousarray(wy[idx]),
                key=trip_key(day.toordinal(), kind, bikes[idx]),
                kind=np.full(len(idx), kind, np.int64),
            )
        )
    return Trips.concat(parts)


def _delivery_rounds(
    fleet: Fleet,
    grid: Grid,
    day: date,
    rng: np.random.Generator,
    couriers: IntArray,
    speed: FloatArray,
    arrive_s: FloatArray,
) -> tuple[Trips, FloatArray]:
    """Couriers' rounds: depot -> customer -> depot, eight per rush; and when each courier is done."""
    nc, k = len(couriers), _DROPS_PER_SHIFT
    depot_x, depot_y = np.repeat(fleet.dest_x[couriers], k), np.repeat(fleet.dest_y[couriers], k)
    courier_speed = np.repeat(speed[couriers], k)
    ready_s = arrive_s[couriers] + 300
    parts = []
    midnight_ms = int(local_midnight(day).timestamp() * 1000)
    for shift, shift_s in enumerate(_SHIFTS_S):
        dist = np.clip(rng.gamma(2.0, 400.0, nc * k), 200.0, 3000.0) / grid.unit_m
        angle = rng.uniform(0, 2 * np.pi, nc * k)
        cx, cy = grid.snap_parking(
            depot_x + dist * np.cos(angle), depot_y + dist * np.sin(angle), rng.random(nc * k) < 0.5
        )
        cx = np.where(
            (cx == depot_x) & (cy == depot_y), np.where(cx + 4 < grid.width_units, cx + 4, cx - 4), cx
        )
        wx, wy = route_waypoints(depot_x, depot_y, cx, cy, rng.random(nc * k) < 0.5, rng.random(nc * k), grid)
        ride_s = (cumulative_units(wx, wy)[:, -1] * grid.unit_m / courier_speed).reshape(nc, k)
        at_customer_s = rng.uniform(60, 240, (nc, k))
        cycle_s = 2 * ride_s + at_customer_s + rng.uniform(120, 600, (nc, k))  # waiting for the next order
        first_s = np.maximum(shift_s + rng.normal(0, 600, nc), ready_s)
        out_s = (first_s[:, None] + np.cumsum(cycle_s, axis=1) - cycle_s).ravel()
        back_s = out_s + ride_s.ravel() + at_customer_s.ravel()
        ready_s = first_s + cycle_s.sum(axis=1) + 1800
        bike = np.repeat(couriers, k)
        leg = np.tile(np.arange(k, dtype=np.int64) * 2, nc) + shift * 2 * k
        for start_s, rx, ry, legs in ((out_s, wx, wy, leg), (back_s, wx[:, ::-1], wy[:, ::-1], leg + 1)):
            parts.append(
                Trips(
                    bike=bike,
                    start_ms=midnight_ms + np.round(start_s * 1000).astype(np.int64),
                    speed_mps=courier_speed,
                    wx=np.ascontiguousarray(rx),
                    wy=np.ascontiguousarray(ry),
                    key=trip_key(day.toordinal(), KIND_DELIVERY, bike, legs),
                    kind=np.full(len(bike), KIND_DELIVERY, np.int64),
                )
            )
    return Trips.concat(parts), ready_s - 1800


def trip_key(day_ordinal: int, kind: int, bike: IntArray, leg: IntArray | int = 0) -> IntArray:
    """A stable key per (day, kind of trip, bike, leg): 46 bits, so that pass and read numbers
    can be packed below it without overflowing 64 bits."""
    day = np.int64((day_ordinal - _EPOCH_DAY) & 0x3FFF)  # 14 bits: days wrap every 44 years
    return (((day * 8 + kind) * 64 + np.asarray(leg, dtype=np.int64)) << 23) | bike.astype(np.int64)
