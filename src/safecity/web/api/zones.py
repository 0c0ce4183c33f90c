"""Alarm-zone routes: the inputs of alarm panels guarding compounds and shops, with armed hours.

The use cases (places/zones.py) check the caller's areas and the panel, and audit each change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.places import Zones
from safecity.places.zones import AlarmZoneIn, AlarmZoneOut
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep

router = APIRouter(prefix="/api/v1", tags=["places"])


@router.post("/alarm-zones", status_code=201, response_model=AlarmZoneOut, summary="Register an alarm zone")
def add_zone(
    body: AlarmZoneIn, platform: PlatformDep, request: Request, who: Principal = need(P.PLACES_MANAGE)
) -> AlarmZoneOut:
    """An input of an alarm panel guarding a compound or a shop of the caller's areas, with armed hours."""
    return platform.service(Zones).add(who.context(), body, resource=resource_of(request))


@router.get("/alarm-zones", response_model=list[AlarmZoneOut], summary="Alarm zones of my areas")
def list_zones(
    platform: PlatformDep,
    compound_id: Annotated[str | None, Query(max_length=32)] = None,
    who: Principal = need(P.PLACES_READ),
) -> list[AlarmZoneOut]:
    """Zones of the caller's areas, by id."""
    return platform.service(Zones).zones(who.context(), compound_id=compound_id)
