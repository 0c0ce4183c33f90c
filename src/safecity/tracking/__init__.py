"""Things that move: elderly people's locators and hazardous-chemical shipments (issue 11).

It holds the geometry kernels, pure and vectorised over batches of fixes: safe zones
(`geofence`), route deviation (`route`) and the edge hysteresis both share (`hysteresis`). On
them: elderly locators' wearers, their guardians, consents and safe zones (`models`, use cases in
`wearers`, the rules' facts in `wearer_facts`, the `wearer_*` rule kinds in `rules/`, the
guardians' notices in `guardians`; docs/wearers.md), registered in `capability.py`. The edges
reach the wearers' use cases as `platform.service(Wearers)` (`tracking.wearers`).
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
