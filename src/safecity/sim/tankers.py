"""Tanker trips of the simulated city: hazmat shipments along planned routes on its roads, a JT/T 808
terminal each, planted deviations and their ground truth.

Each tanker carries one shipment from a depot to a consignee site along a route on the city's road
lattice (sim.route: out of the block, along a road, one turn, into the destination's block), at a
steady 30-55 km/h, a fix with its speed every `fix_every_s` simulated seconds. The first tankers
carry one planted episode each (`KINDS`, `plants` of each kind):

* `off_route`: leaves the route by 900 m for a while and comes back (hazmat_off_route);
* `long_stop`: stops 45 minutes mid-route, in no permitted place (hazmat_long_stop);
* `restricted`: drives into a small restricted zone (a school) placed beside its route, and out
  (hazmat_restricted_zone); the zone is placed where no other tanker's route passes;
* `window`: departs two hours before its departure window opens (hazmat_outside_window);
* `speeding`: drives the middle two thirds of its route at 95 km/h (hazmat_speeding);
* `silent`: its terminal falls silent halfway, and it is never delivered (hazmat_silent_terminal);
* `mismatch`: delivers 3 % less than it loaded (hazmat_quantity_mismatch).

`actions` say when each shipment departs and is delivered (and with what quantity): the demo and
the benchmark perform them through the shipments' use cases at those times. The off-route and
restricted-zone truth is read off the fixes emitted, with the packaged rules' margins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from safecity.sim.city import City
from safecity.sim.route import route_waypoints
from safecity.sim.terminals import Reading
from safecity.sim.tracked import FIX, Emission, Episode, Plane, Track, distance, heading
from safecity.sim.wanderers import area_at, community_boxes

KINDS = ("off_route", "long_stop", "restricted", "window", "speeding", "silent", "mismatch")
MAX_OFF_ROUTE_M, OFF_EXIT_M, OFF_ENTER_M = 500.0, 50.0, 50.0  # the packaged hazmat_off_route
SILENT_MIN, STOP_MIN, GRACE_MIN = 10, 30, 30  # packaged silence, longest stop, window grace
DETOUR_M, ZONE_OFFSET_M, ZONE_HALF_M = 900.0, 200.0, 60.0
ZONE_CLEAR_M = 150.0  # a restricted zone's centre this far from every route: only the planted enter
SPEEDING_KMH = 95.0
LOADED_T = 20.0
UN_NUMBER = "1203"  # petrol


@dataclass(frozen=True, slots=True)
class Tanker:
    """One tanker, its terminal and tracker, the shipment it carries and the episode planted."""

    n: int
    device_id: str
    phone: str  # JT/T 808 terminal phone number (12 digits)
    plate: str
    route: tuple[tuple[float, float], ...]  # (lon, lat), as GeoJSON has it
    origin: tuple[float, float]  # lat, lon: the consignor depot
    destination: tuple[float, float]  # lat, lon: the consignee site
    origin_area: str | None
    destination_area: str | None
    depart_from: datetime
    depart_until: datetime
    arrive_from: datetime
    arrive_until: datetime
    episode: str


@dataclass(frozen=True, slots=True)
class Action:
    """A use case to perform at `at`: `depart` or `deliver` (with `quantity_t`) tanker `n`'s shipment."""

    at: datetime
    n: int
    what: str
    quantity_t: float = 0.0


@dataclass(slots=True)
class TankerPlan:
    """The tankers of one span: who they are, what they send, what happens to their shipments."""

    tankers: list[Tanker]
    emissions: list[Emission]
    actions: list[Action]
    episodes: list[Episode]
    zones: list[tuple[str, list[tuple[float, float]]]]  # restricted: name, ring of (lon, lat)
    start: datetime
    end: datetime
    decoys: list[Episode] = field(default_factory=list)


def off_route_m(path: np.ndarray, x: float, y: float) -> float:
    """Metres from a point to a polyline (n, 2) of the plane."""
    a, b = path[:-1], path[1:]
    ab = b - a
    lengths = np.maximum((ab**2).sum(axis=1), 1e-9)
    u = np.clip(((x - a[:, 0]) * ab[:, 0] + (y - a[:, 1]) * ab[:, 1]) / lengths, 0, 1)
    px, py = a[:, 0] + u * ab[:, 0], a[:, 1] + u * ab[:, 1]
    return float(np.sqrt((px - x) ** 2 + (py - y) ** 2).min())


def _point_at(path: np.ndarray, s: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The point `s` metres along the polyline, and the unit normal (left) of its segment there."""
    seg = np.sqrt((np.diff(path, axis=0) ** 2).sum(axis=1))
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    i = int(np.clip(np.searchsorted(cum, s) - 1, 0, len(seg) - 1))
    while seg[i] == 0 and i < len(seg) - 1:
        i += 1
    d = (path[i + 1] - path[i]) / max(seg[i], 1e-9)
    p = path[i] + d * (s - cum[i])
    return (float(p[0]), float(p[1])), (float(-d[1]), float(d[0]))


def _routes(city: City, rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """`count` road routes (metres) of at least 1.5 km between mid-block spots of the city."""
    grid = city.grid
    m, unit = grid.minor_units, grid.unit_m
    cols, rows = grid.width_units // m, grid.height_units // m
    found: list[np.ndarray] = []
    while len(found) < count:
        o = rng.integers(1, [cols - 1, rows - 1], size=2)
        d = rng.integers(1, [cols - 1, rows - 1], size=2)
        ox, oy, dx, dy = (
            np.array([v], dtype=np.int64) for v in (o[0] * m, o[1] * m + m // 2, d[0] * m, d[1] * m + m // 2)
        )
        wx, wy = route_waypoints(ox, oy, dx, dy, rng.random(1) < 0.5, rng.random(1), grid)
        pts = np.stack([wx[0], wy[0]], axis=1).astype(np.float64) * unit
        keep = np.concatenate([[True], (np.abs(np.diff(pts, axis=0)).sum(axis=1) > 0)])
        pts = pts[keep]
        if len(pts) >= 2 and np.sqrt((np.diff(pts, axis=0) ** 2).sum(axis=1)).sum() >= 1500:
            found.append(pts)
    return found


def _side(
    plane: Plane, path: np.ndarray, p: tuple[float, float], normal: tuple[float, float], off: float
) -> tuple[float, float]:
    """The normal (either way) whose point `off` metres out is inside the city and farthest from the route."""
    best, score = normal, -1.0
    for sign in (1.0, -1.0):
        q = (p[0] + sign * off * normal[0], p[1] + sign * off * normal[1])
        inside = 60 < q[0] < plane.width_m - 60 and 60 < q[1] < plane.height_m - 60
        s = off_route_m(path, *q) if inside else -1.0
        if s > score:
            best, score = (sign * normal[0], sign * normal[1]), s
    return best


def plan_tankers(
    city: City,
    *,
    seed: int,
    start: datetime,
    hours: float,
    count: int,
    plants: int = 1,
    fix_every_s: float = 30.0,
    depart_at_h: float | None = None,
    salt: int = 0,
) -> TankerPlan:
    """`count` tanker trips within `hours` from `start`; `plants` of each episode kind (the first);
    each departing at a random time, or `depart_at_h` hours from the start (a short test's span).
    The routes depend on `seed` alone; speeds and times on `salt` too (the demo's next plan)."""
    plane = Plane(city.grid)
    boxes = community_boxes(city)
    rng = np.random.default_rng([seed, 4200])
    paths = _routes(city, rng, count)
    out = TankerPlan([], [], [], [], [], start, start + timedelta(hours=hours))
    for n in range(len(paths)):
        r = np.random.default_rng([seed, 4201, n, salt])
        kind = KINDS[n % len(KINDS)] if n < plants * len(KINDS) else ""
        zone_at = _zone_room(paths, n) if kind == "restricted" else None
        if kind == "restricted" and zone_at is None:
            kind = ""  # no room beside this route: it drives plainly
        _trip(out, plane, boxes, paths, n, kind, r, hours, fix_every_s, zone_at or 0.0, depart_at_h)
    out.emissions.sort(key=lambda e: (e.ts, e.terminal))
    out.actions.sort(key=lambda a: (a.at, a.n))
    return out


def _zone_room(paths: list[np.ndarray], n: int) -> float | None:
    """Where along route n a zone beside it is clear of every route (its own too), or None."""
    length = float(np.sqrt((np.diff(paths[n], axis=0) ** 2).sum(axis=1)).sum())
    for share in np.linspace(0.2, 0.8, 13):
        p, normal = _point_at(paths[n], share * length)
        for sign in (1.0, -1.0):
            c = (p[0] + sign * ZONE_OFFSET_M * normal[0], p[1] + sign * ZONE_OFFSET_M * normal[1])
            if all(off_route_m(q, *c) > ZONE_CLEAR_M for q in paths):
                return float(share * length)
    return None


def _trip(
    out: TankerPlan,
    plane: Plane,
    boxes: list[tuple[str, float, float, float, float]],
    paths: list[np.ndarray],
    n: int,
    kind: str,
    r: np.random.Generator,
    hours: float,
    fix_every_s: float,
    zone_at: float,
    depart_at_h: float | None,
) -> None:
    """One tanker's trip: its keyframes, its episode spliced in, its fixes, actions and truth."""
    path = paths[n]
    speed = float(r.uniform(30, 55)) / 3.6
    length = float(np.sqrt((np.diff(path, axis=0) ** 2).sum(axis=1)).sum())
    begin = float(r.uniform(0.1 * 3600, max(0.2 * 3600, hours * 3600 - length / speed - 3 * 3600)))
    if depart_at_h is not None:
        begin = depart_at_h * 3600
    track, zone_ring = Track(), None
    track.add(begin, (float(path[0][0]), float(path[0][1])))
    t, along = begin, 0.0
    stops: list[tuple[float, tuple[float, float]]] = []  # where the plan leaves the route
    if kind in ("off_route", "restricted", "long_stop", "speeding"):
        at = {"restricted": zone_at, "speeding": length / 6}.get(kind, length / 3)
        if kind == "long_stop":  # nowhere near a depot, where stopping is permitted
            at = max(
                np.linspace(0.2, 0.8, 13) * length,
                key=lambda s: min(
                    distance(_point_at(path, float(s))[0], (float(q[0][0]), float(q[0][1]))) for q in paths
                ),
            )
        if kind == "off_route":
            at = max(
                np.linspace(0.1, 0.7, 13) * length, key=lambda s: _detour_reach(plane, path, float(s), length)
            )
        stops.append((at, _point_at(path, at)[0]))
        if kind == "speeding":
            stops.append((5 * length / 6, _point_at(path, 5 * length / 6)[0]))
    cum = np.concatenate([[0.0], np.cumsum(np.sqrt((np.diff(path, axis=0) ** 2).sum(axis=1)))])
    marks = sorted(
        [(float(c), (float(v[0]), float(v[1])), False) for c, v in zip(cum[1:], path[1:], strict=True)]
        + [(s, p, True) for s, p in stops]
    )
    fast = False
    for s, p, event in marks:
        t = track.walk(t, p, SPEEDING_KMH / 3.6 if fast else speed)
        along = s
        if not event:
            continue
        if kind == "long_stop":
            t += 45 * 60
            track.add(t, p)
        elif kind == "speeding":
            fast = not fast
        elif kind == "off_route":
            for q in (*_detour(plane, path, along, length), p):
                t = track.walk(t, q, speed)
        elif kind == "restricted":
            normal = _point_at(path, along)[1]
            c = (p[0] + ZONE_OFFSET_M * normal[0], p[1] + ZONE_OFFSET_M * normal[1])
            if off_route_m(path, *c) <= ZONE_CLEAR_M:  # the clear side is the other one
                c = (p[0] - ZONE_OFFSET_M * normal[0], p[1] - ZONE_OFFSET_M * normal[1])
            h = ZONE_HALF_M
            zone_ring = [
                (plane.lon(c[0] + dx), plane.lat(c[1] + dy))
                for dx, dy in ((-h, -h), (h, -h), (h, h), (-h, h), (-h, -h))
            ]
            t = track.walk(t, c, speed / 2) + 180  # three minutes at the school gate
            track.add(t, c)
            t = track.walk(t, p, speed / 2)
    end_t = t
    ts0 = out.start + timedelta(seconds=round(begin))
    ts1 = out.start + timedelta(seconds=round(end_t))
    early = timedelta(hours=2) if kind == "window" else timedelta(0)
    origin, dest = path[0], path[-1]
    lon_lat = tuple((round(float(plane.lon(x)), 6), round(float(plane.lat(y)), 6)) for x, y in path)
    tanker = Tanker(
        n=n,
        device_id=f"TRK-T-{n:03d}",
        phone=f"0139{n:08d}",
        plate=f"浙C{n:05d}",
        route=lon_lat,
        origin=(float(plane.lat(origin[1])), float(plane.lon(origin[0]))),
        destination=(float(plane.lat(dest[1])), float(plane.lon(dest[0]))),
        origin_area=area_at(boxes, *origin),
        destination_area=area_at(boxes, *dest),
        depart_from=ts0 + early - timedelta(minutes=20),
        depart_until=ts0 + early + timedelta(minutes=40),
        arrive_from=ts0 + early,
        arrive_until=ts1 + early + timedelta(minutes=60),
        episode=kind,
    )
    out.tankers.append(tanker)
    if zone_ring is not None:
        out.zones.append((f"学校 {n}", zone_ring))
    _fixes(out, plane, tanker, track, path, begin, end_t, fix_every_s, zone_ring)


def _detour(plane: Plane, path: np.ndarray, along: float, length: float) -> tuple[tuple[float, float], ...]:
    """Two points `DETOUR_M` off the route (the side with room), from `along` and 600 m on."""
    p, normal = _point_at(path, along)
    side = _side(plane, path, p, normal, DETOUR_M)
    ahead = _point_at(path, min(length, along + 600))[0]
    return tuple(_clamp(plane, (q[0] + DETOUR_M * side[0], q[1] + DETOUR_M * side[1])) for q in (p, ahead))


def _detour_reach(plane: Plane, path: np.ndarray, along: float, length: float) -> float:
    """How far off the route a detour from `along` gets (the city's edge may cut it short)."""
    return min(off_route_m(path, *q) for q in _detour(plane, path, along, length))


def _clamp(plane: Plane, q: tuple[float, float]) -> tuple[float, float]:
    return (min(max(q[0], 60.0), plane.width_m - 60), min(max(q[1], 60.0), plane.height_m - 60))


def _fixes(
    out: TankerPlan,
    plane: Plane,
    tanker: Tanker,
    track: Track,
    path: np.ndarray,
    begin: float,
    end_t: float,
    fix_every_s: float,
    zone_ring: list[tuple[float, float]] | None,
) -> None:
    """The tanker's fixes along its track, its actions, and the truth read off the fixes."""
    kind, ref = tanker.episode, (f"device:{tanker.device_id}",)
    silent_at = (begin + end_t) / 2 if kind == "silent" else math.inf
    off_since: datetime | None = None
    inside: list[datetime] = []
    stopped: list[datetime] = []
    speeding: list[datetime] = []
    t, last = begin, None
    xs = None if zone_ring is None else [plane.xy(lat, lon) for lon, lat in zone_ring]
    while t <= end_t + 0.5 and t < silent_at:
        x, y = track.at(t)
        nxt = track.at(min(t + 1, end_t + 1))
        v = distance((x, y), nxt) * 3.6
        ts = out.start + timedelta(seconds=round(t))
        reading = Reading(
            ts=ts, lat=plane.lat(y), lon=plane.lon(x), speed_kmh=round(v, 1), course=heading((x, y), nxt)
        )
        out.emissions.append(Emission(tanker.phone, FIX, reading))
        off = off_route_m(path, x, y)
        if off_since is None and off > MAX_OFF_ROUTE_M + OFF_EXIT_M:
            off_since = ts
        elif off_since is not None and off < MAX_OFF_ROUTE_M - OFF_ENTER_M:
            out.episodes.append(Episode("hazmat_off_route", ref, off_since, ts, kind))
            off_since = None
        if (
            xs is not None
            and min(xs)[0] < x < max(xs)[0]
            and min(p[1] for p in xs) < y < max(p[1] for p in xs)
        ):
            inside.append(ts)
        if v <= 3:
            stopped.append(ts)
        if v > 80:
            speeding.append(ts)
        last = ts
        t += fix_every_s
    ts0, ts1 = out.start + timedelta(seconds=round(begin)), last or out.start
    out.actions.append(Action(ts0, tanker.n, "depart"))
    if kind != "silent":
        delivered = LOADED_T * (0.97 if kind == "mismatch" else 1.0)
        out.actions.append(Action(ts1, tanker.n, "deliver", delivered))
    if kind == "off_route" and off_since is not None:
        out.episodes.append(Episode("hazmat_off_route", ref, off_since, ts1, kind))
    if kind == "restricted" and inside:
        out.episodes.append(Episode("hazmat_restricted_zone", ref, inside[0], inside[-1], kind))
    stopped = [s for s in stopped if s not in (ts0, ts1)]  # standing at the ends is no stop
    if kind == "long_stop" and stopped:
        due = stopped[0] + timedelta(minutes=STOP_MIN)
        out.episodes.append(Episode("hazmat_long_stop", ref, due, stopped[-1], kind))
    if kind == "speeding" and speeding:
        out.episodes.append(Episode("hazmat_speeding", ref, speeding[0], speeding[-1], kind))
    if kind == "window":
        out.episodes.append(Episode("hazmat_outside_window", ref, ts0, ts1, kind))
    # Due SILENT_MIN after the last fix, which is the warning's evidence: the episode starts there.
    if kind == "silent" and last is not None and last + timedelta(minutes=SILENT_MIN) < out.end:
        out.episodes.append(Episode("hazmat_silent_terminal", ref, last, out.end, kind))
    if kind == "mismatch":
        out.episodes.append(Episode("hazmat_quantity_mismatch", ref, ts1, out.end, kind))


__all__ = ["KINDS", "LOADED_T", "UN_NUMBER", "Action", "Tanker", "TankerPlan", "off_route_m", "plan_tankers"]
