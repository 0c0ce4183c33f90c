"""Registry routes: e-bikes, stolen reports and recoveries, devices and areas."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from safecity.registry import Area, Device, EBike, NotFound, WatchlistEntry, WatchStatus
from safecity.registry import service as registry
from safecity.registry.schemas import (
    AreaOut,
    BikeIn,
    BikeOut,
    CloseEntryIn,
    DeviceIn,
    DeviceOut,
    DeviceSecretOut,
    EntryOut,
    StolenIn,
)
from safecity.store import transaction
from safecity.web.deps import PlatformDep

router = APIRouter(prefix="/api/v1", tags=["registry"])


def mask_id_number(value: str) -> str:
    """330302********1234: enough to tell people apart at a glance, not enough to identify."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def _bike_out(bike: EBike) -> BikeOut:
    return BikeOut(
        id=bike.id,
        tag_id=bike.tag_id,
        frame_number=bike.frame_number,
        model=bike.model,
        colour=bike.colour,
        status=bike.status,
        owner_name=bike.owner.name,
        owner_id_number_masked=mask_id_number(bike.owner.id_number),
        registered_at=bike.registered_at,
    )


@router.post("/bikes", status_code=201, response_model=BikeOut, summary="Register an e-bike")
def register_bike(body: BikeIn, platform: PlatformDep) -> BikeOut:
    """Register a bike and its owner (created if new)."""
    reg = registry.BikeRegistration(**body.model_dump(exclude={"by"}))
    with transaction(platform.session_factory) as session:
        bike = registry.register_bike(session, reg=reg, by=body.by, now=platform.clock.now())
        session.refresh(bike)
        return _bike_out(bike)


@router.get("/bikes", response_model=list[BikeOut], summary="Find bikes by tag or frame number")
def find_bikes(
    platform: PlatformDep,
    tag: str | None = Query(None, max_length=16),
    frame: str | None = Query(None, max_length=32),
    limit: int = Query(50, ge=1, le=500),
) -> list[BikeOut]:
    """Look bikes up by tag id or frame number (exact)."""
    stmt = select(EBike).order_by(EBike.id).limit(limit)
    if tag:
        stmt = stmt.where(EBike.tag_id == tag.strip().upper())
    if frame:
        stmt = stmt.where(EBike.frame_number == frame.strip())
    with platform.session_factory() as session:
        return [_bike_out(b) for b in session.scalars(stmt)]


@router.get("/bikes/{bike_id}", response_model=BikeOut, summary="One bike")
def get_bike(bike_id: int, platform: PlatformDep) -> BikeOut:
    """A bike by id."""
    with platform.session_factory() as session:
        return _bike_out(registry.require_bike(session, bike_id=bike_id))


@router.post(
    "/bikes/{bike_id}/stolen", status_code=201, response_model=EntryOut, summary="Report a bike stolen"
)
async def report_stolen(bike_id: int, body: StolenIn, platform: PlatformDep) -> EntryOut:
    """List the bike so that any base station reading its tag raises an alarm."""
    with transaction(platform.session_factory) as session:
        entry = registry.report_stolen(
            session, bike_id=bike_id, now=platform.clock.now(), **body.model_dump()
        )
        out = EntryOut.model_validate(entry, from_attributes=True)
    await platform.registry_changed("watchlist")
    return out


@router.post(
    "/watchlist/{entry_id}/close",
    response_model=EntryOut,
    summary="Close a stolen-bike entry (recovered or withdrawn)",
)
async def close_entry(entry_id: int, body: CloseEntryIn, platform: PlatformDep) -> EntryOut:
    """Stop matching the entry at once."""
    with transaction(platform.session_factory) as session:
        entry = registry.close_entry(
            session,
            entry_id=entry_id,
            status=WatchStatus(body.status),
            by=body.by,
            note=body.note,
            now=platform.clock.now(),
        )
        out = EntryOut.model_validate(entry, from_attributes=True)
    await platform.registry_changed("watchlist")
    return out


@router.get("/watchlist", response_model=list[EntryOut], summary="Watchlist entries")
def list_entries(
    platform: PlatformDep,
    status: str | None = Query(None, pattern="^(active|recovered|withdrawn)$"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[EntryOut]:
    """Entries, newest first."""
    stmt = select(WatchlistEntry).order_by(WatchlistEntry.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(WatchlistEntry.status == status)
    with platform.session_factory() as session:
        return [EntryOut.model_validate(e, from_attributes=True) for e in session.scalars(stmt)]


@router.post("/devices", status_code=201, response_model=DeviceSecretOut, summary="Register a device")
async def create_device(body: DeviceIn, platform: PlatformDep) -> DeviceSecretOut:
    """Register a device and return its secret (shown only this once)."""
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
    await platform.registry_changed("devices")
    return DeviceSecretOut(device=out, secret=secret)


@router.post("/devices/{device_id}/secret", response_model=DeviceSecretOut, summary="Rotate a device secret")
async def rotate_secret(device_id: str, platform: PlatformDep) -> DeviceSecretOut:
    """Issue a new secret; the old one stops working at once."""
    with transaction(platform.session_factory) as session:
        secret = registry.rotate_device_secret(session, device_id=device_id)
        device = session.get(Device, device_id)
        out = DeviceOut.model_validate(device, from_attributes=True)
    await platform.registry_changed("devices")
    return DeviceSecretOut(device=out, secret=secret)


@router.get("/devices", response_model=list[DeviceOut], summary="Devices")
def list_devices(
    platform: PlatformDep,
    kind: str | None = Query(None, max_length=32),
    area_id: str | None = Query(None, max_length=32),
    limit: int = Query(1000, ge=1, le=10000),
) -> list[DeviceOut]:
    """Devices, filtered by kind and area."""
    stmt = select(Device).order_by(Device.id).limit(limit)
    if kind:
        stmt = stmt.where(Device.kind == kind)
    if area_id:
        stmt = stmt.where(Device.area_id == area_id)
    with platform.session_factory() as session:
        return [DeviceOut.model_validate(d, from_attributes=True) for d in session.scalars(stmt)]


@router.get("/areas", response_model=list[AreaOut], summary="Districts, station areas and communities")
def list_areas(
    platform: PlatformDep, kind: str | None = Query(None, pattern="^(district|station|community)$")
) -> list[AreaOut]:
    """Areas of the city."""
    stmt = select(Area).order_by(Area.id)
    if kind:
        stmt = stmt.where(Area.kind == kind)
    with platform.session_factory() as session:
        return [AreaOut.model_validate(a, from_attributes=True) for a in session.scalars(stmt)]


__all__ = ["NotFound", "mask_id_number", "router"]
