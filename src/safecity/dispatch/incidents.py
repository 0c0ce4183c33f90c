"""Incidents: taken from a 110 call, a handset report or another system; duplicates found and
merged; a timeline of everything that happened to each; closed with an outcome.

A location must lie on the city's road network (a unit has to get there): a point at sea or
outside the network is refused with its distance to the nearest road. It must also fall in one
of the city's areas, which gives the incident's reach. A new incident lists the open incidents of
the same type within `DUPLICATE_M` and `DUPLICATE_WINDOW` as possible duplicates: the call taker
decides and merges (the duplicate's orders and units move to the incident it joins).
"""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.audit import AuditEntry
from safecity.core.context import Context
from safecity.core.geo import distance_m
from safecity.core.masking import mask_phone
from safecity.dispatch.errors import DispatchConflict, DispatchError, DispatchNotFound
from safecity.dispatch.models import (
    OPEN_ORDERS,
    Incident,
    IncidentEvent,
    IncidentSource,
    IncidentStatus,
    Order,
    OrderStatus,
    Unit,
    UnitStatus,
)
from safecity.dispatch.network import Unsnappable
from safecity.dispatch.runcards import card_for
from safecity.dispatch.schemas import IncidentIn, IncidentOut, TimelineEntry
from safecity.dispatch.service import DispatchService
from safecity.dispatch.units import change_status
from safecity.registry.area_import import AreaLocator
from safecity.store import transaction

DUPLICATE_M = 300.0
PRIORITY_OF_SEVERITY = {"critical": 1, "high": 1, "medium": 2, "low": 3}
# What an escalated alert is, by its rule's kind (then its name): the incident type and so the run card.
_KIND_OF_RULE = (
    ("hotlist", "theft"),
    ("shop_breach", "burglary_in_progress"),
    ("intrusion", "burglary_in_progress"),
    ("wearer_", "missing_person"),
    ("missing", "missing_person"),
    ("fraud", "fraud_warning"),
)


def kind_for_rule(rule_kind: str, rule: str) -> str:
    """The incident type an alert of this rule becomes ("other" when none fits)."""
    for prefix, kind in _KIND_OF_RULE:
        if rule_kind.startswith(prefix) or rule.startswith(prefix):
            return kind
    return "other"


DUPLICATE_WINDOW = timedelta(minutes=30)
LIVE = (IncidentStatus.OPEN.value, IncidentStatus.DISPATCHED.value, IncidentStatus.ON_SCENE.value)


class Incidents(DispatchService):
    """Take, read, merge and close incidents; escalate alerts to them."""

    _alerts: Any = None  # the alert service (`escalate`), set by `build`

    @classmethod
    def build(cls, platform: Any) -> Incidents:
        incidents = super().build(platform)
        incidents._alerts = platform.alerts
        return incidents

    def create(
        self,
        ctx: Context,
        body: IncidentIn,
        *,
        resource: str,
        alert_id: str | None = None,
        corr: str | None = None,
    ) -> IncidentOut:
        """Take an incident (see the module docstring for what is checked)."""
        try:
            self._network().snap(body.lat, body.lon)
        except Unsnappable as exc:
            raise DispatchError(str(exc), field="lat") from exc
        now = self._now()
        reported = body.reported_at or now
        if reported > now + timedelta(minutes=1):
            raise DispatchError("the call cannot come in after now", field="reported_at")
        card = card_for(body.kind)
        with transaction(self._sessions) as session:
            area = AreaLocator.of(session).area_at(body.lat, body.lon)
            if area is None:
                raise DispatchError(
                    f"({body.lat:.6f}, {body.lon:.6f}) is in none of the city's areas", field="lat"
                )
            ctx.require_area(area, what="the incident's area")
            incident = Incident(
                kind=body.kind,
                priority=body.priority or card.priority,
                status=IncidentStatus.OPEN.value,
                source=body.source.value,
                lat=body.lat,
                lon=body.lon,
                address=body.address,
                area_id=area,
                description=body.description,
                caller_name=body.caller_name,
                caller_phone=body.caller_phone,
                alert_id=alert_id,
                correlation_id=corr or ctx.id,
                reported_at=reported,
                created_at=now,
                created_by=ctx.actor,
                outcome="",
            )
            session.add(incident)
            session.flush()
            note(session, incident.id, ctx.actor, now, "created", source=body.source.value, kind=body.kind)
            duplicates = _possible_duplicates(session, incident)
            out = incident_out(incident, ctx, duplicates)
        self._audit(ctx, "dispatch.incident_create", resource, out.id, 201)
        return out

    def escalate(
        self,
        ctx: Context,
        alert_id: str,
        *,
        kind: str | None = None,
        priority: int | None = None,
        resource: str,
    ) -> IncidentOut:
        """An alert of any rule becomes an incident in one action: at its newest located evidence,
        of the type its rule suggests (or the one given), keeping its id and correlation id."""
        if self._alerts is None:
            raise DispatchError("this platform has no alert service to escalate from", field="alert_id")
        detail = self._alerts.get(alert_id, ctx=ctx)  # AlertNotFound (404) or AccessDenied as it is
        alert = detail.alert
        located = [e for e in detail.evidence if e.lat is not None and e.lon is not None]
        if not located:
            raise DispatchError(
                f"alert {alert_id} has no evidence with a place: take it as a call with the place",
                field="alert_id",
            )
        with self._sessions() as session:
            taken = session.scalar(
                select(Incident.id).where(Incident.alert_id == alert_id, Incident.status.in_(LIVE))
            )
        if taken is not None:
            raise DispatchConflict(f"alert {alert_id} is incident {taken} already", field="alert_id")
        where = max(located, key=lambda e: e.ts)
        body = IncidentIn(
            kind=kind or kind_for_rule(alert.rule_kind, alert.rule),
            priority=priority or PRIORITY_OF_SEVERITY.get(alert.severity, 2),
            lat=float(where.lat),
            lon=float(where.lon),
            address=alert.first_device or "",
            description=f"{alert.title} (alert {alert.id}, {alert.rule}, {len(detail.evidence)} sightings)"[
                :4000
            ],
            reported_at=min(alert.first_seen_at, self._now()),
            source=IncidentSource.ALERT,
        )
        return self.create(ctx, body, resource=resource, alert_id=alert.id, corr=alert.corr_id or alert.id)

    def get(self, ctx: Context, incident_id: int, *, resource: str) -> IncidentOut:
        with self._sessions() as session:
            incident = require_incident(session, ctx, incident_id)
            out = incident_out(incident, ctx, _possible_duplicates(session, incident))
        self._audit(ctx, "dispatch.incident_read", resource, incident_id, 200)
        return out

    def list(self, ctx: Context, *, live_only: bool = True, limit: int = 200) -> builtins.list[IncidentOut]:
        """The incidents of the caller's areas, most urgent and newest first."""
        query = select(Incident).order_by(Incident.priority, Incident.reported_at.desc()).limit(limit)
        if live_only:
            query = query.where(Incident.status.in_(LIVE))
        if not ctx.city_wide:
            query = query.where(Incident.area_id.in_(ctx.areas))
        with self._sessions() as session:
            # The caller is for the audited read of one incident (`get`), not for a list of them.
            return [
                incident_out(i, ctx, []).model_copy(update={"caller_name": "", "caller_phone": ""})
                for i in session.scalars(query)
            ]

    def timeline(self, ctx: Context, incident_id: int) -> builtins.list[TimelineEntry]:
        with self._sessions() as session:
            require_incident(session, ctx, incident_id)
            rows = session.scalars(
                select(IncidentEvent)
                .where(IncidentEvent.incident_id == incident_id)
                .order_by(IncidentEvent.at, IncidentEvent.id)
            )
            return [TimelineEntry(at=r.at, actor=r.actor, what=r.what, detail=r.detail) for r in rows]

    def merge(self, ctx: Context, duplicate_id: int, into_id: int, *, resource: str) -> IncidentOut:
        """Join a duplicate to the incident it repeats: its orders and units move there."""
        if duplicate_id == into_id:
            raise DispatchError("an incident cannot be merged into itself", field="into_id")
        now = self._now()
        with transaction(self._sessions) as session:
            duplicate = require_incident(session, ctx, duplicate_id)
            into = require_incident(session, ctx, into_id, field="into_id")
            for incident in (duplicate, into):
                if incident.status not in LIVE:
                    raise DispatchConflict(f"incident {incident.id} is {incident.status}", field="into_id")
            moved = 0
            for order in session.scalars(select(Order).where(Order.incident_id == duplicate.id)):
                order.incident_id = into.id
                moved += 1
            for unit in session.scalars(select(Unit).where(Unit.incident_id == duplicate.id)):
                unit.incident_id = into.id
            duplicate.status = IncidentStatus.MERGED.value
            duplicate.merged_into = into.id
            duplicate.closed_at, duplicate.closed_by = now, ctx.actor
            if duplicate.dispatched_at and (
                into.dispatched_at is None or duplicate.dispatched_at < into.dispatched_at
            ):
                into.dispatched_at = duplicate.dispatched_at
            if moved and into.status == IncidentStatus.OPEN:
                into.status = IncidentStatus.DISPATCHED.value
            note(session, duplicate.id, ctx.actor, now, "merged", into=into.id, orders=moved)
            note(session, into.id, ctx.actor, now, "merged_in", duplicate=duplicate.id, orders=moved)
            out = incident_out(into, ctx, [])
        self._audit(ctx, "dispatch.incident_merge", resource, into_id, 200, duplicate=duplicate_id)
        return out

    def close(self, ctx: Context, incident_id: int, outcome: str, *, resource: str) -> IncidentOut:
        """Close an incident: its open orders are cancelled and their units freed."""
        if not outcome.strip():
            raise DispatchError("say how it ended", field="outcome")
        now = self._now()
        with transaction(self._sessions) as session:
            incident = require_incident(session, ctx, incident_id)
            if incident.status not in LIVE:
                raise DispatchConflict(
                    f"incident {incident_id} is {incident.status} already", field="incident_id"
                )
            for order in session.scalars(
                select(Order).where(Order.incident_id == incident_id, Order.status.in_(OPEN_ORDERS))
            ):
                order.status, order.cancelled_at = OrderStatus.CANCELLED.value, now
            for unit in session.scalars(select(Unit).where(Unit.incident_id == incident_id)):
                if unit.status != UnitStatus.AVAILABLE:
                    change_status(session, unit, UnitStatus.AVAILABLE, at=now, expected_version=None)
                session.refresh(unit)
                unit.incident_id = None
            incident.status = IncidentStatus.CLOSED.value
            incident.closed_at, incident.closed_by, incident.outcome = now, ctx.actor, outcome.strip()
            note(session, incident_id, ctx.actor, now, "closed", outcome=outcome.strip())
            out = incident_out(incident, ctx, [])
        self._audit(ctx, "dispatch.incident_close", resource, incident_id, 200)
        return out

    def _audit(
        self, ctx: Context, action: str, resource: str, incident_id: int, status: int, **detail: Any
    ) -> None:
        self._recorder.record(
            ctx, AuditEntry(action, resource, status=status, detail={"incident": incident_id, **detail})
        )


def note(session: Session, incident_id: int, actor: str, at: datetime, what: str, **detail: Any) -> None:
    """Add a step to an incident's timeline."""
    session.add(IncidentEvent(incident_id=incident_id, at=at, actor=actor, what=what, detail=detail))


def require_incident(
    session: Session, ctx: Context, incident_id: int, *, field: str = "incident_id"
) -> Incident:
    """The incident, if it is in the caller's reach."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise DispatchNotFound("incident", incident_id, field=field)
    ctx.require_area(incident.area_id, what=f"incident {incident_id}")
    return incident


def _possible_duplicates(session: Session, incident: Incident) -> list[int]:
    """Live incidents of the same type near it in place and time."""
    window = (incident.reported_at - DUPLICATE_WINDOW, incident.reported_at + DUPLICATE_WINDOW)
    rows = session.scalars(
        select(Incident).where(
            Incident.id != incident.id,
            Incident.kind == incident.kind,
            Incident.status.in_(LIVE),
            Incident.reported_at.between(*window),
        )
    )
    return [r.id for r in rows if distance_m(r.lat, r.lon, incident.lat, incident.lon) <= DUPLICATE_M]


def incident_out(incident: Incident, ctx: Context, duplicates: list[int]) -> IncidentOut:
    phone = incident.caller_phone if ctx.full_identifiers else (mask_phone(incident.caller_phone) or "")
    return IncidentOut(
        id=incident.id,
        kind=incident.kind,
        label=card_for(incident.kind).label,
        priority=incident.priority,
        status=incident.status,
        source=incident.source,
        lat=incident.lat,
        lon=incident.lon,
        address=incident.address,
        area_id=incident.area_id,
        description=incident.description,
        caller_name=incident.caller_name,
        caller_phone=phone,
        alert_id=incident.alert_id,
        reported_at=incident.reported_at,
        dispatched_at=incident.dispatched_at,
        arrived_at=incident.arrived_at,
        closed_at=incident.closed_at,
        merged_into=incident.merged_into,
        possible_duplicates=duplicates,
    )


__all__ = ["DUPLICATE_M", "DUPLICATE_WINDOW", "Incidents", "incident_out", "note", "require_incident"]
