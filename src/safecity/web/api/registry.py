"""Registry routes: e-bikes, stolen reports and recoveries, devices and areas.

A bike's record is not personal; its owner is. Bike lookups show the owner only when the request
names a case and purpose (and the caller may read people); registering shows back the owner just
entered, masked. Every write is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity import registry
from safecity.core.masking import mask_id_number, mask_phone
from safecity.registry import Area, Device, EBike, NotFound, Person, WatchlistEntry, WatchStatus
from safecity.registry.schemas import (
    AreaOut,
    BikeIn,
    BikeOut,
    CloseEntryIn,
    DeviceIn,
    DeviceOut,
    DeviceSecretOut,
    EntryOut,
    PersonOut,
    StolenIn,
)
from safecity.security.audit import AuditEntry, subject
from safecity.security.cases import justify
from safecity.security.errors import AccessDenied
from safecity.security.principal import Principal
from safecity.security.roles import Permission as P
from safecity.store import transaction
from safecity.web.auth import audited, need, platform_of, resource_of
from safecity.web.deps import PlatformDep, RowId

router = APIRouter(prefix="/api/v1", tags=["registry"])

CaseQuery = Annotated[
    str | None, Query(max_length=32, description="Case the request is made under (person-level data).")
]
PurposeQuery = Annotated[
    str | None, Query(max_length=500, description="Why the person-level data is needed.")
]


def person_out(person: Person, who: Principal, *, full: bool | None = None) -> PersonOut:
    """A person, masked unless the caller's role needs identifiers in full."""
    show = who.sees_full_identifiers if full is None else full
    return PersonOut(
        id=person.id,
        name=person.name,
        id_number=person.id_number if show else mask_id_number(person.id_number) or "",
        phone=person.phone if show else mask_phone(person.phone),
        home_area_id=person.home_area_id,
        masked=not show,
    )


def _bike_out(bike: EBike, who: Principal, *, with_owner: bool, full: bool | None = None) -> BikeOut:
    return BikeOut(
        id=bike.id,
        tag_id=bike.tag_id,
        frame_number=bike.frame_number,
        model=bike.model,
        colour=bike.colour,
        status=bike.status,
        registered_at=bike.registered_at,
        owner=person_out(bike.owner, who, full=full) if with_owner else None,
    )


def _bike_subjects(bikes: list[EBike], *, with_owner: bool) -> list[str]:
    names = [subject("tag", b.tag_id) for b in bikes]
    if with_owner:
        names += [subject("person", b.owner_id) for b in bikes]
    return names


def _owner_justified(
    request: Request, who: Principal, case_id: str | None, purpose: str | None
) -> str | None:
    """None when no case was named; the case id when the owner may be shown; refusal otherwise."""
    if case_id is None and purpose is None:
        return None
    if not who.can(P.PEOPLE_READ):
        raise AccessDenied("forbidden", f"your role ({who.role.value}) may not see who owns a bike")
    platform = platform_of(request)
    with platform.session_factory() as session:
        case = justify(
            session,
            who,
            case_id=case_id,
            purpose=purpose,
            start=None,
            end=None,
            area_id=None,
            tree=platform.security.areas.tree(),
        )
        return case.id


def _audit_owners_shown(
    request: Request, who: Principal, case_id: str, purpose: str | None, bikes: list[EBike]
) -> None:
    """Bikes were shown with their owners: a person-level read under the case."""
    audited(
        request,
        who,
        AuditEntry(
            "people.read",
            resource_of(request),
            case_id=case_id,
            purpose=purpose,
            subjects=_bike_subjects(bikes, with_owner=True),
            result_count=len(bikes),
        ),
    )


@router.post("/bikes", status_code=201, response_model=BikeOut, summary="Register an e-bike")
def register_bike(
    body: BikeIn, platform: PlatformDep, request: Request, who: Principal = need(P.BIKES_REGISTER)
) -> BikeOut:
    """Register a bike and its owner (created if new); the answer shows the owner masked."""
    reg = registry.BikeRegistration(**body.model_dump())
    with transaction(platform.session_factory) as session:
        bike = registry.register_bike(
            session,
            reg=reg,
            by=who.username,
            now=platform.clock.now(),
            pseudonymize=platform.pseudonyms.pseudonym,
        )
        session.refresh(bike)
        out = _bike_out(bike, who, with_owner=True, full=False)
        names = _bike_subjects([bike], with_owner=True)
    audited(request, who, AuditEntry("bikes.register", resource_of(request), status=201, subjects=names))
    return out


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
    case = _owner_justified(request, who, case_id, purpose)
    stmt = select(EBike).order_by(EBike.id).limit(limit)
    if tag:
        stmt = stmt.where(EBike.tag_id == tag.strip().upper())
    if frame:
        stmt = stmt.where(EBike.frame_number == frame.strip())
    with platform.session_factory() as session:
        bikes = list(session.scalars(stmt))
        out = [_bike_out(b, who, with_owner=case is not None) for b in bikes]
    if case is not None:
        _audit_owners_shown(request, who, case, purpose, bikes)
    return out


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
    case = _owner_justified(request, who, case_id, purpose)
    with platform.session_factory() as session:
        bike = registry.require_bike(session, bike_id=bike_id)
        out = _bike_out(bike, who, with_owner=case is not None)
    if case is not None:
        _audit_owners_shown(request, who, case, purpose, [bike])
    return out


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
    if body.owner_station_id is not None:
        who.require_area(body.owner_station_id, what=f"station {body.owner_station_id}")
    fields = body.model_dump()
    fields["owner"] = body.owner or who.username
    with transaction(platform.session_factory) as session:
        entry = registry.report_stolen(session, bike_id=bike_id, now=platform.clock.now(), **fields)
        out = EntryOut.model_validate(entry, from_attributes=True)
    audited(
        request,
        who,
        AuditEntry(
            "watchlist.add",
            resource_of(request),
            status=201,
            subjects=[subject("tag", out.subject)],
            detail={"entry": out.id, "basis": body.basis[:200]},
        ),
    )
    return out


@router.post(
    "/watchlist/{entry_id}/close",
    response_model=EntryOut,
    summary="Close a stolen-bike entry (recovered or withdrawn)",
)
def close_entry(
    entry_id: RowId,
    body: CloseEntryIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.WATCHLIST_WRITE),
) -> EntryOut:
    """Stop matching the entry at once."""
    with transaction(platform.session_factory) as session:
        found = session.get(WatchlistEntry, entry_id)
        if found is not None and found.owner_station_id is not None:
            who.require_area(found.owner_station_id, what=f"watchlist entry {entry_id}")
        entry = registry.close_entry(
            session,
            entry_id=entry_id,
            status=WatchStatus(body.status),
            by=who.username,
            note=body.note,
            now=platform.clock.now(),
        )
        out = EntryOut.model_validate(entry, from_attributes=True)
    audited(
        request,
        who,
        AuditEntry(
            "watchlist.close",
            resource_of(request),
            subjects=[subject("tag", out.subject)],
            detail={"entry": out.id, "status": body.status},
        ),
    )
    return out


@router.get("/watchlist", response_model=list[EntryOut], summary="Watchlist entries")
def list_entries(
    platform: PlatformDep,
    status: str | None = Query(None, pattern="^(active|recovered|withdrawn)$"),
    limit: int = Query(100, ge=1, le=1000),
    who: Principal = need(P.WATCHLIST_READ),
) -> list[EntryOut]:
    """Entries of the caller's stations (and city-wide ones), newest first."""
    stmt = select(WatchlistEntry).order_by(WatchlistEntry.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(WatchlistEntry.status == status)
    if not who.city_wide:
        stmt = stmt.where(
            WatchlistEntry.owner_station_id.is_(None) | WatchlistEntry.owner_station_id.in_(list(who.areas))
        )
    with platform.session_factory() as session:
        return [EntryOut.model_validate(e, from_attributes=True) for e in session.scalars(stmt)]


@router.post("/devices", status_code=201, response_model=DeviceSecretOut, summary="Register a device")
def create_device(
    body: DeviceIn, platform: PlatformDep, request: Request, who: Principal = need(P.DEVICES_MANAGE)
) -> DeviceSecretOut:
    """Register a device and return its secret (shown only this once)."""
    if body.area_id is not None:
        who.require_area(body.area_id, what=f"area {body.area_id}")
    with transaction(platform.session_factory) as session:
        device, secret = registry.create_device(
            session,
            device_id=body.id,
            kind=body.kind,
            name=body.name,
            lat=body.lat,
            lon=body.lon,
            area_id=body.area_id,
            now=platform.clock.now(),
        )
        out = DeviceOut.model_validate(device, from_attributes=True)
    audited(
        request,
        who,
        AuditEntry("devices.create", resource_of(request), status=201, detail={"device": out.id}),
    )
    return DeviceSecretOut(device=out, secret=secret)


def _managed_device(session: Session, device_id: str, who: Principal) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("device", device_id)
    who.require_area(device.area_id, what=f"device {device_id}")
    return device


@router.post("/devices/{device_id}/secret", response_model=DeviceSecretOut, summary="Rotate a device secret")
def rotate_secret(
    device_id: str, platform: PlatformDep, request: Request, who: Principal = need(P.DEVICES_MANAGE)
) -> DeviceSecretOut:
    """Issue a new secret; the old one stops working at once (and the device is active again)."""
    with transaction(platform.session_factory) as session:
        device = _managed_device(session, device_id, who)
        secret = registry.rotate_device_secret(session, device_id=device_id)
        out = DeviceOut.model_validate(device, from_attributes=True)
    audited(
        request, who, AuditEntry("devices.rotate_secret", resource_of(request), detail={"device": device_id})
    )
    return DeviceSecretOut(device=out, secret=secret)


@router.post("/devices/{device_id}/revoke", response_model=DeviceOut, summary="Revoke a device")
def revoke_device(
    device_id: str, platform: PlatformDep, request: Request, who: Principal = need(P.DEVICES_MANAGE)
) -> DeviceOut:
    """Disable a device and forget its secret: it cannot send until a new secret is issued."""
    with transaction(platform.session_factory) as session:
        _managed_device(session, device_id, who)
        device = registry.revoke_device(session, device_id=device_id)
        out = DeviceOut.model_validate(device, from_attributes=True)
    audited(request, who, AuditEntry("devices.revoke", resource_of(request), detail={"device": device_id}))
    return out


@router.get("/devices", response_model=list[DeviceOut], summary="Devices")
def list_devices(
    platform: PlatformDep,
    kind: str | None = Query(None, max_length=32),
    area_id: str | None = Query(None, max_length=32),
    limit: int = Query(1000, ge=1, le=10000),
    who: Principal = need(P.DEVICES_READ),
) -> list[DeviceOut]:
    """Devices of the caller's areas, filtered by kind and area."""
    stmt = select(Device).order_by(Device.id).limit(limit)
    if kind:
        stmt = stmt.where(Device.kind == kind)
    if area_id:
        who.require_area(area_id, what=f"area {area_id}")
        stmt = stmt.where(Device.area_id.in_(list(platform.security.areas.tree().expand([area_id]))))
    if not who.city_wide:
        stmt = stmt.where(Device.area_id.in_(list(who.areas)))
    with platform.session_factory() as session:
        return [DeviceOut.model_validate(d, from_attributes=True) for d in session.scalars(stmt)]


@router.get("/areas", response_model=list[AreaOut], summary="Districts, station areas and communities")
def list_areas(
    platform: PlatformDep,
    kind: str | None = Query(None, pattern="^(district|station|community)$"),
    _: Principal = need(P.AREAS_READ),
) -> list[AreaOut]:
    """Areas of the city."""
    stmt = select(Area).order_by(Area.id)
    if kind:
        stmt = stmt.where(Area.kind == kind)
    with platform.session_factory() as session:
        return [AreaOut.model_validate(a, from_attributes=True) for a in session.scalars(stmt)]


__all__ = ["NotFound", "person_out", "router"]
