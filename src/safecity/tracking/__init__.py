"""Things that move: elderly people's locators and hazardous-chemical shipments (issue 11).

This package will own wearers, guardians and safe zones, and shipments with their planned
routes. Today it holds the geometry kernels their rules will use, pure and vectorised over
batches of fixes: safe zones (`geofence`), route deviation (`route`) and the edge hysteresis
both share (`hysteresis`).
"""

from __future__ import annotations

from safecity.tracking.errors import InvalidGeometry, TrackingError
from safecity.tracking.geofence import (
    CircleZone,
    DailyWindow,
    PolygonZone,
    SafeZones,
    SafeZoneWatch,
    Zone,
    ZoneDistances,
)
from safecity.tracking.hysteresis import Hysteresis, Transitions
from safecity.tracking.route import Route, RouteIndex, RouteWatch

__all__ = [
    "CircleZone",
    "DailyWindow",
    "Hysteresis",
    "InvalidGeometry",
    "PolygonZone",
    "Route",
    "RouteIndex",
    "RouteWatch",
    "SafeZoneWatch",
    "SafeZones",
    "TrackingError",
    "Transitions",
    "Zone",
    "ZoneDistances",
]
