"""Alert tables (alerts, evidence, steps, outbox, webhooks, deliveries) and the enums they use."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.finding import Evidence
from safecity.store import Base, UtcDateTime


class AlertStatus(StrEnum):
    """Where an alert is in its lifecycle: new -> acknowledged -> dispatched -> closed."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    CLOSED = "closed"


class Outcome(StrEnum):
    """What a closed alert turned out to be; feeds rule and device precision."""

    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"
    UNVERIFIED = "unverified"


class Routing(StrEnum):
    """How an alert's station was chosen."""

    AREA = "area"  # the station answerable for the first evidence record's area
    FALLBACK = "fallback"  # no station found: the configured command centre


class NoticeStatus(StrEnum):
    """Delivery state of a notice to a person."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class DeliveryStatus(StrEnum):
    """Final state of one webhook delivery (after its retries)."""

    DELIVERED = "delivered"
    FAILED = "failed"


class Alert(Base):
    """One warning: what a rule found about a subject, where it was routed and what became of it."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_rule_dedup_status", "rule", "dedup_key", "status"),
        # At most one open alert per situation; the service merges findings into it.
        Index(
            "uq_alerts_open_dedup",
            "rule",
            "dedup_key",
            unique=True,
            sqlite_where=text("status != 'closed'"),
            postgresql_where=text("status != 'closed'"),
        ),
        Index("ix_alerts_station_status", "station_id", "status"),
        Index("ix_alerts_last_seen_at", "last_seen_at"),
        # A wearer's or a shipment's open warnings, whatever else its area has open.
        Index("ix_alerts_subject_status", "subject_kind", "subject", "status"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    rule_kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64))
    dedup_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.NEW)
    outcome: Mapped[str | None] = mapped_column(String(16))
    station_id: Mapped[str] = mapped_column(String(32))
    area_id: Mapped[str | None] = mapped_column(String(32))
    routing: Mapped[str] = mapped_column(String(16), default=Routing.AREA)
    # Correlation id and device of the first evidence record: later actions trace back to them.
    corr_id: Mapped[str | None] = mapped_column(String(64), index=True)
    first_device: Mapped[str | None] = mapped_column(String(64), index=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Typed references of the raising finding, as [entity, id] pairs: [["ebike", "12"], ["person", "7"]].
    refs: Mapped[list[list[str]]] = mapped_column(JSON, default=list, server_default="[]")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    hits: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AlertEvidence(Base):
    """One record that caused or extended an alert (a copy: the lake may age out before the case)."""

    __tablename__ = "alert_evidence"
    __table_args__ = (UniqueConstraint("alert_id", "event_id", name="uq_alert_evidence_alert_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    corr_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    area: Mapped[str | None] = mapped_column(String(32))
    code: Mapped[str | None] = mapped_column(String(256))  # as long as ingest accepts


# An evidence row is the rule's Evidence and the alert it belongs to: written and read by these names.
EVIDENCE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Evidence))


class AlertStep(Base):
    """One lifecycle step of an alert: who moved it from which status to which, when and why."""

    __tablename__ = "alert_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str | None] = mapped_column(String(16))


class OutboxNotice(Base):
    """A notice for a person (the bike owner), queued here for a channel worker to deliver."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    recipient_person_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class Webhook(Base):
    """A receiver of signed alert notices; `secret` is a shared HMAC key the receiver also holds."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Kept in clear: signing needs the key itself, unlike device secrets which are only checked.
    secret: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # {"rules": [...] | null, "stations": [...] | null}; null or empty lists match everything.
    filter: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The account it delivers for: only what that account may read today goes out (no owner:
    # registered before owners were recorded, so it delivers nothing until registered again).
    owner_account_id: Mapped[int | None] = mapped_column(Integer, index=True)
    owner: Mapped[str] = mapped_column(String(64), default="")


class WebhookDelivery(Base):
    """One notice delivered (or given up on) to one webhook, with its attempts."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id"), index=True)
    alert_id: Mapped[str] = mapped_column(String(26), index=True)
    event: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
