"""Units driving the road network: where a unit is, part-way along the route it drives.

The demo's crews (driver/dispatchdemo.py) drive the routes the dispatch network gives them at the
route's own travel time; a position `fraction` of the way through the journey lies that share of
the route's length along it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def along(coords: Sequence[tuple[float, float]], fraction: float) -> tuple[float, float]:
    """The (lat, lon) `fraction` (0-1) of the way along a polyline of (lat, lon), by length."""
    if not coords:
        raise ValueError("an empty route has no points")
    if len(coords) == 1 or fraction <= 0.0:
        return coords[0]
    if fraction >= 1.0:
        return coords[-1]
    scale = math.cos(math.radians(coords[0][0]))
    steps = [math.hypot(b[0] - a[0], (b[1] - a[1]) * scale) for a, b in zip(coords, coords[1:], strict=False)]
    goal = fraction * sum(steps)
    for (a, b), step in zip(zip(coords, coords[1:], strict=False), steps, strict=True):
        if goal <= step and step > 0:
            t = goal / step
            return a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        goal -= step
    return coords[-1]


__all__ = ["along"]
