"""Dispatch orders (派单): one action sends an incident's run card to every department on it; each
order is then accepted, driven, reached and reported on from the handset, and the commander sees
which are late.

`dispatch` is all or nothing: each line of the card that needs a unit takes the unit the
dispatcher chose (with the version they saw) or else the quickest available unit of that
department in reach (`recommend.rank`); a line with no unit available goes to the department's
desk, saying so. If another dispatcher took a chosen unit meanwhile, nothing is issued and the
dispatcher is told who has it (decision 0014).

An order moves issued -> accepted -> en route -> on scene -> reported (or cancelled before it is
reported); its unit's status follows, and the first unit on scene marks the incident's arrival.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.audit import AuditEntry
from safecity.core.context import Context
from safecity.dispatch import recommend
from safecity.dispatch.coverage import Coverage
from safecity.dispatch.errors import DispatchConflict, DispatchError, DispatchNotFound
from safecity.dispatch.incidents import LIVE, note, require_incident
from safecity.dispatch.models import (
    OPEN_ORDERS,
    Incident,
    IncidentStatus,
    Order,
    OrderStatus,
    Unit,
    UnitStatus,
)
from safecity.dispatch.network import Unsnappable
from safecity.dispatch.runcards import card_for
from safecity.dispatch.schemas import Candidate, OrderOut, OrderUpdateIn
from safecity.dispatch.service import DispatchService
from safecity.dispatch.units import NEXT as UNIT_NEXT
from safecity.dispatch.units import change_status, crews
from safecity.store import transaction

OS = OrderStatus
NEXT: dict[str, frozenset[str]] = {
    OS.ISSUED: frozenset({OS.ACCEPTED, OS.CANCELLED}),
    OS.ACCEPTED: frozenset({OS.EN_ROUTE, OS.ON_SCENE, OS.REPORTED, OS.CANCELLED}),
    OS.EN_ROUTE: frozenset({OS.ON_SCENE, OS.CANCELLED}),
    OS.ON_SCENE: frozenset({OS.REPORTED}),
    OS.REPORTED: frozenset(),
    OS.CANCELLED: frozenset(),
}
# What a unit becomes when its order reaches a status.
UNIT_FOLLOWS: dict[str, UnitStatus] = {
    OS.EN_ROUTE: UnitStatus.EN_ROUTE,
    OS.ON_SCENE: UnitStatus.ON_SCENE,
    OS.REPORTED: UnitStatus.RETURNING,
    OS.CANCELLED: UnitStatus.AVAILABLE,
}
_STAMP: dict[str, str] = {
    OS.ACCEPTED: "accepted_at",
    OS.EN_ROUTE: "en_route_at",
    OS.ON_SCENE: "on_scene_at",
    OS.REPORTED: "reported_at",
    OS.CANCELLED: "cancelled_at",
}


class Orders(DispatchService):
    """Issue, update and follow dispatch orders."""

    def candidates(
        self, ctx: Context, incident_id: int, *, department: str | None = None, effects: int = 5
    ) -> list[Candidate]:
        """The available units in reach that could go, quickest first; the first `effects` road
        units with what their departure does to their district's 5-minute coverage."""
        with self._sessions() as session:
            incident = require_incident(session, ctx, incident_id)
            ranked = self._rank(session, ctx, incident, department)
        leaving = [c.unit_id for c in ranked if not c.by_air][:effects]
        if leaving:
            coverage = Coverage(self._sessions, self._recorder, self._network, now=self._now)
            found = coverage.departure_effects(ctx, leaving)
            for candidate in ranked:
                if candidate.unit_id in found:
                    district, now, without = found[candidate.unit_id]
                    candidate.district, candidate.coverage_now, candidate.coverage_without = (
                        district,
                        now,
                        without,
                    )
        return ranked

    def _rank(
        self, session: Session, ctx: Context, incident: Incident, department: str | None
    ) -> list[Candidate]:
        query = select(Unit).where(Unit.status.in_((UnitStatus.AVAILABLE.value, UnitStatus.RETURNING.value)))
        if department is not None:
            query = query.where(Unit.department == department)
        if not ctx.city_wide:
            query = query.where(Unit.area_id.in_(ctx.areas))
        units = list(session.scalars(query))
        network = self._network()
        try:
            place = network.snap(incident.lat, incident.lon)
        except Unsnappable as exc:  # the network changed since the incident was taken
            raise DispatchError(f"incident {incident.id}: {exc}", field="incident_id") from exc
        return recommend.rank(network, place, units, self._now())

    def dispatch(
        self,
        ctx: Context,
        incident_id: int,
        *,
        units: Mapping[str, str] | None = None,
        versions: Mapping[str, int] | None = None,
        resource: str,
    ) -> list[OrderOut]:
        """Send the incident's run card: one order per line, in one transaction (module docstring)."""
        chosen, versions = dict(units or {}), dict(versions or {})
        now = self._now()
        with transaction(self._sessions) as session:
            incident = require_incident(session, ctx, incident_id)
            if incident.status not in LIVE:
                raise DispatchConflict(f"incident {incident_id} is {incident.status}", field="incident_id")
            card = card_for(incident.kind)
            unknown = set(chosen) - {line.department for line in card.lines if line.unit}
            if unknown:
                raise DispatchError(
                    f"the {card.kind} run card sends no unit of {', '.join(sorted(unknown))}", field="units"
                )
            issued = []
            for line in card.lines:
                order = Order(
                    incident_id=incident.id,
                    department=line.department,
                    task=line.task,
                    deadline_at=now + timedelta(minutes=line.deadline_min),
                    status=OS.ISSUED.value,
                    issued_at=now,
                    issued_by=ctx.actor,
                    report="",
                    notes=[],
                )
                if line.unit:
                    unit, eta = self._unit_for(
                        session, ctx, incident, line.department, chosen.get(line.department)
                    )
                    if unit is None:
                        order.desk = line.department
                        order.notes = [{"at": now.isoformat(), "by": "system", "text": "no unit available"}]
                    else:
                        change_status(
                            session,
                            unit,
                            UnitStatus.ASSIGNED,
                            at=now,
                            expected_version=versions.get(line.department),
                            incident_id=incident.id,
                        )
                        order.unit_id, order.eta_s = unit.id, eta
                else:
                    order.desk = line.department
                session.add(order)
                session.flush()
                note(
                    session,
                    incident.id,
                    ctx.actor,
                    now,
                    "order_issued",
                    order=order.id,
                    department=line.department,
                    unit=order.unit_id,
                    desk=order.desk,
                )
                issued.append(order)
            if incident.dispatched_at is None:
                incident.dispatched_at = now
            if incident.status == IncidentStatus.OPEN:
                incident.status = IncidentStatus.DISPATCHED.value
            out = [order_out(o, now) for o in issued]
        self._recorder.record(
            ctx,
            AuditEntry(
                "dispatch.orders_issue",
                resource,
                status=201,
                detail={"incident": incident_id, "orders": [o.id for o in out]},
            ),
        )
        return out

    def _unit_for(
        self, session: Session, ctx: Context, incident: Incident, department: str, chosen: str | None
    ) -> tuple[Unit | None, float | None]:
        ranked = self._rank(session, ctx, incident, department)
        if chosen is None:
            if not ranked:
                return None, None
            best = ranked[0]
            return session.get(Unit, best.unit_id), best.eta_s
        unit = session.get(Unit, chosen)
        if unit is None:
            raise DispatchNotFound("unit", chosen, field="units")
        ctx.require_area(unit.area_id, what=f"unit {chosen}")
        if unit.department != department:
            raise DispatchError(f"unit {chosen} is {unit.department}, not {department}", field="units")
        if unit.status == UnitStatus.OFF_DUTY:
            raise DispatchError(f"unit {chosen} is off duty", field="units")
        eta = next((c.eta_s for c in ranked if c.unit_id == chosen), None)
        return unit, eta

    def update(self, ctx: Context, order_id: int, body: OrderUpdateIn, *, resource: str) -> OrderOut:
        """A status change, a note or the report back, from the order's unit or a dispatcher."""
        now = self._now()
        with transaction(self._sessions) as session:
            order = session.get(Order, order_id)
            if order is None:
                raise DispatchNotFound("order", order_id)
            incident = session.get(Incident, order.incident_id)
            assert incident is not None  # a foreign key
            own = order.unit_id is not None and crews(session, ctx.actor, order.unit_id)
            if not own:
                ctx.require_area(incident.area_id, what=f"order {order_id}")
            status = body.status.value
            if status != order.status:
                if status not in NEXT[order.status]:
                    allowed = ", ".join(sorted(NEXT[order.status])) or "nothing (it is finished)"
                    raise DispatchError(
                        f"order {order_id} is {order.status}: it can become {allowed}, not {status}",
                        field="status",
                    )
                if status == OS.REPORTED and not body.report.strip():
                    raise DispatchError("a report back is needed to finish the order", field="report")
                order.status = status
                setattr(order, _STAMP[status], now)
                if order.unit_id is not None and status in UNIT_FOLLOWS:
                    self._unit_follows(session, order.unit_id, UNIT_FOLLOWS[status], now)
                if status == OS.ON_SCENE and incident.arrived_at is None and order.unit_id is not None:
                    incident.arrived_at = now
                    incident.status = IncidentStatus.ON_SCENE.value
                note(
                    session,
                    incident.id,
                    ctx.actor,
                    now,
                    f"order_{status}",
                    order=order.id,
                    unit=order.unit_id,
                )
            if body.report.strip():
                order.report = body.report.strip()
            if body.note.strip():
                order.notes = [
                    *order.notes,
                    {"at": now.isoformat(), "by": ctx.actor, "text": body.note.strip()},
                ]
                note(
                    session, incident.id, ctx.actor, now, "order_note", order=order.id, text=body.note.strip()
                )
            out = order_out(order, now)
        self._recorder.record(
            ctx,
            AuditEntry(
                "dispatch.order_update", resource, detail={"order": order_id, "status": body.status.value}
            ),
        )
        return out

    @staticmethod
    def _unit_follows(session: Session, unit_id: str, status: UnitStatus, now: datetime) -> None:
        unit = session.get(Unit, unit_id)
        assert unit is not None
        if unit.status == status:
            return
        if status.value not in UNIT_NEXT[unit.status]:
            raise DispatchError(
                f"unit {unit_id} is {unit.status}: it cannot become {status.value}", field="status"
            )
        change_status(session, unit, status, at=now, expected_version=None)
        if status == UnitStatus.AVAILABLE:
            session.refresh(unit)
            unit.incident_id = None

    def of_incident(self, ctx: Context, incident_id: int) -> list[OrderOut]:
        with self._sessions() as session:
            require_incident(session, ctx, incident_id)
            now = self._now()
            rows = session.scalars(select(Order).where(Order.incident_id == incident_id).order_by(Order.id))
            return [order_out(o, now) for o in rows]

    def of_unit(self, ctx: Context, unit_id: str) -> list[OrderOut]:
        """A unit's open orders (its handset's list): the unit itself, or a dispatcher in reach."""
        with self._sessions() as session:
            unit = session.get(Unit, unit_id)
            if unit is None:
                raise DispatchNotFound("unit", unit_id)
            if ctx.actor not in unit.crew:
                ctx.require_area(unit.area_id, what=f"unit {unit_id}")
            now = self._now()
            rows = session.scalars(
                select(Order)
                .where(Order.unit_id == unit_id, Order.status.in_(OPEN_ORDERS))
                .order_by(Order.id)
            )
            return [order_out(o, now) for o in rows]

    def late(self, ctx: Context) -> list[OrderOut]:
        """Orders past their deadline and not finished, in the caller's areas, most overdue first."""
        now = self._now()
        query = (
            select(Order)
            .join(Incident, Incident.id == Order.incident_id)
            .where(Order.status.in_(OPEN_ORDERS), Order.deadline_at < now)
            .order_by(Order.deadline_at)
        )
        if not ctx.city_wide:
            query = query.where(Incident.area_id.in_(ctx.areas))
        with self._sessions() as session:
            return [order_out(o, now) for o in session.scalars(query)]


def order_out(order: Order, now: datetime) -> OrderOut:
    done = order.status in (OS.REPORTED.value, OS.CANCELLED.value)
    return OrderOut(
        id=order.id,
        incident_id=order.incident_id,
        department=order.department,
        unit_id=order.unit_id,
        desk=order.desk,
        task=order.task,
        status=order.status,
        deadline_at=order.deadline_at,
        late=not done and order.deadline_at < now,
        issued_at=order.issued_at,
        accepted_at=order.accepted_at,
        en_route_at=order.en_route_at,
        on_scene_at=order.on_scene_at,
        reported_at=order.reported_at,
        report=order.report,
        notes=list(order.notes),
        eta_s=order.eta_s,
    )


__all__ = ["NEXT", "Orders", "order_out"]
