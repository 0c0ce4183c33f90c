"""Device-health route: online, usage and swipe rates of door controllers per place, for officers.

The figures (places/health.py) are bounded by the caller's areas and audited.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.places.health import DeviceHealth
from safecity.places.health_schemas import HealthOut, Level
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get(
    "/health/devices", response_model=HealthOut, summary="Door controllers' online, usage and swipe rates"
)
def device_health(
    platform: PlatformDep,
    request: Request,
    level: Level = Level.COMMUNITY,
    day: Annotated[
        date | None, Query(description="Local day of usage and swipe rates; default today.")
    ] = None,
    area_id: Annotated[
        str | None,
        Query(
            max_length=32, description="Only doors within this area (district, station area or community)."
        ),
    ] = None,
    who: Principal = need(P.DEVICES_READ),
) -> HealthOut:
    """Per compound, community, station area or district, with the 90 % line and the doors dragging them."""
    return platform.service(DeviceHealth).figures(
        who.context(), level=level, day=day, area_id=area_id, resource=resource_of(request)
    )
