"""Alert API: list and explain alerts, move them through their lifecycle, stream, CAP and webhooks.

Errors take the app's one shape (web/errors.py): 404 unknown alert or webhook, 409 a lifecycle
step not allowed from the current status, 422 a malformed request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from safecity.alerts import (
    CAP_MEDIA_TYPE,
    AlertDetail,
    AlertFilter,
    AlertService,
    AlertStatus,
    AlertStream,
    StreamClient,
    actions,
)
from safecity.alerts.schemas import (
    AlertDetailOut,
    AlertListOut,
    AlertOut,
    CloseIn,
    PrecisionRowOut,
    TransitionIn,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
)
from safecity.security import NotAuthenticated, Principal, Security
from safecity.security import Permission as P
from safecity.web.auth import need, platform_of, resource_of
from safecity.web.deps import IsoTime
from safecity.web.openapi import ErrorOut

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown alert or webhook."},
    409: {"model": ErrorOut, "description": "Step not allowed from the current status."},
    422: {"model": ErrorOut, "description": "Malformed request."},
}

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=ERRORS)


def get_alert_service(request: Request) -> AlertService:
    """The platform's alert service."""
    service: AlertService = request.app.state.platform.alerts
    return service


def get_alert_stream(request: Request) -> AlertStream:
    """The platform's live alert hub."""
    stream: AlertStream = request.app.state.platform.alert_stream
    return stream


def get_security(request: Request) -> Security:
    """The platform's security service: the audit trail and the area hierarchy."""
    return platform_of(request).security


AlertsDep = Annotated[AlertService, Depends(get_alert_service)]
StreamDep = Annotated[AlertStream, Depends(get_alert_stream)]
SecurityDep = Annotated[Security, Depends(get_security)]


def _detail_out(detail: AlertDetail) -> AlertDetailOut:
    return AlertDetailOut.model_validate(
        {
            "alert": detail.alert,
            "facts": detail.alert.facts,
            "params": detail.alert.params,
            "evidence": detail.evidence,
            "steps": detail.steps,
            "path": detail.path,
            "routing": detail.routing,
        }
    )


@router.get("/alerts", response_model=AlertListOut)
def list_alerts(
    alerts: AlertsDep,
    security: SecurityDep,
    who: Principal = need(P.ALERTS_READ),
    status: AlertStatus | None = None,
    station_id: str | None = None,
    rule: str | None = None,
    since: Annotated[IsoTime | None, Query(description="Only alerts seen at or after this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AlertListOut:
    """Alerts of the caller's areas, most recently seen first."""
    where = AlertFilter(
        status=status, station_id=station_id, rule=rule, since=since, limit=limit, offset=offset
    )
    items = actions.list_alerts(alerts, security, who.context(), where)
    return AlertListOut(items=[AlertOut.model_validate(a) for a in items], limit=limit, offset=offset)


async def _sse(
    stream: AlertStream, client: StreamClient, who: Principal, security: Security
) -> AsyncIterator[bytes]:
    """Server-Sent Events: one event per notice, a comment line as keepalive.

    The request authenticated once, but a stream lasts: at every keepalive the caller's token
    and session are checked again. Once the token has expired, or the session has been ended or
    the account disabled, a `reauth` event says why and the stream ends; the console then
    refreshes its token (or signs in again) and reconnects.
    """
    try:
        yield b"retry: 3000\n: connected\n\n"
        while True:
            try:
                notice = await asyncio.wait_for(client.__anext__(), timeout=stream.keepalive_s)
            except TimeoutError:
                try:
                    await asyncio.to_thread(security.still_signed_in, who)
                except NotAuthenticated as exc:
                    reason = json.dumps({"code": exc.code, "message": exc.message})
                    yield f"event: reauth\ndata: {reason}\n\n".encode()
                    return
                yield b": keepalive\n\n"
                continue
            except StopAsyncIteration:
                return
            # A station whose alert was moved to another (an earlier sighting arrived late)
            # hears that it left: the notice names it as `rerouted_from`.
            if not who.reaches(notice.get("station_id"), notice.get("area_id"), notice.get("rerouted_from")):
                continue
            data = json.dumps(notice, separators=(",", ":"), ensure_ascii=False, default=str)
            yield f"event: {notice.get('type', 'message')}\ndata: {data}\n\n".encode()
    finally:
        client.close()


@router.get("/alerts/stream", response_class=StreamingResponse)
async def stream_alerts(
    stream: StreamDep, security: SecurityDep, who: Principal = need(P.ALERTS_READ)
) -> StreamingResponse:
    """Live notices of the caller's areas as text/event-stream (AlertRaised, AlertUpdated, ...),
    ended by a `reauth` event once the caller's token expires or their session ends."""
    client = stream.subscribe()  # before answering, so nothing published from now on is missed
    return StreamingResponse(
        _sse(stream, client, who, security),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/alerts/precision", response_model=list[PrecisionRowOut])
def alert_precision(
    alerts: AlertsDep, by: Literal["rule", "device"] = "rule", _: Principal = need(P.ALERTS_EXPORT)
) -> list[PrecisionRowOut]:
    """How closed alerts turned out, per rule or per device of their first evidence."""
    return [PrecisionRowOut.model_validate(row) for row in alerts.precision(by)]


@router.get("/alerts/{alert_id}", response_model=AlertDetailOut)
def get_alert(
    alert_id: str,
    alerts: AlertsDep,
    security: SecurityDep,
    request: Request,
    who: Principal = need(P.ALERTS_READ),
) -> AlertDetailOut:
    """One alert explained: rule facts, evidence in time order, steps, GeoJSON path and routing.

    The alert is its own basis (a listed subject was sighted); the read is audited as such.
    """
    detail = actions.read_alert(alerts, security, who.context(), alert_id, resource=resource_of(request))
    return _detail_out(detail)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge_alert(
    alert_id: str,
    body: TransitionIn,
    alerts: AlertsDep,
    security: SecurityDep,
    request: Request,
    who: Principal = need(P.ALERTS_ACKNOWLEDGE),
) -> AlertOut:
    """Take the alert on: new -> acknowledged."""
    view = actions.acknowledge_alert(
        alerts, security, who.context(), alert_id, note=body.note, resource=resource_of(request)
    )
    return AlertOut.model_validate(view)


@router.post("/alerts/{alert_id}/dispatch", response_model=AlertOut)
def dispatch_alert(
    alert_id: str,
    body: TransitionIn,
    alerts: AlertsDep,
    security: SecurityDep,
    request: Request,
    who: Principal = need(P.ALERTS_ACT),
) -> AlertOut:
    """Send someone: acknowledged -> dispatched."""
    view = actions.dispatch_alert(
        alerts, security, who.context(), alert_id, note=body.note, resource=resource_of(request)
    )
    return AlertOut.model_validate(view)


@router.post("/alerts/{alert_id}/close", response_model=AlertOut)
def close_alert(
    alert_id: str,
    body: CloseIn,
    alerts: AlertsDep,
    security: SecurityDep,
    request: Request,
    who: Principal = need(P.ALERTS_ACT),
) -> AlertOut:
    """Close an open alert with its outcome."""
    view = actions.close_alert(
        alerts,
        security,
        who.context(),
        alert_id,
        outcome=body.outcome,
        note=body.note,
        resource=resource_of(request),
    )
    return AlertOut.model_validate(view)


@router.get(
    "/alerts/{alert_id}/cap",
    response_class=Response,
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}, "description": "CAP 1.2 XML."}},
)
def alert_cap(
    alert_id: str,
    alerts: AlertsDep,
    security: SecurityDep,
    request: Request,
    who: Principal = need(P.ALERTS_EXPORT),
) -> Response:
    """The alert as a CAP 1.2 message, without personal data."""
    body = actions.export_alert(alerts, security, who.context(), alert_id, resource=resource_of(request))
    return Response(body, media_type=CAP_MEDIA_TYPE)


@router.post("/webhooks", response_model=WebhookCreatedOut, status_code=201)
def create_webhook(
    body: WebhookIn,
    alerts: AlertsDep,
    security: SecurityDep,
    request: Request,
    who: Principal = need(P.WEBHOOKS_MANAGE),
) -> WebhookCreatedOut:
    """Register a webhook; the answer carries its signing secret, shown only this once."""
    hook, secret = actions.create_webhook(
        alerts,
        security,
        who.context(),
        url=str(body.url),
        secret=body.secret,
        description=body.description,
        rules=body.rules,
        stations=body.stations,
        resource=resource_of(request),
    )
    return WebhookCreatedOut.model_validate(
        {**WebhookOut.model_validate(hook).model_dump(), "secret": secret}
    )


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(alerts: AlertsDep, who: Principal = need(P.WEBHOOKS_MANAGE)) -> list[WebhookOut]:
    """The caller's active webhooks (a city-wide caller sees everyone's)."""
    return [WebhookOut.model_validate(h) for h in actions.list_webhooks(alerts, who.context())]


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(
    webhook_id: str,
    alerts: AlertsDep,
    security: SecurityDep,
    request: Request,
    who: Principal = need(P.WEBHOOKS_MANAGE),
) -> Response:
    """Stop delivering to a webhook (its delivery history is kept)."""
    actions.delete_webhook(alerts, security, who.context(), webhook_id, resource=resource_of(request))
    return Response(status_code=204)
