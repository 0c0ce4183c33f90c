"""The alerts capability: the warning lifecycle, and how long closed warnings are kept."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from safecity.alerts.entities import ALERT_ENTITIES
from safecity.alerts.models import Alert, AlertEvidence, AlertStatus, AlertStep, OutboxNotice, WebhookDelivery
from safecity.alerts.settings import SECTION
from safecity.core.capabilities import Capability
from safecity.store.retention import Cutoff, Purgeable, RetentionEntry


def _closed_alerts(cut: Cutoff) -> Sequence[Purgeable]:
    # A closed alert is never touched again, so its last update is when it was closed.
    closed = (Alert.status == AlertStatus.CLOSED) & (Alert.updated_at < cut("closed_alerts"))
    ids = select(Alert.id).where(closed)
    return [
        Purgeable("alert_evidence", AlertEvidence, AlertEvidence.alert_id.in_(ids)),
        Purgeable("alert_steps", AlertStep, AlertStep.alert_id.in_(ids)),
        Purgeable("outbox", OutboxNotice, OutboxNotice.alert_id.in_(ids)),
        Purgeable("webhook_deliveries", WebhookDelivery, WebhookDelivery.alert_id.in_(ids)),
        Purgeable("alerts", Alert, closed),
    ]


CLOSED_ALERTS = RetentionEntry(
    name="closed_alerts",
    description="Closed alerts with their evidence (the hits), steps, owner notices and webhook "
    "deliveries, counted from closing.",
    tables=("alerts", "alert_evidence", "alert_steps", "outbox", "webhook_deliveries"),
    due=_closed_alerts,
)

CAPABILITY = Capability(
    name="alerts",
    summary="Warnings after a rule fires: dedup, routing, evidence, lifecycle, push, webhooks, notices.",
    requires=("registry",),
    extensions=(CLOSED_ALERTS, SECTION, ALERT_ENTITIES),
)
