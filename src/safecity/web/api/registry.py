"""Registry routes: e-bikes, stolen reports and recoveries, wanted people, devices and areas.

A bike's record is not personal; its owner is. Bike lookups show the owner only when the request
names a case and purpose (and the caller may read people); registering shows back the owner just
entered, masked. Every write is audited by the use case it calls. A wanted person is listed by
identity number; the entry, its listing and the audit trail show only the card's pseudonym.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from safecity.registry import NotFound, PlateListing, Stolen, Wanted, WatchStatus
from safecity.registry.schemas import (
    AreaImportOut,
    AreaOut,
    BikeIn,
    BikeOut,
    CloseEntryIn,
    DeviceIn,
    DeviceOut,
    DeviceSecretOut,
    EntryOut,
    OwnerCodeIn,
    StolenIn,
    TerminalIn,
    TerminalOut,
    WantedPersonIn,
    WantedPlateIn,
)
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep, RowId

LIST_KINDS = (
    "^(stolen_bike|wanted_person|wanted_vehicle|stolen_vehicle|suspicious_vehicle|forged_plate"
    "|fugitive|missing_person)$"
)

router = APIRouter(prefix="/api/v1", tags=["registry"])

CaseQuery = Annotated[
    str | None, Query(max_length=32, description="Case the request is made under (person-level data).")
]
PurposeQuery = Annotated[
    str | None, Query(max_length=500, description="Why the person-level data is needed.")
]


@router.post("/bikes", status_code=201, response_model=BikeOut, summary="Register an e-bike")
def register_bike(
    body: BikeIn, platform: PlatformDep, request: Request, who: Principal = need(P.BIKES_REGISTER)
) -> BikeOut:
    """Register a bike: a new owner is created (shown back masked); one already in the registry
    confirms first (`owner_pending`)."""
    return platform.registry.register_bike(
        who.context(), body.registration(), owner_area_id=body.owner_area_id, resource=resource_of(request)
    )


@router.post(
    "/bikes/{bike_id}/owner", response_model=BikeOut, summary="Confirm a bike's owner with their code"
)
def confirm_owner(
    bike_id: RowId,
    body: OwnerCodeIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.BIKES_REGISTER),
) -> BikeOut:
    """The owner named at registration confirms with the code sent to their phone; the bike is theirs."""
    return platform.registry.confirm_owner(who.context(), bike_id, body.code, resource=resource_of(request))


@router.get("/bikes", response_model=list[BikeOut], summary="Find bikes by tag or frame number")
def find_bikes(
    platform: PlatformDep,
    request: Request,
    tag: str | None = Query(None, max_length=16),
    frame: str | None = Query(None, max_length=32),
    limit: int = Query(50, ge=1, le=500),
    case_id: CaseQuery = None,
    purpose: PurposeQuery = None,
    who: Principal = need(P.BIKES_READ),
) -> list[BikeOut]:
    """Look bikes up by tag id or frame number (exact); owners only under a case."""
    return platform.investigation.bikes(
        who,
        tag=tag,
        frame=frame,
        limit=limit,
        case_id=case_id,
        purpose=purpose,
        resource=resource_of(request),
    )


@router.get("/bikes/{bike_id}", response_model=BikeOut, summary="One bike")
def get_bike(
    bike_id: RowId,
    platform: PlatformDep,
    request: Request,
    case_id: CaseQuery = None,
    purpose: PurposeQuery = None,
    who: Principal = need(P.BIKES_READ),
) -> BikeOut:
    """A bike by id; its owner only under a case."""
    found = platform.investigation.bikes(
        who, bike_id=bike_id, case_id=case_id, purpose=purpose, resource=resource_of(request)
    )
    return found[0]


@router.post(
    "/bikes/{bike_id}/stolen", status_code=201, response_model=EntryOut, summary="Report a bike stolen"
)
def report_stolen(
    bike_id: RowId,
    body: StolenIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.WATCHLIST_WRITE),
) -> EntryOut:
    """List the bike so that any base station reading its tag raises an alarm."""
    report = Stolen(**body.model_dump())
    return platform.registry.report_stolen(who.context(), bike_id, report, resource=resource_of(request))


@router.post(
    "/watchlist/persons", status_code=201, response_model=EntryOut, summary="List a person as wanted"
)
def list_person(
    body: WantedPersonIn, platform: PlatformDep, request: Request, who: Principal = need(P.WATCHLIST_WRITE)
) -> EntryOut:
    """List a registered person so that their identity card at any door raises a warning."""
    wanted = Wanted(**body.model_dump())
    return platform.registry.list_person(who.context(), wanted, resource=resource_of(request))


@router.post(
    "/watchlist/plates", status_code=201, response_model=EntryOut, summary="Put a plate on a vehicle list"
)
def list_plate(
    body: WantedPlateIn, platform: PlatformDep, request: Request, who: Principal = need(P.WATCHLIST_WRITE)
) -> EntryOut:
    """Wanted, stolen or suspicious vehicles and forged plates, for checkpoint and road cameras."""
    listed = PlateListing(**body.model_dump())
    return platform.registry.list_plate(who.context(), listed, resource=resource_of(request))


@router.post(
    "/watchlist/{entry_id}/close",
    response_model=EntryOut,
    summary="Close a watchlist entry (recovered or withdrawn)",
)
def close_entry(
    entry_id: RowId,
    body: CloseEntryIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.WATCHLIST_WRITE),
) -> EntryOut:
    """Stop matching the entry at once."""
    return platform.registry.close_entry(
        who.context(),
        entry_id,
        status=WatchStatus(body.status),
        note=body.note,
        resource=resource_of(request),
    )


@router.get("/watchlist", response_model=list[EntryOut], summary="Watchlist entries")
def list_entries(
    platform: PlatformDep,
    status: str | None = Query(None, pattern="^(active|recovered|withdrawn)$"),
    list_kind: str | None = Query(None, pattern=LIST_KINDS),
    limit: int = Query(100, ge=1, le=1000),
    who: Principal = need(P.WATCHLIST_READ),
) -> list[EntryOut]:
    """Entries of the caller's stations (and city-wide ones), newest first; one list if `list_kind`."""
    return platform.registry.entries(who.context(), status=status, limit=limit, list_kind=list_kind)


@router.post("/devices", status_code=201, response_model=DeviceSecretOut, summary="Register a device")
def create_device(
    body: DeviceIn, platform: PlatformDep, request: Request, who: Principal = need(P.DEVICES_MANAGE)
) -> DeviceSecretOut:
    """Register a device and return its secret (shown only this once)."""
    made = platform.registry.create_device(who.context(), body, resource=resource_of(request))
    return DeviceSecretOut(device=made.device, secret=made.secret)


@router.post("/devices/{device_id}/secret", response_model=DeviceSecretOut, summary="Rotate a device secret")
def rotate_secret(
    device_id: str, platform: PlatformDep, request: Request, who: Principal = need(P.DEVICES_MANAGE)
) -> DeviceSecretOut:
    """Issue a new secret; the old one stops working at once (and the device is active again)."""
    made = platform.registry.rotate_secret(who.context(), device_id, resource=resource_of(request))
    return DeviceSecretOut(device=made.device, secret=made.secret)


@router.post("/devices/{device_id}/revoke", response_model=DeviceOut, summary="Revoke a device")
def revoke_device(
    device_id: str, platform: PlatformDep, request: Request, who: Principal = need(P.DEVICES_MANAGE)
) -> DeviceOut:
    """Disable a device and forget its secret: it cannot send until a new secret is issued."""
    return platform.registry.revoke_device(who.context(), device_id, resource=resource_of(request))


@router.post(
    "/devices/{device_id}/terminal",
    status_code=201,
    response_model=TerminalOut,
    summary="Bind a tracker's terminal id",
)
def bind_terminal(
    device_id: str,
    body: TerminalIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.DEVICES_MANAGE),
) -> TerminalOut:
    """Bind a GT06 IMEI or JT/T 808 phone number to a registered tracker, so its logins are accepted
    (docs/trackers.md); a terminal is bound once per protocol."""
    return platform.registry.bind_terminal(
        who.context(),
        device_id,
        protocol=body.protocol.value,
        terminal=body.terminal,
        utc_offset_minutes=body.utc_offset_minutes,
        resource=resource_of(request),
    )


@router.get("/devices", response_model=list[DeviceOut], summary="Devices")
def list_devices(
    platform: PlatformDep,
    kind: str | None = Query(None, max_length=32),
    area_id: str | None = Query(None, max_length=32),
    limit: int = Query(1000, ge=1, le=10000),
    who: Principal = need(P.DEVICES_READ),
) -> list[DeviceOut]:
    """Devices of the caller's areas, filtered by kind and area."""
    return platform.registry.devices(who.context(), kind=kind, area_id=area_id, limit=limit)


@router.post(
    "/areas/import",
    response_model=AreaImportOut,
    summary="Import districts, station areas and communities (GeoJSON)",
)
def import_areas(
    platform: PlatformDep,
    request: Request,
    body: Annotated[
        dict[str, Any],
        Body(description="A GeoJSON FeatureCollection: one Feature per area (docs/api.md, Areas)."),
    ],
    place_devices: Annotated[
        bool, Query(description="Give devices without an area the area holding their position.")
    ] = True,
    who: Principal = need(P.AREAS_MANAGE),
) -> AreaImportOut:
    """Create or update areas by id, all or nothing; every problem is named with where it is."""
    report = platform.registry.import_areas(
        who.context(), body, place_devices=place_devices, resource=resource_of(request)
    )
    return AreaImportOut(**asdict(report))


@router.get("/areas", response_model=list[AreaOut], summary="Districts, station areas and communities")
def list_areas(
    platform: PlatformDep,
    kind: str | None = Query(None, pattern="^(district|station|community)$"),
    _: Principal = need(P.AREAS_READ),
) -> list[AreaOut]:
    """Areas of the city."""
    return platform.registry.areas(kind=kind)


__all__ = ["NotFound", "router"]
