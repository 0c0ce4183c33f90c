"""Places routes: compounds, buildings, flats and landlords (community officers), tenants (landlords too).

A landlord's own view is `/my/flats`; everything else is bounded by the caller's areas. The use
cases (places/housing.py) check who may act on which flat and audit every change and read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.places import Places
from safecity.places.schemas import (
    BuildingIn,
    BuildingOut,
    CheckOutIn,
    CompoundIn,
    CompoundOut,
    FlatIn,
    FlatOut,
    LandlordIn,
    LandlordOut,
    RegisteredOut,
    TenantIn,
    TenantOut,
)
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep, RowId

router = APIRouter(prefix="/api/v1", tags=["places"])
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post("/compounds", status_code=201, response_model=CompoundOut, summary="Register a compound")
def add_compound(
    body: CompoundIn, platform: PlatformDep, request: Request, who: Principal = need(P.PLACES_MANAGE)
) -> CompoundOut:
    """A compound (小区) in a community of the caller's areas."""
    return platform.service(Places).add_compound(who.context(), body, resource=resource_of(request))


@router.get("/compounds", response_model=list[CompoundOut], summary="Compounds of my areas")
def list_compounds(
    platform: PlatformDep,
    community_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 500,
    who: Principal = need(P.PLACES_READ),
) -> list[CompoundOut]:
    """Compounds of the caller's areas, by id."""
    return platform.service(Places).compounds(who.context(), community_id=community_id, limit=limit)


@router.post("/buildings", status_code=201, response_model=BuildingOut, summary="Register a building")
def add_building(
    body: BuildingIn, platform: PlatformDep, request: Request, who: Principal = need(P.PLACES_MANAGE)
) -> BuildingOut:
    """A building of a compound of the caller's areas."""
    return platform.service(Places).add_building(who.context(), body, resource=resource_of(request))


@router.post("/flats", status_code=201, response_model=FlatOut, summary="Register a flat")
def add_flat(
    body: FlatIn, platform: PlatformDep, request: Request, who: Principal = need(P.PLACES_MANAGE)
) -> FlatOut:
    """A flat of a building of the caller's areas, with its capacity and landlord."""
    return platform.service(Places).add_flat(who.context(), body, resource=resource_of(request))


@router.get("/flats", response_model=list[FlatOut], summary="Flats of my areas, with occupancy")
def list_flats(
    platform: PlatformDep,
    compound_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 200,
    who: Principal = need(P.PLACES_READ),
) -> list[FlatOut]:
    """Flats with their open tenancies against capacity."""
    return platform.service(Places).flats(who.context(), compound_id=compound_id, limit=limit)


@router.get("/my/flats", response_model=list[FlatOut], summary="The flats I let, with occupancy")
def my_flats(
    platform: PlatformDep, limit: Limit = 200, who: Principal = need(P.TENANTS_REGISTER)
) -> list[FlatOut]:
    """A landlord's own flats (an officer's: those of their areas)."""
    return platform.service(Places).flats(who.context(), limit=limit)


@router.post("/landlords", status_code=201, response_model=LandlordOut, summary="Register a landlord")
def add_landlord(
    body: LandlordIn, platform: PlatformDep, request: Request, who: Principal = need(P.PLACES_MANAGE)
) -> LandlordOut:
    """A landlord (a person) and the landlord account they use the app with."""
    return platform.service(Places).add_landlord(who.context(), body, resource=resource_of(request))


@router.post(
    "/flats/{flat_id}/tenants", status_code=201, response_model=RegisteredOut, summary="Register a tenant"
)
def register_tenant(
    flat_id: RowId,
    body: TenantIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.TENANTS_REGISTER),
) -> RegisteredOut:
    """From an identity-card reader's fields (or typed); the tenant's card opens the doors at once."""
    return platform.service(Places).register_tenant(
        who.context(), flat_id, body, resource=resource_of(request)
    )


@router.get("/flats/{flat_id}/tenants", response_model=list[TenantOut], summary="Who lives in a flat")
def flat_tenants(
    flat_id: RowId,
    platform: PlatformDep,
    request: Request,
    ended: bool = False,
    who: Principal = need(P.TENANTS_READ),
) -> list[TenantOut]:
    """Open tenancies (with `ended`, past ones too), numbers masked; the read is audited."""
    return platform.service(Places).tenants(
        who.context(), flat_id, ended=ended, resource=resource_of(request)
    )


@router.post("/tenancies/{tenancy_id}/check-out", response_model=TenantOut, summary="Check a tenant out")
def check_out(
    tenancy_id: RowId,
    body: CheckOutIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.TENANTS_REGISTER),
) -> TenantOut:
    """End a tenancy: the tenant's card stops opening the doors."""
    return platform.service(Places).check_out(who.context(), tenancy_id, body, resource=resource_of(request))
