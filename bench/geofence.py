"""Benchmark `geofence`: safe zones and route deviation over 10 million fixes, with hysteresis.

5,000 elderly wearers around Wenzhou have 1-3 safe zones each (a circle of 150-800 m, or a polygon
of 8-40 vertices, mostly concave; the second and third zones apply all day, 08:00-20:00 or
22:00-06:00 local), and 1,000 tanker trips each follow a planned route of 50-500 points (a winding
road of 80-300 m steps). 10 million fixes (BENCH_SIZE=small: 500,000), half from wearers and half
from vehicles, arrive in 50,000-fix batches of 5 minutes each (the full run covers 17 hours from
midnight local, so zones come in and out of force). Wearers drift about home and now and then
wander off for a while; vehicles move along their route with 15 m of GPS noise and now and then
take a 300-800 m detour. Each batch goes through `SafeZoneWatch.step` (zones in force, signed
distance, hysteresis) and `RouteWatch.step` (distance to the route, hysteresis). Generating the
batches is not timed.

Prints JSON lines: `fixes_per_s` (target 2,000,000) for both together, with the baseline of a
per-fix evaluator (shapely `Point.within` / `distance` in each zone's or route's plane, the same
hysteresis in plain Python) over the first two batches, measured in the same run and checked to
raise exactly the same transitions (`baseline_agrees`); `zone_fixes_per_s` and `route_fixes_per_s`
separately, each with its baseline; `compile_s` (validated zones and routes to arrays, rasters and
grids). Rates are by the wall clock; `cpu_fixes_per_s` gives the same by this process's CPU time,
since the cores may be shared. Progress on stderr.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any

import numpy as np
import shapely

from safecity.tracking import (
    CircleZone,
    DailyWindow,
    PolygonZone,
    Route,
    RouteIndex,
    RouteWatch,
    SafeZones,
    SafeZoneWatch,
    Transitions,
    Zone,
)
from safecity.tracking.geofence import DAY_MIN
from safecity.tracking.plane import M_PER_DEG, east_scale

SMALL = os.environ.get("BENCH_SIZE") == "small"
FIXES = 500_000 if SMALL else 10_000_000
WEARERS = 5_000
ROUTES = 1_000
BATCH = 50_000
LAT, LON = 28.0, 120.65  # Wenzhou
SPREAD_DEG = 0.2  # homes and roads within about 40 x 40 km
START_MS = 1_796_400_000_000  # 2026-12-04 (a Friday) 16:00Z, midnight in Wenzhou
SPAN_MS = 300_000  # a batch covers 5 minutes: a fix a minute from each wearer (the full run: 17 hours)
EXIT_MARGIN_M, ENTER_MARGIN_M, EXIT_AFTER = 50.0, 20.0, 3
TARGET = 2_000_000
BASELINE_BATCHES = 2
BATCH_NAIVE = BASELINE_BATCHES * BATCH  # fixes the per-fix baseline evaluates (and must agree on)


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    """One JSON line of the result."""
    record = {
        "bench": "geofence",
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": round(value / baseline, 1) if baseline else None,
        "target": TARGET if metric == "fixes_per_s" else None,
    }
    print(json.dumps(record | extra), flush=True)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    """(lon, lat) a few metres east and north of a point."""
    return lon + east_m / float(east_scale(lat)), lat + north_m / M_PER_DEG


def zone_at(rng: np.random.Generator, lat: float, lon: float) -> tuple[Zone, float]:
    """A circle or a concave polygon around a point, and its rough radius in metres."""
    size = float(rng.uniform(150, 800))
    if rng.random() < 0.5:
        return CircleZone(lat, lon, size), size
    vertices = int(rng.integers(8, 41))
    angles = (np.arange(vertices) + rng.uniform(0, 0.4, vertices)) * 2 * math.pi / vertices
    radii = size * rng.uniform(0.5, 1.0, vertices)
    ring = [offset(lat, lon, r * math.cos(a), r * math.sin(a)) for a, r in zip(angles, radii, strict=True)]
    return PolygonZone((*ring, ring[0])), size


def city(rng: np.random.Generator) -> tuple[list[list[Zone]], np.ndarray, list[Route]]:
    """Every wearer's zones, their home and size (lat, lon, m), and every tanker's route."""
    hours = [(), (DailyWindow.parse("08:00-20:00"),), (DailyWindow.parse("22:00-06:00"),)]
    zones: list[list[Zone]] = []
    homes = np.empty((WEARERS, 3))
    for w in range(WEARERS):
        lat, lon = LAT + rng.uniform(-SPREAD_DEG, SPREAD_DEG), LON + rng.uniform(-SPREAD_DEG, SPREAD_DEG)
        home, size = zone_at(rng, lat, lon)
        own = [home]
        for _ in range(int(rng.integers(0, 3))):
            east, north = rng.uniform(-3_000, 3_000, 2)
            there, _ = zone_at(rng, *offset(lat, lon, east, north)[::-1])
            own.append(type(there)(**{**_fields(there), "hours": hours[int(rng.integers(0, 3))]}))
        zones.append(own)
        homes[w] = lat, lon, size
    routes = []
    for _ in range(ROUTES):
        points = int(rng.integers(50, 501))
        heading = np.cumsum(rng.normal(0, 0.3, points))
        step = rng.uniform(80, 300, points)
        east, north = np.cumsum(step * np.cos(heading)), np.cumsum(step * np.sin(heading))
        lat, lon = LAT + rng.uniform(-SPREAD_DEG, SPREAD_DEG), LON + rng.uniform(-SPREAD_DEG, SPREAD_DEG)
        routes.append(Route(tuple(offset(lat, lon, e, n) for e, n in zip(east, north, strict=True))))
    return zones, homes, routes


def _fields(zone: Zone) -> dict[str, Any]:
    if isinstance(zone, CircleZone):
        return {"lat": zone.lat, "lon": zone.lon, "radius_m": zone.radius_m}
    return {"ring": zone.ring}


def batches(rng: np.random.Generator, homes: np.ndarray, routes: list[Route]) -> Any:
    """Batches of (wearer fixes, vehicle fixes), each a tuple of subject, ts_ms, lat, lon arrays.

    Wearers drift about home (pulled back towards it) and now and then wander off in a straight
    line for a while; vehicles move along their route with GPS noise and now and then take a
    detour of 300-800 m for a while. Each batch moves everyone once, then reads their fixes.
    """
    polylines = [np.asarray(r.points) for r in routes]
    half = BATCH // 2
    size = homes[:, 2]
    position = np.zeros((WEARERS, 2))  # metres east and north of home
    heading = rng.uniform(0, 2 * math.pi, WEARERS)
    wandering = np.zeros(WEARERS, dtype=bool)
    progress = np.array([rng.uniform(0, len(p) - 1) for p in polylines])  # in segments along the route
    detour = np.zeros(ROUTES)
    for i in range(FIXES // BATCH):
        wandering = np.where(wandering, rng.random(WEARERS) > 0.05, rng.random(WEARERS) < 0.002)
        step = 150 * np.c_[np.cos(heading), np.sin(heading)]
        position = np.where(wandering[:, None], position + step, 0.9 * position)
        position += rng.normal(0, 1, (WEARERS, 2)) * (0.2 * size)[:, None]
        ts = START_MS + i * SPAN_MS + np.sort(rng.integers(0, SPAN_MS, half))
        wearer = rng.integers(0, WEARERS, half)
        east, north = (position[wearer] + rng.normal(0, 15, (half, 2))).T  # GPS noise
        lat0, lon0 = homes[wearer, 0], homes[wearer, 1]
        wlat, wlon = lat0 + north / M_PER_DEG, lon0 + east / east_scale(lat0)

        progress += rng.uniform(0.2, 1.0, ROUTES)
        detour = np.where(detour > 0, detour * (rng.random(ROUTES) > 0.1), 0.0)
        detour = np.where((detour == 0) & (rng.random(ROUTES) < 0.003), rng.uniform(300, 800, ROUTES), detour)
        vehicle = rng.integers(0, ROUTES, half)
        vlat, vlon = np.empty(half), np.empty(half)
        for v in np.unique(vehicle):
            rows = np.flatnonzero(vehicle == v)
            line = polylines[v]
            along = (progress[v] + rng.uniform(0, 0.3, len(rows))) % (len(line) - 1)
            seg = along.astype(np.int64)
            at = line[seg] + (along - seg)[:, None] * (line[seg + 1] - line[seg])
            vlon[rows], vlat[rows] = at[:, 0], at[:, 1]
        off = detour[vehicle] + rng.normal(0, 15, half)
        vlat += off * np.sin(heading[vehicle]) / M_PER_DEG
        vlon += off * np.cos(heading[vehicle]) / east_scale(vlat)
        yield (wearer, ts, wlat, wlon), (vehicle, ts, vlat, vlon)


class PerFix:
    """The baseline: each fix alone, shapely for the geometry, the same hysteresis in plain Python."""

    def __init__(
        self, zones: SafeZones, index: RouteIndex, rings: list[list[Zone]], routes: list[Route]
    ) -> None:
        self.zones, self.index = zones, index
        self.plans: list[list[tuple[int, Any, tuple[DailyWindow, ...]]]] = []
        k = 0
        for own in rings:
            plan = []
            for zone in own:
                shape = (
                    None
                    if isinstance(zone, CircleZone)
                    else shapely.Polygon([self._to(zones, k, lon, lat) for lon, lat in zone.ring])
                )
                plan.append((k, shape, zone.hours))
                k += 1
            self.plans.append(plan)
        self.lines = [
            shapely.LineString([self._to(index, r, lon, lat) for lon, lat in route.points])
            for r, route in enumerate(routes)
        ]
        self.state: dict[tuple[str, int], tuple[bool, int]] = {}

    @staticmethod
    def _to(frame: Any, k: int, lon: float, lat: float) -> tuple[float, float]:
        return (lon - frame.lon0[k]) * frame.kx[k], (lat - frame.lat0[k]) * M_PER_DEG

    def zone_value(self, subject: int, ts_ms: int, lat: float, lon: float) -> float | None:
        minute = (ts_ms // 60_000 + self.zones.utc_offset_min) % DAY_MIN
        best = None
        for k, shape, hours in self.plans[subject]:
            if hours and not any(w.covers(minute) for w in hours):
                continue
            point = shapely.Point(self._to(self.zones, k, lon, lat))
            if shape is None:
                value = point.distance(shapely.Point(0, 0)) - self.zones.radius_m[k]
            else:
                value = point.distance(shape.exterior) * (-1 if point.within(shape) else 1)
            best = value if best is None else min(best, value)
        return best

    def judge(self, key: tuple[str, int], value: float) -> bool | None:
        """The hysteresis for one fix: True on leaving, False on returning, None otherwise."""
        out, run = self.state.get(key, (False, 0))
        run = run + 1 if value > 0 else 0
        now = out
        if value > EXIT_MARGIN_M or run >= EXIT_AFTER:
            now = True
        elif value < -(ENTER_MARGIN_M if key[0] == "zone" else EXIT_MARGIN_M):
            now = False
        self.state[key] = (now, run)
        return now if now != out else None

    def zone_batch(self, subject: np.ndarray, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> list[Any]:
        found = []
        for i in np.lexsort((ts, subject)).tolist():
            value = self.zone_value(int(subject[i]), int(ts[i]), float(lat[i]), float(lon[i]))
            went = None if value is None else self.judge(("zone", int(subject[i])), value)
            if went is not None:
                found.append((int(subject[i]), i, went))
        return found

    def route_batch(self, vehicle: np.ndarray, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> list[Any]:
        found = []
        for i in np.lexsort((ts, vehicle)).tolist():
            v = int(vehicle[i])
            point = shapely.Point(self._to(self.index, v, float(lon[i]), float(lat[i])))
            went = self.judge(("route", v), point.distance(self.lines[v]) - self.index.off_route_m[v])
            if went is not None:
                found.append((v, i, went))
        return found


def listed(found: Transitions) -> list[Any]:
    """Transitions as (subject, fix, went out) tuples, the baseline's form."""
    return list(zip(found.subject.tolist(), found.fix.tolist(), found.went_out.tolist(), strict=True))


def main() -> None:
    rng = np.random.default_rng(20261206)
    say(f"city: {WEARERS:,} wearers, {ROUTES:,} routes; {FIXES:,} fixes in batches of {BATCH:,}")
    rings, homes, routes = city(rng)
    began = time.perf_counter()
    zones = SafeZones(rings)
    index = RouteIndex(routes)
    emit("compile_s", time.perf_counter() - began, "s", zones=sum(map(len, rings)), routes=ROUTES)
    zone_watch = SafeZoneWatch(
        zones, exit_margin_m=EXIT_MARGIN_M, enter_margin_m=ENTER_MARGIN_M, exit_after_fixes=EXIT_AFTER
    )
    route_watch = RouteWatch(
        index, ROUTES, exit_margin_m=EXIT_MARGIN_M, enter_margin_m=EXIT_MARGIN_M, exit_after_fixes=EXIT_AFTER
    )
    wall = np.zeros(2)  # seconds in the zone watch, in the route watch
    cpu = np.zeros(2)  # the same in this process's CPU time: the cores are shared, the wall clock is not ours
    found = np.zeros(2, dtype=np.int64)
    kept: list[Any] = []
    vectorised: list[Any] = [[], []]
    for n, (wearers, vehicles) in enumerate(batches(rng, homes, routes), 1):
        t0, c0 = time.perf_counter(), time.process_time()
        got = zone_watch.step(*wearers)
        t1, c1 = time.perf_counter(), time.process_time()
        off = route_watch.step(vehicles[0], vehicles[0], *vehicles[1:])  # vehicle n drives route n
        t2, c2 = time.perf_counter(), time.process_time()
        wall += t1 - t0, t2 - t1
        cpu += c1 - c0, c2 - c1
        found += len(got), len(off)
        if n <= BASELINE_BATCHES:
            kept.append((wearers, vehicles))
            vectorised[0].append(listed(got))
            vectorised[1].append(listed(off))
        if n % 20 == 0:
            say(
                f"{n * BATCH:,} fixes, {n * BATCH / wall.sum():,.0f}/s, {n * BATCH / cpu.sum():,.0f}/s of CPU"
            )
    say(f"baseline: per-fix shapely over the first {BATCH_NAIVE:,} fixes")
    naive = PerFix(zones, index, rings, routes)
    spent = np.zeros(2)
    agree = True
    for (wearers, vehicles), zone_got, route_got in zip(kept, *vectorised, strict=True):
        t0 = time.perf_counter()
        naive_zone = naive.zone_batch(*wearers)
        t1 = time.perf_counter()
        naive_route = naive.route_batch(*vehicles)
        spent += t1 - t0, time.perf_counter() - t1
        agree &= naive_zone == zone_got and naive_route == route_got
    say(f"baseline transitions {'agree' if agree else 'DIFFER'} with the vectorised ones")
    half = FIXES / 2
    emit(
        "fixes_per_s",
        FIXES / wall.sum(),
        "fixes/s",
        baseline=BATCH_NAIVE / spent.sum(),
        fixes=FIXES,
        cpu_fixes_per_s=round(FIXES / cpu.sum()),
        transitions=int(found.sum()),
        baseline_agrees=bool(agree),
    )
    for k, name, what in ((0, "zone_fixes_per_s", "exits_returns"), (1, "route_fixes_per_s", "off_on_route")):
        emit(
            name,
            half / wall[k],
            "fixes/s",
            baseline=BATCH_NAIVE / 2 / spent[k],
            cpu_fixes_per_s=round(half / cpu[k]),
            **{what: int(found[k])},
        )


if __name__ == "__main__":
    main()
