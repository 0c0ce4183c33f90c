"""Routes on the road lattice and the base stations each route passes, for many trips at once.

A route joins two parking spots with five axis-aligned legs: out of the street segment to an
intersection, along a road, one turn (preferring an arterial road), along a road, into the
destination's segment. Finding the stations passed is a sorted-key range search per leg, so
the cost grows with the stations passed, not with the distance ridden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from safecity.sim.grid import Grid, IntArray

WAYPOINTS = 6  # origin, exit intersection, two turns, entry intersection, destination
_KEY = np.int64(1 << 21)  # > any lattice coordinate; packs (line, position) into one int64


def _sign(values: IntArray) -> IntArray:
    return np.where(values >= 0, 1, -1)


def _turn_line(lo: IntArray, hi: IntArray, u: npt.NDArray[np.float64], grid: Grid) -> IntArray:
    """The street (multiple of minor) between lo and hi to turn on; arterials preferred."""
    m, big = grid.minor_units, grid.major_units
    n_lines = (hi - lo) // m
    any_line = lo + m * np.minimum(np.floor(u * (n_lines + 1)).astype(np.int64), n_lines)
    major_lo = -(-lo // big) * big
    major_hi = (hi // big) * big
    target = lo + u * (hi - lo)
    nearest_major = np.clip(np.round(target / big).astype(np.int64) * big, major_lo, major_hi)
    # Riders take the arterial road when one lies on the way, most of the time.
    prefer_major = (major_lo <= major_hi) & (np.modf(u * 7.31)[0] < 0.65)
    return np.where(prefer_major, nearest_major, any_line)


def route_waypoints(
    ox: IntArray,
    oy: IntArray,
    dx: IntArray,
    dy: IntArray,
    hfirst: npt.NDArray[np.bool_],
    u: npt.NDArray[np.float64],
    grid: Grid,
) -> tuple[IntArray, IntArray]:
    """Waypoints (n, 6) of the routes from parking spots (ox, oy) to (dx, dy)."""
    half, m = grid.minor_units // 2, grid.minor_units
    o_row, d_row = oy % m == 0, dy % m == 0
    ax = np.where(o_row, ox + half * _sign(dx - ox), ox)
    ay = np.where(o_row, oy, oy + half * _sign(dy - oy))
    bx = np.where(d_row, dx - half * _sign(dx - ox), dx)
    by = np.where(d_row, dy, dy - half * _sign(dy - oy))
    xt = _turn_line(np.minimum(ax, bx), np.maximum(ax, bx), u, grid)
    yt = _turn_line(np.minimum(ay, by), np.maximum(ay, by), u, grid)
    p1x, p1y = np.where(hfirst, xt, ax), np.where(hfirst, ay, yt)
    p2x, p2y = np.where(hfirst, xt, bx), np.where(hfirst, by, yt)
    wx = np.stack([ox, ax, p1x, p2x, bx, dx], axis=1).astype(np.int64)
    wy = np.stack([oy, ay, p1y, p2y, by, dy], axis=1).astype(np.int64)
    return wx, wy


def cumulative_units(wx: IntArray, wy: IntArray) -> IntArray:
    """Distance ridden (units) at each waypoint of each route."""
    legs = np.abs(np.diff(wx, axis=1)) + np.abs(np.diff(wy, axis=1))
    return np.concatenate([np.zeros((len(wx), 1), np.int64), np.cumsum(legs, axis=1)], axis=1)


@dataclass(frozen=True, slots=True)
class Passes:
    """Stations passed by a set of routes, ordered by route then distance ridden."""

    route: IntArray  # index of the route
    station: IntArray  # index of the station
    dist_units: IntArray  # distance ridden from the route's origin to the station
    ordinal: IntArray  # 0, 1, 2... within each route


class StationIndex:
    """Base stations sorted by the road line they stand on, for range searches along legs."""

    def __init__(self, sx: IntArray, sy: IntArray, grid: Grid) -> None:
        m = grid.minor_units
        self.count = len(sx)
        idx = np.arange(len(sx), dtype=np.int64)
        # An intersection station lies on a row and a column road, so it is in both indexes.
        on_row, on_col = sy % m == 0, sx % m == 0
        row_keys = sy[on_row] * _KEY + sx[on_row]
        order = np.argsort(row_keys, kind="stable")
        self._row_keys, self._row_station = row_keys[order], idx[on_row][order]
        col_keys = sx[on_col] * _KEY + sy[on_col]
        order = np.argsort(col_keys, kind="stable")
        self._col_keys, self._col_station = col_keys[order], idx[on_col][order]

    def passes(self, wx: IntArray, wy: IntArray) -> Passes:
        """Stations each route passes, each leg half-open so that a turn is counted once."""
        n, legs = wx.shape[0], wx.shape[1] - 1
        cum = cumulative_units(wx, wy)
        x0, x1 = wx[:, :-1].ravel(), wx[:, 1:].ravel()
        y0, y1 = wy[:, :-1].ravel(), wy[:, 1:].ravel()
        leg_route = np.repeat(np.arange(n, dtype=np.int64), legs)
        leg_cum = cum[:, :-1].ravel()
        row = _leg_hits((y0 == y1) & (x0 != x1), y0, x0, x1, self._row_keys, self._row_station)
        col = _leg_hits((x0 == x1) & (y0 != y1), x0, y0, y1, self._col_keys, self._col_station)
        leg = np.concatenate([row[0], col[0]])
        station = np.concatenate([row[1], col[1]])
        dist = leg_cum[leg] + np.concatenate([row[2], col[2]])
        route = leg_route[leg]
        order = np.lexsort((dist, route))
        route, station, dist = route[order], station[order], dist[order]
        starts = np.searchsorted(route, route, side="left")
        return Passes(route, station, dist, np.arange(len(route), dtype=np.int64) - starts)


def _leg_hits(
    along: npt.NDArray[np.bool_],
    line: IntArray,
    p0: IntArray,
    p1: IntArray,
    keys: IntArray,
    stations: IntArray,
) -> tuple[IntArray, IntArray, IntArray]:
    """(leg, station, offset along the leg) for stations on [p0, p1) of each leg along a line."""
    forward = p1 > p0
    lo = np.where(forward, p0, p1 + 1)
    hi = np.where(forward, p1, p0 + 1)
    first = np.searchsorted(keys, line * _KEY + lo)
    last = np.searchsorted(keys, line * _KEY + hi)
    counts = np.where(along, last - first, 0)
    total = int(counts.sum())
    leg = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    pos = np.repeat(first, counts) + offsets
    station = stations[pos]
    at = keys[pos] - line[leg] * _KEY
    return leg, station, np.abs(at - p0[leg])
