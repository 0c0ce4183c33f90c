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

    items: list[AlertOut] = Field(description="The alerts of this page, most recently seen first.")
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="How many matching alerts were skipped before this page.")


# Evidence is core's plain dataclass: its fields are described here, for /openapi.json.
EVIDENCE_DESCRIPTIONS = {
    "event_id": "Id of the record (the event id the device sent, as stored).",
    "corr_id": "Its correlation id (the device's `corr`, else its own id).",
    "kind": "Record kind: `rfid_read`, `door_swipe`, `alarm`, ... (docs/ingest.md section 2).",
    "subject": "Who or what was sensed; identity and phone numbers are pseudonyms.",
    "device": "The device that sensed it.",
    "ts": "When it happened (event time, UTC).",
    "lat": "Latitude: the event's own, else the device's registered position.",
    "lon": "Longitude, likewise.",
    "area": "Area (community) of the reporting device; null if it has none.",
    "code": "Status or alarm code the device sent (`tamper`, `sos`, ...).",
}


def _describe_evidence(schema: dict[str, Any]) -> None:
    for name, prop in schema.get("properties", {}).items():
        prop.setdefault("description", EVIDENCE_DESCRIPTIONS[name])


@pydantic_dataclass(
    frozen=True,
    config=ConfigDict(json_schema_serialization_defaults_required=True, json_schema_extra=_describe_evidence),
)
class EvidenceOut(Evidence):
    """One evidence record: a copy of the record that caused or extended the alert."""


class StepOut(StepView):
    """One lifecycle step."""


class RoutingOut(BaseModel):
    """Where an alert was routed and why."""

    station_id: str = Field(description="The station answerable (the alert's `station_id`).")
    station_name: str | None = Field(description="Its name; null if it is not a registered area.")
    area_id: str | None = Field(description="Area of the first sighting (in event time).")
    area_name: str | None = Field(description="Its name.")
    via: str = Field(description="`area` or `fallback` (the alert's `routing`).")
    reason: str = Field(description="Why this station, in words.")


class AlertDetailOut(_Out):
    """One alert explained: the rule's facts and parameters, evidence, steps, path and routing."""

    alert: AlertOut = Field(description="The alert's own fields.")
    facts: dict[str, Any] = Field(description="Registry facts the rule relied on (e.g. the watchlist entry).")
    params: dict[str, Any] = Field(description="The rule's parameters when it fired.")
    evidence: list[EvidenceOut] = Field(description="Every record that caused or extended it, in event time.")
    steps: list[StepOut] = Field(description="Its lifecycle, the raising step first.")
    path: dict[str, Any] = Field(description="GeoJSON Feature of the evidence points in time order.")
    routing: RoutingOut = Field(description="Where it was routed and why.")

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence_values(cls, value: Any) -> Any:
        # A pydantic dataclass takes its own instances or mappings, not the plain Evidence it extends.
        if isinstance(value, list):
            return [asdict(e) if isinstance(e, Evidence) else e for e in value]
        return value


class PrecisionRowOut(_Out):
    """Outcome counts of one rule or device."""

    key: str | None = Field(description="The rule, or the device of the alerts' first sighting.")
    confirmed: int = Field(description="Alerts closed as confirmed.")
    false_alarm: int = Field(description="Alerts closed as false alarms.")
    unverified: int = Field(description="Alerts closed as unverified.")
    open: int = Field(description="Alerts not closed yet.")
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
