"""Hazardous-chemical routes: products, storage sites and their stock ledger, restricted zones and
permitted stop places, and shipments (plan, load, depart, deliver, read with route and warnings).

Thin: the use cases (tracking/hazmat_registry.py, stock.py, shipments.py) check the caller's
areas, refuse bad input naming the field, and audit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.tracking.hazmat_registry import HazmatRegistry
from safecity.tracking.hazmat_schemas import (
    CountIn,
    CountOut,
    DeliverIn,
    LoadIn,
    MovementIn,
    MovementOut,
    ProductIn,
    ProductOut,
    ShipmentIn,
    ShipmentOut,
    SiteIn,
    SiteOut,
    StockLine,
    ZoneIn,
    ZoneOut,
)
from safecity.tracking.shipment_track import ShipmentLedgerOut, ShipmentTrackOut, ShipmentTracks
from safecity.tracking.shipments import Shipments
from safecity.tracking.stock import Stock
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep

router = APIRouter(prefix="/api/v1/hazmat", tags=["hazmat"])

SiteId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ShipmentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Status = Literal["planned", "loaded", "in_transit", "delivered", "closed"]


@router.post("/products", status_code=201, response_model=ProductOut, summary="Register a product")
def add_product(
    body: ProductIn, platform: PlatformDep, request: Request, who: Principal = need(P.HAZMAT_MANAGE)
) -> ProductOut:
    """A dangerous good by UN number, hazard class and packing group."""
    return platform.service(HazmatRegistry).add_product(who.context(), body, resource=resource_of(request))


@router.get("/products", response_model=list[ProductOut], summary="Products")
def list_products(platform: PlatformDep, who: Principal = need(P.HAZMAT_READ)) -> list[ProductOut]:
    """Every registered product, by UN number."""
    return platform.service(HazmatRegistry).products(who.context())


@router.post("/sites", status_code=201, response_model=SiteOut, summary="Register a storage site")
def add_site(
    body: SiteIn, platform: PlatformDep, request: Request, who: Principal = need(P.HAZMAT_MANAGE)
) -> SiteOut:
    """A licensed site in an area of the caller's, with the UN numbers it may hold."""
    return platform.service(HazmatRegistry).add_site(who.context(), body, resource=resource_of(request))


@router.get("/sites", response_model=list[SiteOut], summary="Storage sites of my areas")
def list_sites(platform: PlatformDep, who: Principal = need(P.HAZMAT_READ)) -> list[SiteOut]:
    """Sites in the caller's areas."""
    return platform.service(HazmatRegistry).sites(who.context())


@router.post(
    "/sites/{site_id}/movements",
    status_code=201,
    response_model=MovementOut,
    summary="Record stock made or used",
)
def record_movement(
    site_id: SiteId,
    body: MovementIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.HAZMAT_MANAGE),
) -> MovementOut:
    """Stock produced, used or adjusted at the site (shipments record their own lines)."""
    return platform.service(Stock).record(who.context(), site_id, body, resource=resource_of(request))


@router.get("/sites/{site_id}/movements", response_model=list[MovementOut], summary="A site's stock ledger")
def list_movements(
    site_id: SiteId, platform: PlatformDep, request: Request, who: Principal = need(P.HAZMAT_READ)
) -> list[MovementOut]:
    """The site's ledger lines, oldest first."""
    return platform.service(Stock).ledger(who.context(), site_id, resource=resource_of(request))


@router.get("/sites/{site_id}/stock", response_model=list[StockLine], summary="A site's stock")
def site_stock(
    site_id: SiteId, platform: PlatformDep, request: Request, who: Principal = need(P.HAZMAT_READ)
) -> list[StockLine]:
    """The site's stock per product: its ledger summed."""
    return platform.service(Stock).stock(who.context(), site_id, resource=resource_of(request))


@router.post("/sites/{site_id}/counts", status_code=201, response_model=CountOut, summary="Reconcile a count")
def count_stock(
    site_id: SiteId,
    body: CountIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.HAZMAT_MANAGE),
) -> CountOut:
    """A physical count beside the ledger's stock; a difference past tolerance is warned of."""
    return platform.service(Stock).count(who.context(), site_id, body, resource=resource_of(request))


@router.post("/zones", status_code=201, response_model=ZoneOut, summary="Register a restricted or stop zone")
def add_zone(
    body: ZoneIn, platform: PlatformDep, request: Request, who: Principal = need(P.HAZMAT_MANAGE)
) -> ZoneOut:
    """A restricted zone (Polygon) or a permitted stop place (Polygon or Circle)."""
    return platform.service(HazmatRegistry).add_zone(who.context(), body, resource=resource_of(request))


@router.get("/zones", response_model=list[ZoneOut], summary="Zones of my areas")
def list_zones(
    platform: PlatformDep,
    kind: Annotated[Literal["restricted", "permitted_stop"] | None, Query()] = None,
    who: Principal = need(P.HAZMAT_READ),
) -> list[ZoneOut]:
    """Restricted zones and permitted stop places in the caller's areas."""
    return platform.service(HazmatRegistry).zones(who.context(), kind=kind)


@router.post("/shipments", status_code=201, response_model=ShipmentOut, summary="Plan a shipment")
def create_shipment(
    body: ShipmentIn, platform: PlatformDep, request: Request, who: Principal = need(P.HAZMAT_MANAGE)
) -> ShipmentOut:
    """A shipment from a site of the caller's, on a tracked vehicle, along a planned route."""
    return platform.service(Shipments).create(who.context(), body, resource=resource_of(request))


@router.get("/shipments", response_model=list[ShipmentOut], summary="Shipments from or to my areas")
def list_shipments(
    platform: PlatformDep,
    status: Annotated[Status | None, Query()] = None,
    who: Principal = need(P.HAZMAT_READ),
) -> list[ShipmentOut]:
    """Shipments whose consignor or consignee is in the caller's areas, newest first."""
    return platform.service(Shipments).shipments(who.context(), status=status)


@router.get("/shipments/{shipment_id}", response_model=ShipmentOut, summary="A shipment")
def get_shipment(
    shipment_id: ShipmentId, platform: PlatformDep, request: Request, who: Principal = need(P.HAZMAT_READ)
) -> ShipmentOut:
    """One shipment with its planned route (GeoJSON) and its open warnings."""
    return platform.service(Shipments).get(who.context(), shipment_id, resource=resource_of(request))


@router.get(
    "/shipments/{shipment_id}/fixes", response_model=ShipmentTrackOut, summary="A shipment's vehicle fixes"
)
def shipment_fixes(
    shipment_id: ShipmentId,
    platform: PlatformDep,
    request: Request,
    start: Annotated[AwareDatetime | None, Query(description="Only fixes from this time on.")] = None,
    who: Principal = need(P.HAZMAT_READ),
) -> ShipmentTrackOut:
    """The vehicle's fixes from the loading to the delivery (or now), oldest first: the map's path."""
    when: datetime | None = start
    return platform.service(ShipmentTracks).fixes(
        who.context(), shipment_id, start=when, resource=resource_of(request)
    )


@router.get(
    "/shipments/{shipment_id}/movements", response_model=ShipmentLedgerOut, summary="A shipment's ledger"
)
def shipment_movements(
    shipment_id: ShipmentId, platform: PlatformDep, request: Request, who: Principal = need(P.HAZMAT_READ)
) -> ShipmentLedgerOut:
    """The shipment's product, both sites and its own stock movements (dispatch, receipt)."""
    return platform.service(ShipmentTracks).ledger(who.context(), shipment_id, resource=resource_of(request))


@router.post("/shipments/{shipment_id}/load", response_model=ShipmentOut, summary="Load a shipment")
def load_shipment(
    shipment_id: ShipmentId,
    body: LoadIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.HAZMAT_MANAGE),
) -> ShipmentOut:
    """The quantity loaded leaves the consignor's stock; the vehicle is watched from now on."""
    return platform.service(Shipments).load(who.context(), shipment_id, body, resource=resource_of(request))


@router.post("/shipments/{shipment_id}/depart", response_model=ShipmentOut, summary="A shipment sets off")
def depart_shipment(
    shipment_id: ShipmentId, platform: PlatformDep, request: Request, who: Principal = need(P.HAZMAT_MANAGE)
) -> ShipmentOut:
    """The loaded shipment is in transit: a silent terminal is now a warning."""
    return platform.service(Shipments).depart(who.context(), shipment_id, resource=resource_of(request))


@router.post("/shipments/{shipment_id}/deliver", response_model=ShipmentOut, summary="Deliver a shipment")
def deliver_shipment(
    shipment_id: ShipmentId,
    body: DeliverIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.HAZMAT_MANAGE),
) -> ShipmentOut:
    """The quantity delivered enters the consignee's stock; delivering twice is 409."""
    return platform.service(Shipments).deliver(
        who.context(), shipment_id, body, resource=resource_of(request)
    )
