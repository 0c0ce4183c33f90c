"""The SMS gateway's API: a device of kind `sms_gateway` fetches the text messages to send and reports back.

Authenticated like every device, with HTTP Basic (device id and secret). The bodies may hold
one-time codes meant for the person alone: only the gateway ever reads them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from safecity.core.errors import AccessDenied
from safecity.ingest.adapters.http import CHALLENGE, basic_credentials
from safecity.web.auth import device_auth
from safecity.web.deps import PlatformDep
from safecity.web.errors import error_response

router = APIRouter(prefix="/api/v1/gateway", tags=["sms gateway"])


class MessageOut(BaseModel):
    """A text message to send."""

    id: str = Field(description="The message's id: report on it, and drop a repeat of it.")
    to: str = Field(description="The phone number to send to.")
    body: str = Field(description="The text to send, as it is.")
    created_at: datetime = Field(description="When the platform queued it.")


class DeliveryIn(BaseModel):
    """How sending one message went."""

    model_config = ConfigDict(extra="forbid")

    sent: bool = Field(description="True once the SMS provider accepted it.")
    error: str | None = Field(None, max_length=500, description="Why it failed, when it did.")


def _refused(exc: AccessDenied) -> JSONResponse:
    # Device refusals are not audited (a misconfigured device would flood the trail), as for ingest.
    headers = CHALLENGE if exc.status == 401 else None
    return error_response(exc.status, exc.code, exc.message, headers=headers)


def _credentials(request: Request) -> tuple[str, str]:
    found = basic_credentials(request.headers.get("authorization", ""))
    if found is None:
        raise AccessDenied(
            "not_authenticated", "send HTTP Basic credentials: the gateway's id and secret", status=401
        )
    return found


@router.get("/messages", response_model=list[MessageOut])
def fetch(
    request: Request,
    platform: PlatformDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    _: None = device_auth(),
) -> list[MessageOut] | JSONResponse:
    """The oldest messages waiting, now handed to this gateway to send."""
    try:
        taken = platform.registry.sms.fetch(*_credentials(request), limit=limit)
    except AccessDenied as exc:
        return _refused(exc)
    return [MessageOut(id=m.id, to=m.to, body=m.body, created_at=m.created_at) for m in taken]


@router.post("/messages/{message_id}", status_code=204, response_class=Response)
def report(
    message_id: Annotated[str, Path(max_length=26)],
    body: DeliveryIn,
    request: Request,
    platform: PlatformDep,
    _: None = device_auth(),
) -> Response:
    """Say whether a message handed to this gateway went out (a repeated report is harmless)."""
    try:
        device_id, secret = _credentials(request)
        platform.registry.sms.report(device_id, secret, message_id, sent=body.sent, error=body.error)
    except AccessDenied as exc:
        return _refused(exc)
    return Response(status_code=204)
