"""The alert desk's use cases: list, read, step and export alerts, and manage webhooks, for a caller.

Each takes the caller's `Context`, refuses (AccessDenied) what lies outside the caller's areas
before anything is read out or changed, does the work through `AlertService`, and leaves the
audit record itself, naming the alert, its subject and the people its finding referenced. The
HTTP routes only parse and shape; a refusal is audited by whoever catches the AccessDenied.
"""

from __future__ import annotations

from dataclasses import replace

from safecity.alerts.query import AlertDetail, AlertFilter, AlertView
from safecity.alerts.service import AlertService
from safecity.alerts.webhook import HookOwner, WebhookView
from safecity.core.context import Context
from safecity.registry import PERSON
from safecity.security import AccessDenied, AuditEntry, Permission, Security, subject

# An alert is its own basis for being read: a listed subject was sighted.
READ_PURPOSE = "alert response"


def audit_subjects(alert: AlertView) -> list[str]:
    """Whom handling the alert concerns: its subject, the alert, and the people its finding named."""
    names = [subject(alert.subject_kind, alert.subject), subject("alert", alert.id)]
    # The people the alert is about (a bike's owner), as its finding referenced them.
    names.extend(subject(entity, id_) for entity, id_ in alert.refs or () if entity == PERSON)
    return names


def list_alerts(
    alerts: AlertService,
    security: Security,
    ctx: Context,
    where: AlertFilter = AlertFilter(),
) -> list[AlertView]:
    """Alerts routed to or raised in the caller's areas, most recently seen first."""
    station_id = where.station_id
    if (
        station_id is not None
        and not ctx.reaches(station_id)
        # A community guard may still filter by the station answerable for their community.
        and not ctx.areas & security.areas.tree().expand([station_id])
    ):
        ctx.require_area(station_id, what=f"station {station_id}")
    return alerts.list_alerts(where, areas=None if ctx.city_wide else ctx.areas)


def read_alert(
    alerts: AlertService, security: Security, ctx: Context, alert_id: str, *, resource: str
) -> AlertDetail:
    """One alert explained, if the caller reaches it; the read is audited with the alert as its basis."""
    detail = alerts.get(alert_id, ctx=ctx)
    security.record(
        ctx,
        AuditEntry(
            "alerts.read",
            resource,
            purpose=READ_PURPOSE,
            subjects=audit_subjects(detail.alert),
            result_count=len(detail.evidence),
        ),
    )
    return detail


def acknowledge_alert(
    alerts: AlertService, security: Security, ctx: Context, alert_id: str, *, note: str = "", resource: str
) -> AlertView:
    """Take an alert of the caller's areas on (new -> acknowledged), audited."""
    view = alerts.acknowledge(alert_id, by=ctx.actor, note=note, ctx=ctx)
    return _audited(security, ctx, AuditEntry("alerts.acknowledge", resource), view)


def dispatch_alert(
    alerts: AlertService, security: Security, ctx: Context, alert_id: str, *, note: str = "", resource: str
) -> AlertView:
    """Send someone to an alert of the caller's areas (acknowledged -> dispatched), audited."""
    view = alerts.dispatch(alert_id, by=ctx.actor, note=note, ctx=ctx)
    return _audited(security, ctx, AuditEntry("alerts.dispatch", resource), view)


def close_alert(
    alerts: AlertService,
    security: Security,
    ctx: Context,
    alert_id: str,
    *,
    outcome: str,
    note: str = "",
    resource: str,
) -> AlertView:
    """Close an open alert of the caller's areas with its outcome, audited with the outcome."""
    view = alerts.close(alert_id, by=ctx.actor, outcome=outcome, note=note, ctx=ctx)
    return _audited(security, ctx, AuditEntry("alerts.close", resource, detail={"outcome": outcome}), view)


def _audited(security: Security, ctx: Context, entry: AuditEntry, view: AlertView) -> AlertView:
    """Record a lifecycle step, naming whom the alert concerns, and pass its result on."""
    security.record(ctx, replace(entry, subjects=audit_subjects(view)))
    return view


def export_alert(
    alerts: AlertService, security: Security, ctx: Context, alert_id: str, *, resource: str
) -> bytes:
    """An alert of the caller's areas as a CAP 1.2 message (no personal data), audited as an export."""
    detail = alerts.get(alert_id, ctx=ctx)
    message = alerts.cap_of(detail)
    security.record(ctx, AuditEntry("alerts.export", resource, subjects=audit_subjects(detail.alert)))
    return message


def create_webhook(
    alerts: AlertService,
    security: Security,
    ctx: Context,
    *,
    url: str,
    secret: str | None = None,
    description: str = "",
    rules: list[str] | None = None,
    stations: list[str] | None = None,
    resource: str,
) -> tuple[WebhookView, str]:
    """Register a webhook delivering what the caller may read, audited; returns it with its secret."""
    if not ctx.can(Permission.ALERTS_READ):
        raise AccessDenied(
            "forbidden",
            f"a webhook delivers the alerts its owner may read; your role ({ctx.role}) may not read alerts",
        )
    hook, signing_secret = alerts.create_webhook(
        url=url,
        secret=secret,
        description=description,
        rules=rules,
        stations=stations,
        owner=HookOwner(ctx.account_id, ctx.actor),
    )
    security.record(
        ctx, AuditEntry("webhooks.create", resource, detail={"webhook": hook.id, "url": hook.url})
    )
    return hook, signing_secret


def list_webhooks(alerts: AlertService, ctx: Context) -> list[WebhookView]:
    """The caller's own webhooks (a city-wide caller sees everyone's)."""
    return alerts.list_webhooks(owner_account_id=None if ctx.city_wide else _owner_id(ctx))


def delete_webhook(
    alerts: AlertService, security: Security, ctx: Context, webhook_id: str, *, resource: str
) -> None:
    """Stop delivering to one of the caller's webhooks (its delivery history is kept), audited."""
    alerts.delete_webhook(webhook_id, owner_account_id=None if ctx.city_wide else _owner_id(ctx))
    security.record(ctx, AuditEntry("webhooks.delete", resource, detail={"webhook": webhook_id}))


def _owner_id(ctx: Context) -> int:
    # An account-less context (an operator) would match hooks without an owner: refuse instead.
    if ctx.account_id is None:
        raise AccessDenied("forbidden", "only a signed-in account owns webhooks")
    return ctx.account_id


__all__ = [
    "READ_PURPOSE",
    "acknowledge_alert",
    "audit_subjects",
    "close_alert",
    "create_webhook",
    "delete_webhook",
    "list_webhooks",
    "dispatch_alert",
    "export_alert",
    "list_alerts",
    "read_alert",
]
