"""Alert API: list and explain alerts, move them through their lifecycle, stream, CAP and webhooks.

Every error answers {"error": {"code", "message", "field"}}: 404 unknown alert or webhook,
409 a lifecycle step not allowed from the current status, 422 a malformed request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import AwareDatetime

from safecity.alerts import (
    CAP_MEDIA_TYPE,
    AlertDetail,
    AlertError,
    AlertNotFound,
    AlertService,
    AlertStatus,
    AlertStream,
    StreamClient,
    TransitionNotAllowed,
    WebhookNotFound,
)
from safecity.alerts.schemas import (
    AlertDetailOut,
    AlertListOut,
    AlertOut,
    CloseIn,
    ErrorOut,
    PrecisionRowOut,
    TransitionIn,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
)


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    """The JSON error body every alert endpoint uses."""
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    # ("body", "outcome") -> "outcome"; ("query", "limit") -> "limit"; ("body",) -> None
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    return ".".join(parts) or None


class AlertErrorRoute(APIRoute):
    """A route that turns validation and alert errors into the JSON error body, never a 500."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler with the error mapping."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                return error_response(
                    422,
                    "invalid_request",
                    str(first.get("msg", "invalid request")),
                    _field_of(tuple(first.get("loc", ()))),
                )
            except (AlertNotFound, WebhookNotFound) as exc:
                return error_response(404, exc.code, exc.message, exc.field)
            except TransitionNotAllowed as exc:
                return error_response(409, exc.code, exc.message, exc.field)
            except AlertError as exc:
                return error_response(422, exc.code, exc.message, exc.field)
            except HTTPException as exc:
                return error_response(exc.status_code, "http_error", str(exc.detail))

        return route


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown alert or webhook."},
    409: {"model": ErrorOut, "description": "Step not allowed from the current status."},
    422: {"model": ErrorOut, "description": "Malformed request."},
}

router = APIRouter(prefix="/api/v1", tags=["alerts"], route_class=AlertErrorRoute, responses=ERRORS)


def get_alert_service(request: Request) -> AlertService:
    """The platform's alert service."""
    service: AlertService = request.app.state.platform.alerts
    return service


def get_alert_stream(request: Request) -> AlertStream:
    """The platform's live alert hub."""
    stream: AlertStream = request.app.state.platform.alert_stream
    return stream


AlertsDep = Annotated[AlertService, Depends(get_alert_service)]
StreamDep = Annotated[AlertStream, Depends(get_alert_stream)]


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
    status: AlertStatus | None = None,
    station_id: str | None = None,
    rule: str | None = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Only alerts seen at or after this time.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AlertListOut:
    """Alerts, most recently seen first."""
    items = alerts.list_alerts(
        status=status, station_id=station_id, rule=rule, since=since, limit=limit, offset=offset
    )
    return AlertListOut(items=[AlertOut.model_validate(a) for a in items], limit=limit, offset=offset)


async def _sse(stream: AlertStream, client: StreamClient) -> AsyncIterator[bytes]:
    """Server-Sent Events: one event per notice, a comment line as keepalive."""
    try:
        yield b"retry: 3000\n: connected\n\n"
        while True:
            try:
                notice = await asyncio.wait_for(client.__anext__(), timeout=stream.keepalive_s)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            except StopAsyncIteration:
                return
            data = json.dumps(notice, separators=(",", ":"), ensure_ascii=False, default=str)
            yield f"event: {notice.get('type', 'message')}\ndata: {data}\n\n".encode()
    finally:
        client.close()


@router.get("/alerts/stream", response_class=StreamingResponse)
async def stream_alerts(stream: StreamDep) -> StreamingResponse:
    """Live alert notices as text/event-stream (AlertRaised, AlertUpdated, AlertTransitioned)."""
    client = stream.subscribe()  # before answering, so nothing published from now on is missed
    return StreamingResponse(
        _sse(stream, client),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/alerts/precision", response_model=list[PrecisionRowOut])
def alert_precision(alerts: AlertsDep, by: Literal["rule", "device"] = "rule") -> list[PrecisionRowOut]:
    """How closed alerts turned out, per rule or per device of their first evidence."""
    return [PrecisionRowOut.model_validate(row) for row in alerts.precision(by)]


@router.get("/alerts/{alert_id}", response_model=AlertDetailOut)
def get_alert(alert_id: str, alerts: AlertsDep) -> AlertDetailOut:
    """One alert explained: rule facts, evidence in time order, steps, GeoJSON path and routing."""
    return _detail_out(alerts.get(alert_id))


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge_alert(alert_id: str, body: TransitionIn, alerts: AlertsDep) -> AlertOut:
    """Take the alert on: new -> acknowledged."""
    return AlertOut.model_validate(alerts.acknowledge(alert_id, by=body.by, note=body.note))


@router.post("/alerts/{alert_id}/dispatch", response_model=AlertOut)
def dispatch_alert(alert_id: str, body: TransitionIn, alerts: AlertsDep) -> AlertOut:
    """Send someone: acknowledged -> dispatched."""
    return AlertOut.model_validate(alerts.dispatch(alert_id, by=body.by, note=body.note))


@router.post("/alerts/{alert_id}/close", response_model=AlertOut)
def close_alert(alert_id: str, body: CloseIn, alerts: AlertsDep) -> AlertOut:
    """Close an open alert with its outcome."""
    return AlertOut.model_validate(alerts.close(alert_id, by=body.by, outcome=body.outcome, note=body.note))


@router.get(
    "/alerts/{alert_id}/cap",
    response_class=Response,
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}, "description": "CAP 1.2 XML."}},
)
def alert_cap(alert_id: str, alerts: AlertsDep) -> Response:
    """The alert as a CAP 1.2 message, without personal data."""
    return Response(alerts.export_cap(alert_id), media_type=CAP_MEDIA_TYPE)


@router.post("/webhooks", response_model=WebhookCreatedOut, status_code=201)
def create_webhook(body: WebhookIn, alerts: AlertsDep) -> WebhookCreatedOut:
    """Register a webhook; the answer carries its signing secret, shown only this once."""
    hook, secret = alerts.create_webhook(
        url=str(body.url),
        secret=body.secret,
        description=body.description,
        rules=body.rules,
        stations=body.stations,
    )
    shown = WebhookOut.model_validate(hook).model_dump()
    return WebhookCreatedOut.model_validate({**shown, "secret": secret})


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(alerts: AlertsDep) -> list[WebhookOut]:
    """Active webhooks."""
    return [WebhookOut.model_validate(h) for h in alerts.list_webhooks()]


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: str, alerts: AlertsDep) -> Response:
    """Stop delivering to a webhook (its delivery history is kept)."""
    alerts.delete_webhook(webhook_id)
    return Response(status_code=204)
