"""Alert change notices for the bus (AlertRaised, AlertUpdated, AlertTransitioned)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from safecity.alerts.policy import public_subject

NOTICE_VERSION = 1


class ChangeType(StrEnum):
    """Past-tense facts about an alert, as published on the ALERTS topic."""

    RAISED = "AlertRaised"
    UPDATED = "AlertUpdated"
    TRANSITIONED = "AlertTransitioned"


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What a command did to one alert, with the notice it publishes."""

    type: ChangeType
    alert_id: str
    rule: str
    station_id: str
    status: str
    corr_id: str | None
    new_evidence: int = 0
    notice: dict[str, Any] = field(default_factory=dict)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of an aware time, or None."""
    return value.isoformat() if value is not None else None


def build_notice(
    change_type: ChangeType, alert: dict[str, Any], *, at: datetime, **extra: Any
) -> dict[str, Any]:
    """Build the JSON-able notice of a change from the alert's column values.

    Personal subjects (identity numbers, faces, phones) are masked: notices leave the console
    through webhooks; the full record stays behind the alert API.
    """
    notice: dict[str, Any] = {
        "type": change_type.value,
        "v": NOTICE_VERSION,
        "alert_id": alert["id"],
        "rule": alert["rule"],
        "rule_kind": alert["rule_kind"],
        "severity": alert["severity"],
        "title": alert["title"],
        "subject_kind": alert["subject_kind"],
        "subject": public_subject(alert["subject_kind"], alert["subject"]),
        "station_id": alert["station_id"],
        "area_id": alert["area_id"],
        "routing": alert["routing"],
        "status": alert["status"],
        "outcome": alert.get("outcome"),
        "corr_id": alert["corr_id"],
        "first_device": alert.get("first_device"),
        "hits": alert["hits"],
        "first_seen_at": iso(alert["first_seen_at"]),
        "last_seen_at": iso(alert["last_seen_at"]),
        "at": iso(at),
    }
    notice.update(extra)
    return notice


def change_of(
    change_type: ChangeType, alert: dict[str, Any], *, at: datetime, new_evidence: int = 0, **extra: Any
) -> AlertChange:
    """Describe a change to an alert, notice included."""
    return AlertChange(
        type=change_type,
        alert_id=alert["id"],
        rule=alert["rule"],
        station_id=alert["station_id"],
        status=alert["status"],
        corr_id=alert["corr_id"],
        new_evidence=new_evidence,
        notice=build_notice(change_type, alert, at=at, new_evidence=new_evidence, **extra),
    )
