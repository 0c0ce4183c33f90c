"""Route deviation: how far each fix is from its planned route, and when a vehicle goes off it.

A route is a polyline of (lon, lat) points in its own local plane (`plane`). The distance of a
fix is to the nearest segment. A grid per route keeps long routes fast: each cell lists the
segments whose bounding box, widened by `reach_m`, touches it, so any segment within `reach_m`
of a point in the cell is listed. A fix whose nearest listed segment is within `reach_m` has its
exact distance from that short list; the rest (off the grid, or further than `reach_m`: already
well off route) are measured against every segment of their route, exact but slow for long
routes, or, where only "further than `reach_m`" matters (`exact=False`, as the off-route watch
asks), reported as `reach_m`, a lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

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

Ints = NDArray[np.int64]

_MAX_CELLS_SIDE = 64  # a route's grid has at most 64 x 64 cells: long routes get coarser cells
_PAIRS_PER_CHUNK = 1_000_000  # (fix, segment) pairs per pass of the exhaustive fallback


@dataclass(frozen=True, slots=True)
class Route:
    """A planned route: at least two distinct (lon, lat) points; off route beyond `off_route_m`."""

    points: tuple[tuple[float, float], ...]
    off_route_m: float = 200.0

    def __post_init__(self) -> None:
        for n, (lon, lat) in enumerate(self.points):
            if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
                raise InvalidGeometry(
                    f"({lon}, {lat}) is not a longitude/latitude on the globe", field=f"points[{n}]"
                )
        if len(set(self.points)) < 2:
            raise InvalidGeometry("a route needs at least 2 distinct points", field="points")
        lons = [p[0] for p in self.points]
        if max(lons) - min(lons) > 180:
            raise InvalidGeometry(
                "routes across the antimeridian (longitude 180) are not supported", field="points"
            )
        if not (math.isfinite(self.off_route_m) and self.off_route_m > 0):
            raise InvalidGeometry(
                f"off_route_m must be positive, got {self.off_route_m}", field="off_route_m"
            )


class RouteIndex:
    """Every route's segments in its own plane, with a grid of candidate segments per route."""

    def __init__(self, routes: Sequence[Route], *, reach_m: float | None = None) -> None:
        self.routes = len(routes)
        self.off_route_m = np.array([r.off_route_m for r in routes], dtype=np.float64)
        # The grid answers exactly up to half again the widest allowed distance: past any sensible
        # exit margin. A wider reach lists more candidate segments per cell (quadratically).
        widest = float(self.off_route_m.max(initial=0.0))
        self.reach_m = reach_m if reach_m is not None else 1.5 * widest
        self.lat0 = np.empty(self.routes)
        self.lon0 = np.empty(self.routes)
        xs, ys = [], []
        for k, route in enumerate(routes):
            pts = np.asarray(route.points, dtype=np.float64)
            self.lon0[k], self.lat0[k] = pts.mean(axis=0)
            xs.append((pts[:, 0] - self.lon0[k]) * east_scale(self.lat0[k]))
            ys.append((pts[:, 1] - self.lat0[k]) * M_PER_DEG)
        self.kx = np.asarray(east_scale(self.lat0))
        counts = np.array([len(x) - 1 for x in xs], dtype=np.int64)
        self.seg_start = np.r_[0, np.cumsum(counts)].astype(np.int64)
        self.seg_route = np.repeat(np.arange(self.routes), counts)
        self.x1 = np.concatenate([x[:-1] for x in xs]) if xs else np.zeros(0)
        self.y1 = np.concatenate([y[:-1] for y in ys]) if ys else np.zeros(0)
        self.dx = np.concatenate([np.diff(x) for x in xs]) if xs else np.zeros(0)
        self.dy = np.concatenate([np.diff(y) for y in ys]) if ys else np.zeros(0)
        self.inv_len2 = inverse_length2(self.dx, self.dy)
        # One row per segment, so a batch gathers its candidates in one pass over memory, not five.
        self.table = np.stack([self.x1, self.y1, self.dx, self.dy, self.inv_len2], axis=1)
        self._grid(xs, ys)
        # Each route's plane and grid in one row: a batch gathers them in one pass.
        self._frames = np.stack(
            [
                self.lon0,
                self.kx,
                self.lat0,
                self.gx0,
                self.gy0,
                self.cell_m,
                self.nx,
                self.ny,
                self.cell_base[:-1],
            ],
            axis=1,
        )

    def _grid(self, xs: list[Floats], ys: list[Floats]) -> None:
        """Cells per route and, per cell, the segments that may be within `reach_m` of it."""
        r = self.reach_m
        self.gx0 = np.array([x.min() - r for x in xs])
        self.gy0 = np.array([y.min() - r for y in ys])
        width = np.array([x.max() - x.min() + 2 * r for x in xs])
        height = np.array([y.max() - y.min() + 2 * r for y in ys])
        self.cell_m = np.maximum(r, np.maximum(width, height) / _MAX_CELLS_SIDE)
        self.nx = np.ceil(width / self.cell_m).astype(np.int64)
        self.ny = np.ceil(height / self.cell_m).astype(np.int64)
        self.cell_base = np.r_[0, np.cumsum(self.nx * self.ny)].astype(np.int64)
        route = self.seg_route
        x2, y2 = self.x1 + self.dx, self.y1 + self.dy

        def cell_of(v: Floats, origin: Floats, side: Ints) -> Ints:
            return np.clip(np.floor((v - origin[route]) / self.cell_m[route]), 0, side[route] - 1).astype(
                np.int64
            )

        cx0 = cell_of(np.minimum(self.x1, x2) - r, self.gx0, self.nx)
        cx1 = cell_of(np.maximum(self.x1, x2) + r, self.gx0, self.nx)
        cy0 = cell_of(np.minimum(self.y1, y2) - r, self.gy0, self.ny)
        cy1 = cell_of(np.maximum(self.y1, y2) + r, self.gy0, self.ny)
        wide = cx1 - cx0 + 1
        seg, k = expand(wide * (cy1 - cy0 + 1))
        cell = (
            self.cell_base[route[seg]]
            + (cy0[seg] + k // wide[seg]) * self.nx[route[seg]]
            + cx0[seg]
            + k % wide[seg]
        )
        order = np.argsort(cell, kind="stable")
        self.candidates = seg[order]
        self.cell_ptr = np.r_[0, np.cumsum(np.bincount(cell, minlength=int(self.cell_base[-1])))].astype(
            np.int64
        )

    def distances(self, route: Ints, lat: Floats, lon: Floats, *, exact: bool = True) -> Floats:
        """Metres from each fix to its route's nearest segment (not `exact`: `reach_m` if further)."""
        lon0, kx, lat0, gx0, gy0, cell_m, nx, ny, base = self._frames[route].T
        x = (lon - lon0) * kx
        y = (lat - lat0) * M_PER_DEG
        cx = np.floor((x - gx0) / cell_m)
        cy = np.floor((y - gy0) / cell_m)
        on_grid = (cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny)
        cell = np.where(on_grid, base + cy * nx + cx, 0).astype(np.int64)
        begin = self.cell_ptr[cell]
        count = np.where(on_grid, self.cell_ptr[cell + 1] - begin, 0)
        fix, k = expand(count)
        seg = self.candidates[begin[fix] + k]
        distance = np.sqrt(group_min(self._d2(seg, x[fix], y[fix]), fix, len(route)))
        far = np.flatnonzero(distance > self.reach_m)
        if not exact:
            distance[far] = self.reach_m
        elif len(far):
            distance[far] = self._exhaustive(route[far], x[far], y[far])
        return distance

    def _d2(self, seg: Ints, x: Floats, y: Floats) -> Floats:
        return segment_distance2(
            x - self.x1[seg], y - self.y1[seg], self.dx[seg], self.dy[seg], self.inv_len2[seg]
        )

    def _exhaustive(self, route: Ints, x: Floats, y: Floats) -> Floats:
        """Distance against every segment of each fix's route (fixes far from it: rare)."""
        count = self.seg_start[route + 1] - self.seg_start[route]
        out = np.empty(len(route))
        per_chunk = max(1, _PAIRS_PER_CHUNK // int(count.max()))
        for begin in range(0, len(route), per_chunk):
            part = slice(begin, begin + per_chunk)
            fix, k = expand(count[part])
            seg = self.seg_start[route[part]][fix] + k
            out[part] = np.sqrt(group_min(self._d2(seg, x[part][fix], y[part][fix]), fix, len(count[part])))
        return out


class RouteWatch:
    """Route deviation with hysteresis per vehicle: one off-route warning per excursion."""

    def __init__(
        self,
        index: RouteIndex,
        vehicles: int,
        *,
        exit_margin_m: float = 50.0,
        enter_margin_m: float = 50.0,
        exit_after_fixes: int | None = 3,
    ) -> None:
        if index.reach_m < float(index.off_route_m.max(initial=0.0)) + exit_margin_m:
            raise ValueError(
                "the route index must reach past the widest off-route distance plus the exit margin"
            )
        self.index = index
        self.hysteresis = Hysteresis(
            vehicles,
            exit_margin_m=exit_margin_m,
            enter_margin_m=enter_margin_m,
            exit_after_fixes=exit_after_fixes,
        )

    def step(self, vehicle: Ints, route: Ints, ts_ms: Ints, lat: Floats, lon: Floats) -> Transitions:
        """Judge a batch of fixes on their routes; `went_out` marks leaving the route."""
        # Sorted by vehicle (so by route), a batch reads each route's grid and segments from one
        # place in memory rather than all over it.
        order = by_subject_then_time(vehicle, ts_ms)
        route = route[order]
        beyond = (
            self.index.distances(route, lat[order], lon[order], exact=False) - self.index.off_route_m[route]
        )
        return self.hysteresis.step(vehicle[order], ts_ms[order], beyond).renumbered(order)
