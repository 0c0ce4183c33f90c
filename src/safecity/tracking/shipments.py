"""Shipments of dangerous goods: planned, loaded at the consignor, under way, delivered to the consignee.

Loading dispatches the quantity loaded from the consignor's stock and delivering receives the
quantity delivered into the consignee's, so the chain from production to use stays in the ledger
(stock). A shipment's vehicle is a registered tracker whose JT/T 808 terminal is bound to it
(registry/terminals); while the shipment is loaded or in transit its fixes are watched by the
`hazmat_*` rules (hazmat_rules), and its open warnings come with it when it is read.

Reach: the consignor's area plans, loads and departs a shipment; the consignor's or the
consignee's area delivers and reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.alerts.query import MAX_PAGE, AlertFilter
from safecity.core.audit import AuditEntry, Recorder
from safecity.core.context import Context
from safecity.core.ids import is_valid_plate
from safecity.registry.events import changed
from safecity.store import transaction
from safecity.tracking.hazmat_errors import HazmatConflict, HazmatError, HazmatNotFound
from safecity.tracking.hazmat_models import (
    SHIPMENT,
    HazmatSite,
    MovementKind,
    Shipment,
    ShipmentStatus,
)
from safecity.tracking.hazmat_registry import HAZMAT, MAX_LIST, require_product, require_site
from safecity.tracking.hazmat_schemas import (
    DeliverIn,
    LoadIn,
    ShipmentIn,
    ShipmentOut,
    WarningOut,
    planned_route,
    to_kg,
)
from safecity.tracking.stock import move

TRACKER = "tracker"
JT808 = "jt808"
ACTIVE = (ShipmentStatus.LOADED.value, ShipmentStatus.IN_TRANSIT.value)


class Shipments:
    """Plan, load, depart, deliver and read shipments."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        alerts: Any,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._alerts = alerts
        self._now = now

    def create(self, ctx: Context, body: ShipmentIn, *, resource: str) -> ShipmentOut:
        """Plan a shipment from a site of the caller's to a licensed consignee, on a tracked vehicle."""
        body.check()
        if not is_valid_plate(body.plate.upper()):
            raise HazmatError(f"{body.plate!r} is not a GA 36 plate such as 浙C12345", field="plate")
        route = planned_route(body.route)
        with transaction(self._sessions) as session:
            product = require_product(session, body.un_number)
            consignor = require_site(session, ctx, body.consignor_site_id, field="consignor_site_id")
            consignee = session.get(HazmatSite, body.consignee_site_id)
            if consignee is None:
                raise HazmatNotFound("site", body.consignee_site_id, field="consignee_site_id")
            if product.un_number not in consignee.permitted_un:
                raise HazmatError(
                    f"site {consignee.id} is not licensed for UN{product.un_number}",
                    field="consignee_site_id",
                )
            _require_tracker(session, body.device_id, body.terminal)
            shipment = Shipment(
                product_id=product.id,
                un_number=product.un_number,
                hazard_class=product.hazard_class,
                quantity=body.quantity,
                unit=body.unit,
                quantity_kg=to_kg(body.quantity, body.unit, product.density_kg_per_l),
                consignor_site_id=consignor.id,
                consignee_site_id=consignee.id,
                carrier=body.carrier,
                plate=body.plate.upper(),
                device_id=body.device_id,
                terminal=body.terminal,
                area_id=consignor.area_id,
                route=[list(p) for p in route.points],
                depart_from=body.depart_from,
                depart_until=body.depart_until,
                arrive_from=body.arrive_from,
                arrive_until=body.arrive_until,
                status=ShipmentStatus.PLANNED.value,
                created_at=self._now(),
                created_by=ctx.actor,
            )
            session.add(shipment)
            session.flush()
            changed(session, HAZMAT)
            out = _out(shipment)
        self._audit(ctx, "hazmat.shipment_create", resource, out.id, 201)
        return out

    def load(self, ctx: Context, shipment_id: int, body: LoadIn, *, resource: str) -> ShipmentOut:
        """Load a planned shipment: the quantity loaded leaves the consignor's stock."""
        with transaction(self._sessions) as session:
            shipment = _require(session, ctx, shipment_id, consignee_too=False)
            _require_status(shipment, ShipmentStatus.PLANNED, "loaded")
            busy = session.scalar(
                select(Shipment.id).where(
                    Shipment.device_id == shipment.device_id,
                    Shipment.status.in_(ACTIVE),
                    Shipment.id != shipment.id,
                )
            )
            if busy is not None:
                raise HazmatConflict(
                    f"tracker {shipment.device_id} is on shipment {busy}, not delivered yet",
                    field="device_id",
                )
            product = require_product(session, shipment.un_number)
            kg = to_kg(body.quantity, body.unit, product.density_kg_per_l)
            site = session.get(HazmatSite, shipment.consignor_site_id)
            assert site is not None  # a foreign key
            now = self._now()
            move(
                session,
                site=site,
                product=product,
                kind=MovementKind.DISPATCHED,
                quantity=body.quantity,
                unit=body.unit,
                kg=kg,
                at=now,
                by=ctx.actor,
                shipment_id=shipment.id,
            )
            shipment.loaded_kg, shipment.loaded_at = kg, now
            shipment.status = ShipmentStatus.LOADED.value
            changed(session, HAZMAT)
            out = _out(shipment)
        self._audit(ctx, "hazmat.shipment_load", resource, shipment_id, 200)
        return out

    def depart(self, ctx: Context, shipment_id: int, *, resource: str) -> ShipmentOut:
        """A loaded shipment sets off: from now on a silent terminal is a warning."""
        with transaction(self._sessions) as session:
            shipment = _require(session, ctx, shipment_id, consignee_too=False)
            _require_status(shipment, ShipmentStatus.LOADED, "departed")
            shipment.status, shipment.departed_at = ShipmentStatus.IN_TRANSIT.value, self._now()
            changed(session, HAZMAT)
            out = _out(shipment)
        self._audit(ctx, "hazmat.shipment_depart", resource, shipment_id, 200)
        return out

    def deliver(self, ctx: Context, shipment_id: int, body: DeliverIn, *, resource: str) -> ShipmentOut:
        """Deliver a loaded shipment: the quantity delivered enters the consignee's stock.

        A quantity different from the one loaded is accepted (it is what arrived) and warned of by
        `hazmat_quantity_mismatch`; delivering twice is a conflict.
        """
        with transaction(self._sessions) as session:
            shipment = _require(session, ctx, shipment_id, consignee_too=True)
            if shipment.status in (ShipmentStatus.DELIVERED, ShipmentStatus.CLOSED):
                raise HazmatConflict(f"shipment {shipment_id} is delivered already", field="status")
            if shipment.status not in ACTIVE:
                raise HazmatConflict(f"shipment {shipment_id} is not loaded yet", field="status")
            product = require_product(session, shipment.un_number)
            kg = to_kg(body.quantity, body.unit, product.density_kg_per_l)
            site = session.get(HazmatSite, shipment.consignee_site_id)
            assert site is not None  # a foreign key
            now = self._now()
            if kg > 0:
                move(
                    session,
                    site=site,
                    product=product,
                    kind=MovementKind.RECEIVED,
                    quantity=body.quantity,
                    unit=body.unit,
                    kg=kg,
                    at=now,
                    by=ctx.actor,
                    shipment_id=shipment.id,
                )
            shipment.delivered_kg, shipment.delivered_at = kg, now
            shipment.status = ShipmentStatus.DELIVERED.value
            changed(session, HAZMAT)
            out = _out(shipment)
        self._audit(ctx, "hazmat.shipment_deliver", resource, shipment_id, 200)
        return out

    def get(self, ctx: Context, shipment_id: int, *, resource: str) -> ShipmentOut:
        """One shipment with its planned route and its open warnings."""
        with self._sessions() as session:
            out = _out(_require(session, ctx, shipment_id, consignee_too=True))
        out.warnings = self._open_warnings(shipment_id)
        self._audit(ctx, "hazmat.shipment_read", resource, shipment_id, 200)
        return out

    def shipments(self, ctx: Context, *, status: str | None = None) -> list[ShipmentOut]:
        """Shipments from or to the caller's areas (of one status, if given), newest first."""
        with self._sessions() as session:
            stmt = select(Shipment).order_by(Shipment.id.desc())
            if status is not None:
                stmt = stmt.where(Shipment.status == status)
            if not ctx.city_wide:
                areas = sorted(ctx.areas)
                into = select(HazmatSite.id).where(HazmatSite.area_id.in_(areas))
                stmt = stmt.where(or_(Shipment.area_id.in_(areas), Shipment.consignee_site_id.in_(into)))
            return [_out(s) for s in session.scalars(stmt.limit(MAX_LIST))]

    def _open_warnings(self, shipment_id: int) -> list[WarningOut]:
        """Open alerts about the shipment, newest first."""
        about = AlertFilter(subject_kind=SHIPMENT, subject=str(shipment_id), open_only=True, limit=MAX_PAGE)
        return [
            WarningOut(
                alert_id=a.id,
                rule=a.rule,
                rule_kind=a.rule_kind,
                title=a.title,
                status=a.status,
                station_id=a.station_id,
                last_seen_at=a.last_seen_at,
            )
            for a in self._alerts.list_alerts(about)  # newest first
        ]

    def _audit(self, ctx: Context, action: str, resource: str, shipment_id: int, status: int) -> None:
        self._recorder.record(
            ctx, AuditEntry(action, resource, status=status, detail={"shipment": shipment_id})
        )


def _require_tracker(session: Session, device_id: str, terminal: str) -> None:
    """The device is a registered tracker and the JT/T 808 terminal is bound to it."""
    device = registry.get_device(session, device_id=device_id)
    if device is None:
        raise HazmatNotFound("device", device_id)
    if device.kind != TRACKER:
        raise HazmatError(f"device {device_id} is a {device.kind}, not a tracker", field="device_id")
    bound = registry.get_terminal(session, JT808, terminal)
    if bound is None or bound.device_id != device_id:
        raise HazmatError(f"JT/T 808 terminal {terminal} is not bound to {device_id}", field="terminal")


def _require(session: Session, ctx: Context, shipment_id: int, *, consignee_too: bool) -> Shipment:
    """A shipment within the caller's reach (the consignor's area, or also the consignee's)."""
    shipment = session.get(Shipment, shipment_id)
    if shipment is None:
        raise HazmatNotFound("shipment", shipment_id)
    areas: list[str | None] = [shipment.area_id]
    if consignee_too:
        consignee = session.get(HazmatSite, shipment.consignee_site_id)
        areas.append(consignee.area_id if consignee is not None else None)
    ctx.require_area(*areas, what=f"shipment {shipment_id}")
    return shipment


def shipment_in_reach(session: Session, ctx: Context, shipment_id: int) -> Shipment:
    """A shipment the caller may read (either end's area): 404 unknown, 403 out of reach."""
    return _require(session, ctx, shipment_id, consignee_too=True)


def _require_status(shipment: Shipment, want: ShipmentStatus, doing: str) -> None:
    if shipment.status != want:
        raise HazmatConflict(
            f"shipment {shipment.id} is {shipment.status}: only a {want.value} one can be {doing}",
            field="status",
        )


def _out(shipment: Shipment) -> ShipmentOut:
    data = {
        c: getattr(shipment, c) for c in ShipmentOut.model_fields if hasattr(Shipment, c) and c != "route"
    }
    difference = (
        shipment.delivered_kg - shipment.loaded_kg
        if shipment.delivered_kg is not None and shipment.loaded_kg is not None
        else None
    )
    return ShipmentOut(
        **data, route={"type": "LineString", "coordinates": shipment.route}, difference_kg=difference
    )


__all__ = ["ACTIVE", "Shipments", "shipment_in_reach"]
