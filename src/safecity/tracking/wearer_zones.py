"""Safe zones between their three forms: as given (ZoneIn), as stored (SafeZone rows), as the kernel's.

Every zone given is turned into the kernel's `CircleZone` or `PolygonZone` before it is stored, so
the kernel's checks (a closed, simple ring of 3 or more points on the globe; a positive radius; windows
"HH:MM-HH:MM") refuse a bad one with the field at fault named in full: `zones[1].ring`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from safecity.tracking.errors import InvalidGeometry
from safecity.tracking.geofence import CircleZone, DailyWindow, PolygonZone, Zone
from safecity.tracking.models import SafeZone, ZoneShape
from safecity.tracking.wearer_schemas import SafeZoneOut, ZoneIn


def _windows(hours: Sequence[str], *, field: str) -> tuple[DailyWindow, ...]:
    return tuple(DailyWindow.parse(text, field_name=f"{field}.{n}") for n, text in enumerate(hours))


def kernel_zone(zone: ZoneIn, *, field: str) -> Zone:
    """The kernel's zone of one given zone; InvalidGeometry names `field` and the part at fault."""
    try:
        hours = _windows(zone.hours, field="hours")
        if zone.ring is not None:
            return PolygonZone(tuple((float(lon), float(lat)) for lon, lat in zone.ring), hours)
        # The schema made sure a zone without a ring has all three.
        return CircleZone(float(zone.lat or 0.0), float(zone.lon or 0.0), float(zone.radius_m or 0.0), hours)
    except InvalidGeometry as err:
        raise InvalidGeometry(err.message, field=f"{field}.{err.field}" if err.field else field) from None


def checked(zones: Sequence[ZoneIn], *, field: str = "zones") -> list[Zone]:
    """Every given zone checked by the kernel, in order."""
    return [kernel_zone(z, field=f"{field}.{n}") for n, z in enumerate(zones)]


def rows_of(zones: Sequence[ZoneIn], *, wearer_id: int, now: datetime, by: str) -> list[SafeZone]:
    """Stored rows of zones already checked."""
    return [
        SafeZone(
            wearer_id=wearer_id,
            name=z.name,
            shape=ZoneShape.POLYGON if z.ring is not None else ZoneShape.CIRCLE,
            lat=z.lat,
            lon=z.lon,
            radius_m=z.radius_m,
            ring=[list(p) for p in z.ring] if z.ring is not None else None,
            hours=list(z.hours),
            set_at=now,
            set_by=by,
        )
        for z in zones
    ]


def zone_of_row(row: SafeZone) -> Zone:
    """The kernel's zone of a stored row (checked when it was set)."""
    hours = _windows(row.hours or [], field="hours")
    if row.shape == ZoneShape.POLYGON:
        ring: list[Any] = row.ring or []
        return PolygonZone(tuple((float(p[0]), float(p[1])) for p in ring), hours)
    return CircleZone(float(row.lat or 0.0), float(row.lon or 0.0), float(row.radius_m or 0.0), hours)


def zone_out(row: SafeZone) -> SafeZoneOut:
    """A stored zone as answered."""
    ring = [(float(p[0]), float(p[1])) for p in row.ring] if row.ring is not None else None
    return SafeZoneOut(
        id=row.id,
        name=row.name,
        shape=row.shape,
        lat=row.lat,
        lon=row.lon,
        radius_m=row.radius_m,
        ring=ring,
        hours=list(row.hours or []),
    )


__all__ = ["checked", "kernel_zone", "rows_of", "zone_of_row", "zone_out"]
