"""Registering the simulated wanderers and tankers (sim.wanderers, sim.tankers) with a platform,
through its own use cases (the demo, the accuracy benchmark and their tests).

For each wanderer: a `tracker` device with its GT06 IMEI bound (local time, UTC+8, as many
locators send it), and the wearer enrolled with a consent, a guardian and a round safe zone. For
the tankers: petrol, a licensed depot at each origin (a permitted stop place, with stock produced)
and a licensed site at each destination, the planted restricted zones, a `tracker` with its JT/T
808 phone number bound, and each shipment planned and loaded (`register_shipments`: once per
plan; shipments left under way by an earlier plan are delivered first, so the trackers are free).
Everything is idempotent by device id and name: a demo restarted on the same data folder reuses
what it registered. Departures and deliveries are `perform` of the plan's actions, at their times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session

from safecity import registry
from safecity.core.context import SYSTEM
from safecity.platform import Platform
from safecity.sim.tankers import LOADED_T, UN_NUMBER, Action, Tanker, TankerPlan
from safecity.sim.wanderers import Wanderer, WandererPlan
from safecity.store import transaction
from safecity.tracking.errors import TrackingError
from safecity.tracking.hazmat_registry import HazmatRegistry
from safecity.tracking.hazmat_schemas import (
    DeliverIn,
    LoadIn,
    MovementIn,
    ProductIn,
    ShipmentIn,
    SiteIn,
    ZoneIn,
)
from safecity.tracking.shipments import Shipments
from safecity.tracking.stock import Stock
from safecity.tracking.wearer_schemas import ConsentIn, GuardianIn, WearerIn
from safecity.tracking.wearer_schemas import ZoneIn as SafeZoneIn
from safecity.tracking.wearers import Wearers

log = structlog.get_logger(__name__)

RESOURCE = "sim"
GT06_UTC_OFFSET_MINUTES = 480
CARRIER = "温州危运有限公司"


def _tracker(
    session: Session,
    device_id: str,
    area_id: str | None,
    lat: float,
    lon: float,
    *,
    protocol: str,
    terminal: str,
    offset: int,
    now: datetime,
) -> bool:
    """Register a tracker and bind its terminal; False when it exists already."""
    if registry.get_device(session, device_id=device_id) is not None:
        return False
    registry.create_device(
        session,
        device_id=device_id,
        kind="tracker",
        name=device_id,
        lat=lat,
        lon=lon,
        area_id=area_id,
        now=now,
    )
    registry.register_terminal(
        session, device_id=device_id, protocol=protocol, terminal=terminal, now=now, utc_offset_minutes=offset
    )
    return True


def wearer_body(w: Wanderer) -> WearerIn:
    """The enrolment of a wanderer: consent by the guardian, the guardian, the round safe zone."""
    return WearerIn(
        id_number=w.id_number,
        name=w.name,
        area_id=w.area_id or "",
        device_ids=[w.device_id],
        notes="dementia; walks to the park, the market and the day centre (simulated)",
        consent=ConsentIn(
            given_by_id_number=w.guardian_id_number,
            given_by_name=w.guardian_name,
            capacity="guardian",
            basis=f"form WZ-SIM-{w.n:04d}",
        ),
        guardians=[
            GuardianIn(
                id_number=w.guardian_id_number, name=w.guardian_name, relation="son", phone=w.guardian_phone
            )
        ],
        safe_zones=[
            SafeZoneIn(name="home and neighbourhood", lat=w.home[0], lon=w.home[1], radius_m=w.radius_m)
        ],
    )


def register_wanderers(platform: Platform, plan: WandererPlan) -> dict[int, int]:
    """Trackers and wearers of the plan (those not registered yet); wearer id by wanderer number."""
    now = platform.clock.now()
    wearers = platform.service(Wearers)
    worn = {d: w.id for w in wearers.wearers(SYSTEM, resource=RESOURCE) for d in w.device_ids}
    out: dict[int, int] = {}
    for w in plan.wanderers:
        if w.area_id is None:
            continue
        with transaction(platform.session_factory) as session:
            _tracker(
                session,
                w.device_id,
                w.area_id,
                w.home[0],
                w.home[1],
                protocol="gt06",
                terminal=w.imei,
                offset=GT06_UTC_OFFSET_MINUTES,
                now=now,
            )
        found = worn.get(w.device_id)
        if found is None:
            found = wearers.enrol(SYSTEM, wearer_body(w), resource=RESOURCE).id
        out[w.n] = found
    return out


def guardian_person_of(platform: Platform, device_id: str) -> int | None:
    """The registry person of the first guardian of the wearer wearing `device_id` (None: none)."""
    wearers = platform.service(Wearers)
    wearer = next((w for w in wearers.wearers(SYSTEM, resource=RESOURCE) if device_id in w.device_ids), None)
    if wearer is None:
        return None
    guardians = [g for g in wearers.guardians(SYSTEM, wearer.id, resource=RESOURCE) if g.removed_at is None]
    return guardians[0].person_id if guardians else None


def _site(hazmat: HazmatRegistry, known: dict[str, int], name: str, area: str, lat: float, lon: float) -> int:
    if name not in known:
        body = SiteIn(
            name=name, area_id=area, lat=lat, lon=lon, licence=f"浙危化经 {name}", permitted_un=[UN_NUMBER]
        )
        known[name] = hazmat.add_site(SYSTEM, body, resource=RESOURCE).id
    return known[name]


def _zone(
    hazmat: HazmatRegistry,
    known: set[tuple[str, str]],
    kind: str,
    category: str,
    name: str,
    area: str,
    geometry: dict[str, Any],
) -> None:
    if (kind, name) not in known:
        body = ZoneIn(kind=kind, category=category, name=name, area_id=area, geometry=geometry)
        hazmat.add_zone(SYSTEM, body, resource=RESOURCE)
        known.add((kind, name))


def register_tankers(platform: Platform, plan: TankerPlan) -> dict[int, tuple[int, int]]:
    """Petrol, trackers, sites (depots permitted to stop at), the restricted zones; sites by tanker."""
    now = platform.clock.now()
    hazmat = platform.service(HazmatRegistry)
    stock = platform.service(Stock)
    sites: dict[int, tuple[int, int]] = {}
    if not any(p.un_number == UN_NUMBER for p in hazmat.products(SYSTEM)):
        hazmat.add_product(
            SYSTEM,
            ProductIn(
                un_number=UN_NUMBER,
                name="汽油 petrol",
                hazard_class="3",
                packing_group="II",
                density_kg_per_l=0.74,
            ),
            resource=RESOURCE,
        )
    known_sites = {s.name: s.id for s in hazmat.sites(SYSTEM)}
    known_zones = {(z.kind, z.name) for z in hazmat.zones(SYSTEM)}
    for t in plan.tankers:
        if t.origin_area is None or t.destination_area is None:
            continue
        depot = _site(hazmat, known_sites, f"油库 {t.n:03d}", t.origin_area, *t.origin)
        works = _site(hazmat, known_sites, f"加油站 {t.n:03d}", t.destination_area, *t.destination)
        sites[t.n] = (depot, works)
        circle = {"type": "Circle", "center": [t.origin[1], t.origin[0]], "radius_m": 300}
        _zone(hazmat, known_zones, "permitted_stop", "depot", f"油库 {t.n:03d}", t.origin_area, circle)
    for name, ring in plan.zones:
        area = _area_of(plan, name)
        if area is not None:
            polygon = {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}
            _zone(hazmat, known_zones, "restricted", "school", name, area, polygon)
    with transaction(platform.session_factory) as session:
        for t in plan.tankers:
            _tracker(
                session,
                t.device_id,
                t.origin_area,
                t.origin[0],
                t.origin[1],
                protocol="jt808",
                terminal=t.phone,
                offset=0,
                now=now,
            )
    for t in plan.tankers:
        if t.n in sites:  # enough stock for a day of loads
            body = MovementIn(un_number=UN_NUMBER, kind="produced", quantity=LOADED_T * 2, unit="t")
            stock.record(SYSTEM, sites[t.n][0], body, resource=RESOURCE)
    return sites


def _area_of(plan: TankerPlan, zone_name: str) -> str | None:
    """The origin area of the tanker whose route the zone lies beside (zones are named by tanker)."""
    n = int(zone_name.rsplit(" ", 1)[-1])
    return next((t.origin_area for t in plan.tankers if t.n == n), None)


def register_shipments(
    platform: Platform, plan: TankerPlan, sites: dict[int, tuple[int, int]]
) -> dict[int, int]:
    """Each tanker's shipment planned and loaded (earlier ones still under way delivered first)."""
    shipments = platform.service(Shipments)
    _finish_leftovers(platform, [t.device_id for t in plan.tankers])
    out: dict[int, int] = {}
    for t in plan.tankers:
        if t.n not in sites:
            continue
        out[t.n] = _plan_one(shipments, t, sites[t.n])
    return out


def _plan_one(shipments: Shipments, t: Tanker, sites: tuple[int, int]) -> int:
    body = ShipmentIn(
        un_number=UN_NUMBER,
        quantity=LOADED_T,
        unit="t",
        consignor_site_id=sites[0],
        consignee_site_id=sites[1],
        carrier=CARRIER,
        plate=t.plate,
        device_id=t.device_id,
        terminal=t.phone,
        route={"type": "LineString", "coordinates": [list(p) for p in t.route]},
        depart_from=t.depart_from,
        depart_until=t.depart_until,
        arrive_from=t.arrive_from,
        arrive_until=t.arrive_until,
    )
    shipment = shipments.create(SYSTEM, body, resource=RESOURCE)
    shipments.load(SYSTEM, shipment.id, LoadIn(quantity=LOADED_T, unit="t"), resource=RESOURCE)
    return shipment.id


def _finish_leftovers(platform: Platform, devices: list[str]) -> None:
    """Deliver, as loaded, the shipments an earlier plan left under way on these trackers."""
    shipments = platform.service(Shipments)
    ours = set(devices)
    for status in ("loaded", "in_transit"):
        for left in shipments.shipments(SYSTEM, status=status):
            if left.device_id not in ours:
                continue
            if status == "loaded":
                shipments.depart(SYSTEM, left.id, resource=RESOURCE)
            body = DeliverIn(quantity=left.loaded_kg or 0, unit="kg")
            shipments.deliver(SYSTEM, left.id, body, resource=RESOURCE)


def perform(platform: Platform, action: Action, shipment_ids: dict[int, int]) -> None:
    """Depart or deliver a tanker's shipment, as the carrier's clerk would tell the platform."""
    shipment_id = shipment_ids.get(action.n)
    if shipment_id is None:
        return
    shipments = platform.service(Shipments)
    try:
        if action.what == "depart":
            shipments.depart(SYSTEM, shipment_id, resource=RESOURCE)
        else:
            body = DeliverIn(quantity=action.quantity_t, unit="t")
            shipments.deliver(SYSTEM, shipment_id, body, resource=RESOURCE)
    except TrackingError as exc:  # delivered already (a restarted demo), or not under way
        log.info("sim.shipment_action_skipped", shipment_id=shipment_id, action=action.what, reason=str(exc))


__all__ = [
    "GT06_UTC_OFFSET_MINUTES",
    "guardian_person_of",
    "perform",
    "register_shipments",
    "register_tankers",
    "register_wanderers",
    "wearer_body",
]
