"""API request and response models for alerts and webhooks (Pydantic v2; never the tables).

An alert, its steps and its evidence are answered in the shapes `alerts.query` reads them in:
the models here derive from those views and add only what the API names differently.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from safecity.alerts.models import Outcome
from safecity.alerts.query import AlertSummary, StepView
from safecity.core.finding import Evidence


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


class AlertOut(AlertSummary):
    """An alert as listed."""


class AlertListOut(BaseModel):
    """A page of alerts."""

    items: list[AlertOut]
    limit: int
    offset: int


@pydantic_dataclass(frozen=True, config=ConfigDict(json_schema_serialization_defaults_required=True))
class EvidenceOut(Evidence):
    """One evidence record."""


class StepOut(StepView):
    """One lifecycle step."""


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

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence_values(cls, value: Any) -> Any:
        # A pydantic dataclass takes its own instances or mappings, not the plain Evidence it extends.
        if isinstance(value, list):
            return [asdict(e) if isinstance(e, Evidence) else e for e in value]
        return value


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
    owner: str = Field(description="The account it delivers for: only alerts that account may read go out.")


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
