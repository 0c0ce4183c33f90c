"""Wearer routes: officers enrol elderly locators' wearers of their areas, with consent, guardians and
safe zones; officers read the wearers of their areas, and a guardian (a citizen account linked to
the guardian's person) reads only the wearers they look after, under `/my/wearers`.

The use cases (tracking/wearers.py) decide who may read or change which wearer and audit each.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.tracking.wearer_schemas import (
    ConsentIn,
    ConsentOut,
    GuardianIn,
    GuardianOut,
    SafeZoneOut,
    SafeZonesIn,
    WearerDetail,
    WearerIn,
    WearerOut,
)
from safecity.tracking.wearers import Wearers
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep, RowId

router = APIRouter(prefix="/api/v1", tags=["wearers"])
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post("/wearers", status_code=201, response_model=WearerOut, summary="Enrol a wearer")
def enrol(
    body: WearerIn, platform: PlatformDep, request: Request, who: Principal = need(P.WEARERS_MANAGE)
) -> WearerOut:
    """A person wearing a locator, in an area of the caller's, with the consent given (required)."""
    return platform.service(Wearers).enrol(who.context(), body, resource=resource_of(request))


@router.get("/wearers", response_model=list[WearerOut], summary="Wearers of my areas")
def list_wearers(
    platform: PlatformDep,
    request: Request,
    area_id: Annotated[str | None, Query(max_length=32)] = None,
    ended: bool = False,
    limit: Limit = 500,
    who: Principal = need(P.WEARERS_READ),
) -> list[WearerOut]:
    """Wearers of the caller's areas (of one area, if given; `ended=true`: ended ones too), by id."""
    return platform.service(Wearers).wearers(
        who.context(), area_id=area_id, ended=ended, limit=limit, resource=resource_of(request)
    )


@router.get("/wearers/{wearer_id}", response_model=WearerDetail, summary="A wearer")
def read_wearer(
    wearer_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.WEARERS_READ)
) -> WearerDetail:
    """The wearer with their guardians, consents, safe zones and open warnings."""
    return platform.service(Wearers).wearer(who.context(), wearer_id, resource=resource_of(request))


@router.post("/wearers/{wearer_id}/end", response_model=WearerOut, summary="Stop watching a wearer")
def end_wearer(
    wearer_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.WEARERS_MANAGE)
) -> WearerOut:
    """The locator was returned or the wearer moved away: kept for the record, trackers freed."""
    return platform.service(Wearers).end(who.context(), wearer_id, resource=resource_of(request))


@router.get(
    "/wearers/{wearer_id}/guardians", response_model=list[GuardianOut], summary="A wearer's guardians"
)
def list_guardians(
    wearer_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.WEARERS_READ)
) -> list[GuardianOut]:
    """The wearer's guardians now (phones masked)."""
    return platform.service(Wearers).guardians(who.context(), wearer_id, resource=resource_of(request))


@router.post(
    "/wearers/{wearer_id}/guardians", status_code=201, response_model=GuardianOut, summary="Add a guardian"
)
def add_guardian(
    wearer_id: RowId,
    body: GuardianIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.WEARERS_MANAGE),
) -> GuardianOut:
    """A guardian is told of the wearer's warnings by SMS and reads the wearer with their citizen account."""
    wearers = platform.service(Wearers)
    return wearers.add_guardian(who.context(), wearer_id, body, resource=resource_of(request))


@router.post(
    "/wearers/{wearer_id}/guardians/{guardian_id}/remove",
    response_model=GuardianOut,
    summary="Remove a guardian",
)
def remove_guardian(
    wearer_id: RowId,
    guardian_id: RowId,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.WEARERS_MANAGE),
) -> GuardianOut:
    """No more warnings to them, and their account no longer reads the wearer."""
    wearers = platform.service(Wearers)
    return wearers.remove_guardian(who.context(), wearer_id, guardian_id, resource=resource_of(request))


@router.get("/wearers/{wearer_id}/consents", response_model=list[ConsentOut], summary="A wearer's consents")
def list_consents(
    wearer_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.WEARERS_READ)
) -> list[ConsentOut]:
    """Every consent recorded for the wearer, withdrawn ones too, oldest first."""
    return platform.service(Wearers).consents(who.context(), wearer_id, resource=resource_of(request))


@router.post(
    "/wearers/{wearer_id}/consents", status_code=201, response_model=ConsentOut, summary="Record a consent"
)
def record_consent(
    wearer_id: RowId,
    body: ConsentIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.WEARERS_MANAGE),
) -> ConsentOut:
    """A consent given for the wearer: who gave it, in what capacity, on what basis, when."""
    wearers = platform.service(Wearers)
    return wearers.record_consent(who.context(), wearer_id, body, resource=resource_of(request))


@router.post(
    "/wearers/{wearer_id}/consents/{consent_id}/withdraw",
    response_model=ConsentOut,
    summary="Withdraw a consent",
)
def withdraw_consent(
    wearer_id: RowId,
    consent_id: RowId,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.WEARERS_MANAGE),
) -> ConsentOut:
    """With no consent left in force, the warnings about the wearer stop."""
    wearers = platform.service(Wearers)
    return wearers.withdraw_consent(who.context(), wearer_id, consent_id, resource=resource_of(request))


@router.get(
    "/wearers/{wearer_id}/safe-zones", response_model=list[SafeZoneOut], summary="A wearer's safe zones"
)
def list_safe_zones(
    wearer_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.WEARERS_READ)
) -> list[SafeZoneOut]:
    """The wearer's safe zones: circles and polygons, with their daily windows."""
    return platform.service(Wearers).safe_zones(who.context(), wearer_id, resource=resource_of(request))


@router.put("/wearers/{wearer_id}/safe-zones", response_model=list[SafeZoneOut], summary="Set safe zones")
def set_safe_zones(
    wearer_id: RowId,
    body: SafeZonesIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.WEARERS_MANAGE),
) -> list[SafeZoneOut]:
    """Replace the wearer's safe zones; a ring that is not a valid polygon is refused naming it."""
    wearers = platform.service(Wearers)
    return wearers.set_safe_zones(who.context(), wearer_id, body, resource=resource_of(request))


@router.get("/my/wearers", response_model=list[WearerOut], summary="The wearers I look after")
def my_wearers(
    platform: PlatformDep, request: Request, who: Principal = need(P.WEARERS_GUARD)
) -> list[WearerOut]:
    """A guardian's own wearers (the citizen account must be linked to the guardian's person)."""
    return platform.service(Wearers).wearers(who.context(), resource=resource_of(request))


@router.get("/my/wearers/{wearer_id}", response_model=WearerDetail, summary="A wearer I look after")
def my_wearer(
    wearer_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.WEARERS_GUARD)
) -> WearerDetail:
    """One of the guardian's wearers with their safe zones, guardians and open warnings; others are 403."""
    return platform.service(Wearers).wearer(who.context(), wearer_id, resource=resource_of(request))
