"""Safe zones per wearer: circles and polygons in force at times of day, judged over batches of fixes.

A wearer's fix is inside when it lies in any of the wearer's zones in force at that local time of
day. The answer is a signed distance in metres (negative inside, by how much; positive outside),
which the hysteresis needs to tell a fix jittering on the edge from a real departure. Circles are
measured from their centre; polygons by a vectorised even-odd crossing test and the distance to
their nearest edge, in each zone's own local plane (`plane`). A polygon's bounding box, widened by
`exact_within_m`, keeps most fixes away from the per-edge work: beyond it the distance to the box is
returned, a lower bound of the true one. Inside the box, a 16 x 16 raster per polygon, classified
when the zones are compiled, answers for cells lying wholly more than `exact_within_m` inside or
outside (the distance is then given as that many metres, a bound); only fixes in cells near an
edge take the per-edge pass. The distance is therefore exact whenever it is within
`exact_within_m` of the edge, and otherwise at least that, on the right side: all the hysteresis
needs, as long as its margins are smaller. With several zones the wearer's distance is the smallest
(exact outside all zones; inside, the depth in the deepest zone, a lower bound of the depth in their
union). Polygons are validated with shapely; the hot path is NumPy only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.validation import explain_validity

from safecity.tracking.errors import InvalidGeometry
from safecity.tracking.hysteresis import Hysteresis, Transitions, by_subject_then_time
from safecity.tracking.plane import (
    M_PER_DEG,
    Floats,
    east_scale,
    expand,
    group_min,
    inverse_length2,
    segment_distance2,
)

DAY_MIN = 24 * 60
CHINA_UTC_OFFSET_MIN = 8 * 60  # China Standard Time all year: no daylight saving, a fixed offset is exact
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_EDGE_BUCKET = 8  # polygons are padded to a multiple of 8 edges, so one NumPy pass serves a bucket
_RASTER = 16  # cells per side of a polygon's box (32 was no faster and took 4x as long to compile)
_DEEP_IN, _EDGE, _FAR_OUT = -1, 0, 1
_PAIRS_PER_CHUNK = 8_192  # (fix, polygon) pairs per pass: bounds the (pairs x edges) temporaries

Ints = NDArray[np.int64]


def _minute(text: str, *, field_name: str) -> int:
    if not _CLOCK.match(text):
        raise InvalidGeometry(f"{text!r} is not a time of day HH:MM (00:00-24:00)", field=field_name)
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """Local minutes of the day [start, end) a zone applies; an end at or before the start passes midnight."""

    start_min: int
    end_min: int

    @classmethod
    def parse(cls, text: str, *, field_name: str = "hours") -> DailyWindow:
        """Read "08:00-20:00" (or "22:00-06:00", across midnight; "00:00-24:00" is all day)."""
        parts = text.split("-")
        if len(parts) != 2:
            raise InvalidGeometry(f"{text!r} is not a window HH:MM-HH:MM", field=field_name)
        start, end = (_minute(p.strip(), field_name=field_name) for p in parts)
        if start == DAY_MIN:
            raise InvalidGeometry("a window cannot start at 24:00", field=field_name)
        return cls(start, end)

    def covers(self, minute: int) -> bool:
        """Whether the window holds a local minute of the day."""
        if self.end_min > self.start_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min

    def minutes(self) -> NDArray[np.bool_]:
        """The window as a mask over the 1,440 minutes of a day."""
        mask = np.zeros(DAY_MIN, dtype=bool)
        if self.end_min > self.start_min:
            mask[self.start_min : self.end_min] = True
        else:  # across midnight: the evening part and the morning part
            mask[self.start_min :] = True
            mask[: self.end_min] = True
        return mask


def _check_point(lon: float, lat: float, *, field_name: str) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidGeometry(f"({lon}, {lat}) is not a longitude/latitude on the globe", field=field_name)


@dataclass(frozen=True, slots=True)
class CircleZone:
    """A circle of `radius_m` around a centre, in force during `hours` (always when empty)."""

    lat: float
    lon: float
    radius_m: float
    hours: tuple[DailyWindow, ...] = ()

    def __post_init__(self) -> None:
        _check_point(self.lon, self.lat, field_name="centre")
        if not (math.isfinite(self.radius_m) and self.radius_m > 0):
            raise InvalidGeometry(
                f"a circle's radius must be positive, got {self.radius_m}", field="radius_m"
            )


@dataclass(frozen=True, slots=True)
class PolygonZone:
    """A polygon given as a closed ring of (lon, lat) points, in force during `hours` (always when empty)."""

    ring: tuple[tuple[float, float], ...]
    hours: tuple[DailyWindow, ...] = ()

    def __post_init__(self) -> None:
        validate_ring(self.ring)


def validate_ring(ring: Sequence[tuple[float, float]]) -> None:
    """Refuse a ring that is not closed, has fewer than 3 distinct points or crosses itself."""
    for n, (lon, lat) in enumerate(ring):
        _check_point(lon, lat, field_name=f"ring[{n}]")
    if len(ring) < 2 or tuple(ring[0]) != tuple(ring[-1]):
        raise InvalidGeometry("the ring is not closed: its last point must repeat its first", field="ring")
    if len(set(map(tuple, ring[:-1]))) < 3:
        raise InvalidGeometry("a polygon needs at least 3 distinct points", field="ring")
    lons = [p[0] for p in ring]
    if max(lons) - min(lons) > 180:
        raise InvalidGeometry("zones across the antimeridian (longitude 180) are not supported", field="ring")
    polygon = shapely.Polygon(ring)
    if not polygon.is_valid:
        # explain_validity names the fault and where: "Self-intersection[120.1 28.0]"
        raise InvalidGeometry(f"the polygon is not valid: {explain_validity(polygon)}", field="ring")
    if polygon.area == 0:
        raise InvalidGeometry("the polygon has no area (its points are in a line)", field="ring")


Zone = CircleZone | PolygonZone


@dataclass(frozen=True, slots=True)
class ZoneDistances:
    """Per fix: the signed distance in metres to the subject's zones in force (negative inside)."""

    distance_m: Floats  # +inf where no zone is in force
    watched: NDArray[np.bool_]  # some zone of the subject was in force at the fix's time

    @property
    def inside(self) -> NDArray[np.bool_]:
        """Inside some zone in force (a fix on an edge counts as outside)."""
        return self.distance_m < 0


@dataclass(slots=True)
class _Polygons:
    """Polygons of one edge-count bucket, padded with zero-length edges at their last vertex.

    `edges[polygon]` holds six rows of `edges_per_polygon` values: x1, y1, dx, dy, 1/|d|^2 and
    dx/dy (where the edge crosses a horizontal line, relative to its start; 0 for a flat edge),
    one block per polygon so a batch gathers its polygons in one pass over memory.
    """

    edges: Floats
    zones: list[int] = field(default_factory=list)


class SafeZones:
    """Every subject's zones compiled into flat arrays; subjects are numbered 0..n-1 by the caller."""

    def __init__(
        self,
        zones_by_subject: Sequence[Sequence[Zone]],
        *,
        utc_offset_min: int = CHINA_UTC_OFFSET_MIN,
        exact_within_m: float = 100.0,
    ) -> None:
        if not (math.isfinite(exact_within_m) and exact_within_m > 0):
            raise ValueError(f"exact_within_m must be a positive distance, got {exact_within_m}")
        zones = [z for subject in zones_by_subject for z in subject]
        counts = np.array([len(s) for s in zones_by_subject], dtype=np.int64)
        self.subjects = len(zones_by_subject)
        self.zone_start = np.r_[0, np.cumsum(counts)][:-1].astype(np.int64)
        self.zone_count = counts
        self.utc_offset_min = utc_offset_min
        self.exact_within_m = exact_within_m
        n = len(zones)
        self.is_polygon = np.array([isinstance(z, PolygonZone) for z in zones], dtype=bool)
        self.lat0 = np.zeros(n)
        self.lon0 = np.zeros(n)
        self.radius_m = np.zeros(n)
        self.box = np.zeros((4, n))  # xmin, xmax, ymin, ymax in the zone's plane
        self.slot = np.zeros(n, dtype=np.int64)  # row in its edge bucket
        self.bucket = np.zeros(n, dtype=np.int64)
        hours = np.ones((n, DAY_MIN), dtype=bool)
        rings: dict[int, list[tuple[int, Floats, Floats]]] = {}
        for k, zone in enumerate(zones):
            if zone.hours:
                hours[k] = np.logical_or.reduce([w.minutes() for w in zone.hours])
            if isinstance(zone, CircleZone):
                self.lat0[k], self.lon0[k], self.radius_m[k] = zone.lat, zone.lon, zone.radius_m
                continue
            ring = np.asarray(zone.ring, dtype=np.float64)
            self.lon0[k], self.lat0[k] = ring[:-1].mean(axis=0)
            x = (ring[:, 0] - self.lon0[k]) * east_scale(self.lat0[k])
            y = (ring[:, 1] - self.lat0[k]) * M_PER_DEG
            self.box[:, k] = x.min(), x.max(), y.min(), y.max()
            edges = -(-(len(ring) - 1) // _EDGE_BUCKET) * _EDGE_BUCKET
            rings.setdefault(edges, []).append((k, x, y))
        # A bit per minute (180 bytes a zone, not 1,440): looked up per fix, it stays in the cache.
        self.hours = np.packbits(hours, axis=1)
        self.kx = np.asarray(east_scale(self.lat0))
        self.buckets = [self._bucket(edges, members, b) for b, (edges, members) in enumerate(rings.items())]
        self.raster = np.zeros((n, _RASTER, _RASTER), dtype=np.int8)
        for polygons in self.buckets:
            self._classify(polygons)

    def _classify(self, polygons: _Polygons) -> None:
        """Mark the raster cells of a bucket's polygons that lie wholly far inside or far outside."""
        zone = np.asarray(polygons.zones, dtype=np.int64)
        xmin, xmax, ymin, ymax = self.box[:, zone]
        step_x, step_y = (xmax - xmin) / _RASTER, (ymax - ymin) / _RASTER
        centre = np.arange(_RASTER) + 0.5
        cx = xmin[:, None, None] + step_x[:, None, None] * centre[None, None, :]
        cy = ymin[:, None, None] + step_y[:, None, None] * centre[None, :, None]
        cx, cy = np.broadcast_arrays(cx, cy)
        slot = np.repeat(self.slot[zone], _RASTER * _RASTER)
        signed = np.concatenate(
            [
                _edge_pass(
                    polygons,
                    slot[i : i + _PAIRS_PER_CHUNK],
                    *(a.ravel()[i : i + _PAIRS_PER_CHUNK] for a in (cx, cy)),
                )
                for i in range(0, len(slot), _PAIRS_PER_CHUNK)
            ]
        ).reshape(len(zone), _RASTER, _RASTER)
        # A point of the cell is at most half its diagonal from the centre: the class holds for all.
        sure = self.exact_within_m + np.hypot(step_x, step_y)[:, None, None] / 2
        self.raster[zone] = np.where(signed < -sure, _DEEP_IN, np.where(signed > sure, _FAR_OUT, _EDGE))

    def _bucket(self, edges: int, members: list[tuple[int, Floats, Floats]], b: int) -> _Polygons:
        x1 = np.empty((len(members), edges))
        y1 = np.empty((len(members), edges))
        x2 = np.empty((len(members), edges))
        y2 = np.empty((len(members), edges))
        for row, (k, x, y) in enumerate(members):
            used = len(x) - 1
            x1[row, :used], y1[row, :used] = x[:-1], y[:-1]
            x2[row, :used], y2[row, :used] = x[1:], y[1:]
            x1[row, used:] = x2[row, used:] = x[-1]  # padding: a zero-length edge on a real vertex
            y1[row, used:] = y2[row, used:] = y[-1]
            self.slot[k], self.bucket[k] = row, b
        dx, dy = x2 - x1, y2 - y1
        dx_per_dy = np.zeros_like(dx)
        np.divide(dx, dy, out=dx_per_dy, where=dy != 0)
        edges_table = np.stack([x1, y1, dx, dy, inverse_length2(dx, dy), dx_per_dy], axis=1)
        return _Polygons(edges_table, [k for k, _, _ in members])

    def local_minute(self, ts_ms: Ints) -> Ints:
        """Minute of the local day (0-1439) of UTC epoch milliseconds."""
        return (ts_ms // 60_000 + self.utc_offset_min) % DAY_MIN

    def in_force(self, zone: Ints, minute: Ints) -> NDArray[np.bool_]:
        """Whether each zone (by compiled index) applies at each local minute of the day."""
        return (self.hours[zone, minute >> 3] >> (7 - (minute & 7))) & 1 == 1

    def distances(self, subject: Ints, ts_ms: Ints, lat: Floats, lon: Floats) -> ZoneDistances:
        """Signed distance of each fix to its subject's zones in force at the fix's local time."""
        fix, offset = expand(self.zone_count[subject])
        zone = self.zone_start[subject][fix] + offset
        in_force = self.in_force(zone, self.local_minute(ts_ms)[fix])
        fix, zone = fix[in_force], zone[in_force]
        x = (lon[fix] - self.lon0[zone]) * self.kx[zone]
        y = (lat[fix] - self.lat0[zone]) * M_PER_DEG
        signed = np.hypot(x, y) - self.radius_m[zone]
        polygon = np.flatnonzero(self.is_polygon[zone])
        if len(polygon):
            signed[polygon] = self._polygon_distance(zone[polygon], x[polygon], y[polygon])
        best = group_min(signed, fix, len(subject))
        return ZoneDistances(best, np.isfinite(best))

    def _polygon_distance(self, zone: Ints, x: Floats, y: Floats) -> Floats:
        """Signed distance to polygons: exact near their edges, a bound (box, raster) further away."""
        xmin, xmax, ymin, ymax = self.box[:, zone]
        out_x = np.maximum(np.maximum(xmin - x, x - xmax), 0.0)
        out_y = np.maximum(np.maximum(ymin - y, y - ymax), 0.0)
        signed = np.hypot(out_x, out_y)
        col = np.clip(((x - xmin) * _RASTER / (xmax - xmin)).astype(np.int64), 0, _RASTER - 1)
        row = np.clip(((y - ymin) * _RASTER / (ymax - ymin)).astype(np.int64), 0, _RASTER - 1)
        known = np.where(signed > 0, _EDGE, self.raster[zone, row, col])  # the raster covers the box only
        signed = np.where(known == _EDGE, signed, known.astype(np.float64) * self.exact_within_m)
        near = (known == _EDGE) & (signed <= self.exact_within_m)
        bucket = self.bucket[zone]
        for b, polygons in enumerate(self.buckets):
            rows = np.flatnonzero(near & (bucket == b))
            for begin in range(0, len(rows), _PAIRS_PER_CHUNK):
                part = rows[begin : begin + _PAIRS_PER_CHUNK]
                signed[part] = _edge_pass(polygons, self.slot[zone[part]], x[part], y[part])
        return signed


def _edge_pass(polygons: _Polygons, slot: Ints, px: Floats, py: Floats) -> Floats:
    """Even-odd crossing test and nearest-edge distance of points against their polygons' edges."""
    x1, y1, dx, dy, inv_len2, dx_per_dy = polygons.edges[slot].transpose(1, 0, 2)
    ux = px[:, None] - x1
    uy = py[:, None] - y1
    distance = np.sqrt(segment_distance2(ux, uy, dx, dy, inv_len2).min(axis=1))
    # An edge crosses the horizontal through the point when its ends lie on either side of it
    # (half-open, so a vertex on the line counts once); it counts if the crossing is to the right.
    spans = (uy < 0) != (uy < dy)
    crossings = np.count_nonzero(spans & (ux < uy * dx_per_dy), axis=1)
    return np.where(crossings % 2 == 1, -distance, distance)


class SafeZoneWatch:
    """Safe zones with hysteresis: one exit when a wearer leaves, one return when they come back."""

    def __init__(
        self,
        zones: SafeZones,
        *,
        exit_margin_m: float = 50.0,
        enter_margin_m: float = 20.0,
        exit_after_fixes: int | None = 3,
    ) -> None:
        if max(exit_margin_m, enter_margin_m) >= zones.exact_within_m:
            raise ValueError("hysteresis margins must be smaller than the zones' exact_within_m")
        self.zones = zones
        self.hysteresis = Hysteresis(
            zones.subjects,
            exit_margin_m=exit_margin_m,
            enter_margin_m=enter_margin_m,
            exit_after_fixes=exit_after_fixes,
        )

    def step(self, subject: Ints, ts_ms: Ints, lat: Floats, lon: Floats) -> Transitions:
        """Judge a batch of fixes: the exits and returns it causes (fixes with no zone in force skip)."""
        # Sorted by wearer, a batch reads each wearer's zones from one place in memory (and the
        # hysteresis finds it sorted already): a third faster than in arrival order.
        order = by_subject_then_time(subject, ts_ms)
        subject, ts_ms = subject[order], ts_ms[order]
        found = self.zones.distances(subject, ts_ms, lat[order], lon[order])
        return self.hysteresis.step(subject, ts_ms, found.distance_m, found.watched).renumbered(order)
