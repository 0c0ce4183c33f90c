"""API request and response models for alerts and webhooks (Pydantic v2; never the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from safecity.alerts.models import Outcome


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TransitionIn(_In):
    """Body of acknowledge and dispatch: why (the actor is the signed-in account)."""

    note: str = Field("", max_length=2000, description="Free text kept with the step.")


class CloseIn(TransitionIn):
    """Body of close: also what the alert turned out to be."""

    outcome: Outcome = Field(description="confirmed, false_alarm or unverified.")


class AlertOut(_Out):
    """An alert as listed."""

    id: str
    rule: str
    rule_kind: str
    severity: str
    title: str
    subject_kind: str
    subject: str
    dedup_key: str
    status: str
    outcome: str | None
    station_id: str
    area_id: str | None
    routing: str
    corr_id: str | None
    first_device: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    hits: int
    created_at: datetime
    updated_at: datetime


class AlertListOut(BaseModel):
    """A page of alerts."""

    items: list[AlertOut]
    limit: int
    offset: int


class EvidenceOut(_Out):
    """One evidence record."""

    event_id: str
    corr_id: str
    kind: str
    subject: str | None
    device: str
    ts: datetime
    lat: float | None
    lon: float | None
    area: str | None
    code: str | None


class StepOut(_Out):
    """One lifecycle step."""

    from_status: str | None
    to_status: str
    by: str
    at: datetime
    note: str
    outcome: str | None


class RoutingOut(BaseModel):
    """Where an alert was routed and why."""

    station_id: str
    station_name: str | None
    area_id: str | None
    area_name: str | None
    via: str
    reason: str


class AlertDetailOut(_Out):
    """One alert explained: the rule's facts and parameters, evidence, steps, path and routing."""

    alert: AlertOut
    facts: dict[str, Any]
    params: dict[str, Any]
    evidence: list[EvidenceOut]
    steps: list[StepOut]
    path: dict[str, Any] = Field(description="GeoJSON Feature of the evidence points in time order.")
    routing: RoutingOut


class PrecisionRowOut(_Out):
    """Outcome counts of one rule or device."""

    key: str | None
    confirmed: int
    false_alarm: int
    unverified: int
    open: int
    precision: float | None = Field(description="confirmed / (confirmed + false_alarm); null if none judged.")


class WebhookIn(_In):
    """Register a webhook."""

    url: AnyHttpUrl
    secret: str | None = Field(
        None, min_length=16, max_length=128, description="Shared HMAC key; generated when omitted."
    )
    description: str = Field("", max_length=200)
    rules: list[str] | None = Field(None, description="Only these rules; null = all.")
    stations: list[str] | None = Field(None, description="Only alerts routed to these stations; null = all.")


class WebhookOut(_Out):
    """A registered webhook (its secret is never shown again)."""

    id: str
    url: str
    description: str
    active: bool
    created_at: datetime
    rules: list[str] | None
    stations: list[str] | None


class WebhookCreatedOut(WebhookOut):
    """A new webhook with its secret: shown this once."""

    secret: str


class ErrorDetail(BaseModel):
    """What went wrong and where."""

    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    """Error body of every alert endpoint."""

    error: ErrorDetail
