"""Read side of alerts: one alert explained (evidence, steps, path, routing), lists and precision.

The views here are the one shape of an alert, its steps and its evidence from the table to the
API: `alerts.schemas` derives its answers from them rather than repeating their fields.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Self, cast

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from safecity import registry
from safecity.alerts.errors import AlertNotFound, InvalidAlertInput
from safecity.alerts.models import (
    EVIDENCE_COLUMNS,
    Alert,
    AlertEvidence,
    AlertStatus,
    AlertStep,
    Outcome,
    Routing,
)
from safecity.alerts.policy import OPEN_STATUSES
from safecity.alerts.policy import precision as precision_of
from safecity.core.finding import Evidence

MAX_PAGE = 500


class _View(BaseModel):
    """A read model: immutable, detached from the session, filled from a row's attributes."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    @classmethod
    def of(cls, row: object) -> Self:
        """Copy the row's values of this view's fields (unvalidated: the database holds them typed)."""
        # The pydantic plugin types model_construct by the class that declares it, not by `cls`.
        return cast(Self, cls.model_construct(**{name: getattr(row, name) for name in cls.model_fields}))


class AlertSummary(_View):
    """An alert's own columns: what a list shows and what change notices are built from.

    docs/api.md explains each field; the descriptions here are what /openapi.json shows.
    """

    id: str = Field(description="The alert's id (26 characters); it never changes.")
    rule: str = Field(description="Name of the rule that raised it (the rules file), e.g. `stolen-bike`.")
    rule_kind: str = Field(description="Kind of that rule: `hotlist`, `tag_tamper`, `device_offline`, ...")
    severity: str = Field(description="From the rule: `low`, `medium`, `high` or `critical`.")
    title: str = Field(description="One line for people, from the rule.")
    subject_kind: str = Field(description="What the subject is: `tag`, `id_card`, `plate`, `device`, ...")
    subject: str = Field(
        description="Who or what it is about: a tag id, a device id; identity and phone numbers "
        "are pseudonyms."
    )
    dedup_key: str = Field(
        description="The situation: findings of the same rule and key extend this alert while it is open."
    )
    status: str = Field(description="`new`, `acknowledged`, `dispatched` or `closed`.")
    outcome: str | None = Field(
        description="What a closed alert turned out to be: `confirmed`, `false_alarm`, `unverified`; "
        "null while open."
    )
    station_id: str = Field(
        description="The station answerable: the one whose area holds the first sighting (in event time), "
        "else the command centre."
    )
    area_id: str | None = Field(description="Area (community) of the first sighting; null if it had none.")
    routing: str = Field(
        description="How `station_id` was chosen: `area` (answerable for `area_id`) or `fallback` "
        "(the command centre)."
    )
    corr_id: str | None = Field(
        description="Correlation id of the first sighting's record (in event time): the thread from "
        "the readings to what answered them."
    )
    first_device: str | None = Field(
        description="Device of the first sighting in event time: where the subject was first seen."
    )
    first_seen_at: datetime = Field(description="Event time of the earliest evidence.")
    last_seen_at: datetime = Field(description="Event time of the latest evidence.")
    hits: int = Field(
        description="How many findings raised or extended it: one per rule evaluation that brought "
        "new evidence (however many records it held), or per finding without evidence; redeliveries "
        "do not count."
    )
    created_at: datetime = Field(description="When the platform raised it (server time).")
    updated_at: datetime = Field(description="When it last changed: new evidence, a step, a move.")


class AlertView(AlertSummary):
    """Every column of an alert: its own, and the raising finding's facts, parameters and refs."""

    facts: dict[str, Any]
    params: dict[str, Any]
    refs: list[list[str]]


# An alert's evidence is exactly what the rule saw: the core value type, read back from the table.
EvidenceView = Evidence


class StepView(_View):
    """One lifecycle step of an alert."""

    from_status: str | None = Field(description="Status before the step; null for the raising step.")
    to_status: str = Field(
        description="Status after it; the same as `from_status` for a step that changed no status "
        "(an earlier sighting moved the alert)."
    )
    by: str = Field(description="Who took it: an account, or `rule:<name>` for the platform's own steps.")
    at: datetime = Field(description="When (server time).")
    note: str = Field(description="Why, in the actor's words, or what the platform did.")
    outcome: str | None = Field(description="The outcome given when the step closed the alert.")


@dataclass(frozen=True, slots=True)
class AlertDetail:
    """Everything that explains an alert: the row, its evidence by time, its steps, path and routing."""

    alert: AlertView
    evidence: list[EvidenceView]
    steps: list[StepView]
    path: dict[str, Any]  # GeoJSON Feature
    routing: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PrecisionRow:
    """How the closed alerts of one rule or device turned out."""

    key: str | None
    confirmed: int
    false_alarm: int
    unverified: int
    open: int
    precision: float | None


def path_feature(alert_id: str, evidence: list[EvidenceView]) -> dict[str, Any]:
    """The evidence points in time order as a GeoJSON Feature.

    A LineString needs two positions, so one located point gives a Point and none a null geometry.
    """
    located = [e for e in evidence if e.lat is not None and e.lon is not None]
    coords = [[e.lon, e.lat] for e in located]
    geometry: dict[str, Any] | None
    if len(coords) >= 2:
        geometry = {"type": "LineString", "coordinates": coords}
    elif coords:
        geometry = {"type": "Point", "coordinates": coords[0]}
    else:
        geometry = None
    return {
        "type": "Feature",
        "id": alert_id,
        "geometry": geometry,
        "properties": {
            "alert_id": alert_id,
            "event_ids": [e.event_id for e in located],
            "times": [e.ts.isoformat() for e in located],
            "devices": [e.device for e in located],
        },
    }


def routing_of(session: Session, alert: AlertView) -> dict[str, Any]:
    """Say where an alert was routed and why."""
    station = registry.get_area(session, area_id=alert.station_id)
    area = registry.get_area(session, area_id=alert.area_id) if alert.area_id else None
    if alert.routing == Routing.AREA:
        reason = f"station answerable for area {alert.area_id} of the first evidence record"
    elif alert.area_id:
        reason = f"no station answers for area {alert.area_id}: sent to the command centre"
    else:
        reason = "the first evidence record has no area: sent to the command centre"
    return {
        "station_id": alert.station_id,
        "station_name": station.name if station is not None else None,
        "area_id": alert.area_id,
        "area_name": area.name if area is not None else None,
        "via": alert.routing,
        "reason": reason,
    }


def require_alert(session: Session, alert_id: str) -> Alert:
    """Return the alert row or raise AlertNotFound."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFound(alert_id)
    return alert


def get_detail(session: Session, alert_id: str) -> AlertDetail:
    """Load one alert with everything that explains it."""
    alert = AlertView.of(require_alert(session, alert_id))
    ev_rows = session.scalars(
        select(AlertEvidence)
        .where(AlertEvidence.alert_id == alert_id)
        .order_by(AlertEvidence.ts, AlertEvidence.id)
    )
    evidence = [EvidenceView(**{name: getattr(e, name) for name in EVIDENCE_COLUMNS}) for e in ev_rows]
    step_rows = session.scalars(
        select(AlertStep).where(AlertStep.alert_id == alert_id).order_by(AlertStep.at, AlertStep.id)
    )
    # The raising step is not stored (a burst of findings would double its rows): it is the alert's
    # creation, by its rule.
    raised = StepView(
        from_status=None,
        to_status=AlertStatus.NEW.value,
        by=f"rule:{alert.rule}",
        at=alert.created_at,
        note=alert.title,
        outcome=None,
    )
    steps = [raised, *(StepView.of(s) for s in step_rows)]
    return AlertDetail(
        alert=alert,
        evidence=evidence,
        steps=steps,
        path=path_feature(alert_id, evidence),
        routing=routing_of(session, alert),
    )


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts a list keeps (every given field must match) and which page of them."""

    status: str | None = None
    station_id: str | None = None
    rule: str | None = None
    subject_kind: str | None = None
    subject: str | None = None
    open_only: bool = False  # not closed yet (new, acknowledged or dispatched)
    since: datetime | None = None  # bounds last_seen_at
    limit: int = 100
    offset: int = 0


def list_alerts(
    session: Session, where: AlertFilter = AlertFilter(), *, areas: Collection[str] | None = None
) -> list[AlertView]:
    """Alerts matching the filter, most recently seen first.

    `areas` (None: everywhere) keeps alerts routed to, or raised in, one of those areas.
    """
    status, limit, offset = where.status, where.limit, where.offset
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidAlertInput(f"limit must be 1 to {MAX_PAGE}", field="limit")
    if offset < 0:
        raise InvalidAlertInput("offset must not be negative", field="offset")
    query = select(Alert)
    if status is not None:
        if status not in {s.value for s in AlertStatus}:
            choices = ", ".join(AlertStatus)
            raise InvalidAlertInput(f"status must be one of {choices}", field="status")
        query = query.where(Alert.status == status)
    if where.station_id is not None:
        query = query.where(Alert.station_id == where.station_id)
    if where.rule is not None:
        query = query.where(Alert.rule == where.rule)
    if where.subject_kind is not None:
        query = query.where(Alert.subject_kind == where.subject_kind)
    if where.subject is not None:
        query = query.where(Alert.subject == where.subject)
    if where.open_only:
        query = query.where(Alert.status.in_(sorted(OPEN_STATUSES)))
    if areas is not None:
        query = query.where(or_(Alert.station_id.in_(list(areas)), Alert.area_id.in_(list(areas))))
    if where.since is not None:
        query = query.where(Alert.last_seen_at >= where.since)
    query = query.order_by(Alert.last_seen_at.desc(), Alert.id.desc()).limit(limit).offset(offset)
    return [AlertView.of(a) for a in session.scalars(query)]


def count_open(session: Session) -> int:
    """How many alerts are not closed yet (new, acknowledged or dispatched)."""
    query = select(func.count()).select_from(Alert).where(Alert.status != AlertStatus.CLOSED)
    return session.scalar(query) or 0


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def precision_rows(session: Session, *, by: Literal["rule", "device"]) -> list[PrecisionRow]:
    """Outcome counts and precision per rule, or per device of the alerts' first evidence."""
    if by not in ("rule", "device"):
        raise InvalidAlertInput("by must be 'rule' or 'device'", field="by")
    key = Alert.rule if by == "rule" else Alert.first_device
    query = (
        select(
            key,
            _count(Alert.outcome == Outcome.CONFIRMED),
            _count(Alert.outcome == Outcome.FALSE_ALARM),
            _count(Alert.outcome == Outcome.UNVERIFIED),
            _count(Alert.status != AlertStatus.CLOSED),
        )
        .group_by(key)
        .order_by(key)
    )
    return [
        PrecisionRow(key=k, confirmed=c, false_alarm=f, unverified=u, open=o, precision=precision_of(c, f))
        for k, c, f, u, o in session.execute(query)
    ]
