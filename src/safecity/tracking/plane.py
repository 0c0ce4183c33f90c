"""Local plane geometry for the tracking kernels: an equirectangular projection and segment distances.

Each zone or route gets its own origin; around it, metres east are degrees of longitude times
cos(origin latitude) and metres north are degrees of latitude, both times the metres in a degree
of the mean Earth radius. Over the few kilometres of a safe zone, and within the reach of a route
that matters for a deviation warning, that is within 0.1 % of the great-circle distance; far away
it drifts, which only ever concerns fixes already far beyond any margin. The projection is an
affine map of longitude and latitude, so which side of a polygon's edge a point falls on is exactly
what it is in degrees. Zones and routes across the antimeridian (longitude +-180) are out of scope:
validation refuses them.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from safecity.core.geo import EARTH_RADIUS_M

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180

Floats = NDArray[np.float64]


def east_scale(lat0: float | Floats) -> float | Floats:
    """Metres per degree of longitude at a latitude (the projection's x scale)."""
    return M_PER_DEG * np.cos(np.radians(lat0))


def segment_distance2(ux: Floats, uy: Floats, dx: Floats, dy: Floats, inv_len2: Floats) -> Floats:
    """Squared distance from points to segments, given the point relative to each segment's start.

    `dx, dy` is the segment's vector and `inv_len2` 1/|d|^2 (0 for a zero-length segment, whose
    distance is then to its start). All arrays broadcast.
    """
    t = np.clip((ux * dx + uy * dy) * inv_len2, 0.0, 1.0)
    ex = ux - t * dx
    ey = uy - t * dy
    return ex * ex + ey * ey


def inverse_length2(dx: Floats, dy: Floats) -> Floats:
    """1/|d|^2 per segment, 0 where the segment has no length (two equal points in a row)."""
    length2 = dx * dx + dy * dy
    out = np.zeros_like(length2)
    np.divide(1.0, length2, out=out, where=length2 > 0)
    return out


def expand(counts: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For rows with `counts` items each: the row of every item and its position within the row."""
    total = int(counts.sum())
    row = np.repeat(np.arange(len(counts)), counts)
    begin = np.cumsum(counts) - counts
    return row, np.arange(total) - begin[row]


def group_min(values: Floats, group: NDArray[np.int64], size: int) -> Floats:
    """Minimum of `values` per group id (`group` sorted ascending); +inf where a group has none."""
    out = np.full(size, np.inf)
    if len(values):
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        out[group[starts]] = np.minimum.reduceat(values, starts)
    return out
