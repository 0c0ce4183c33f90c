"""POST /api/v1/ingest: a device uploads a batch of v1 events (NDJSON or a JSON array)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from safecity.ingest import Part, StorageUnavailable
from safecity.web.auth import device_auth
from safecity.web.deps import PlatformDep
from safecity.web.errors import error_response

router = APIRouter(prefix="/api/v1", tags=["ingest"])

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="safecity devices"'}


def _credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, secret = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, secret) if sep and user else None


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """Read the body, giving up (None) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/ingest",
    summary="Upload a batch of device events",
    responses={
        400: {"description": "body unreadable"},
        401: {"description": "bad credentials"},
        413: {"description": "body too large"},
        503: {"description": "storage unavailable"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
        }
    },
)
async def ingest(request: Request, platform: PlatformDep, _: None = device_auth()) -> Any:
    """Store every valid event; list each refused one by index with the field and reason."""
    creds = _credentials(request)
    if creds is None:
        return error_response(
            401,
            "unauthenticated",
            "send HTTP Basic credentials: the device id and its secret",
            headers=_CHALLENGE,
        )
    auth = platform.devices.authenticate(*creds)
    if not auth.ok:
        return error_response(401, "unauthenticated", auth.reason, headers=_CHALLENGE)
    limit = platform.settings.max_body_bytes
    body = await _read_limited(request, limit)
    if body is None:
        return error_response(
            413, "body_too_large", f"the body is larger than {limit} bytes; split the batch"
        )
    try:
        result = await platform.ingest.submit(Part(body=body, device_id=creds[0], source="http"))
    except StorageUnavailable as exc:
        return error_response(503, "storage_unavailable", str(exc), headers={"Retry-After": "5"})
    if result.error is not None:
        return error_response(400, "bad_body", result.error, field="body")
    return JSONResponse(asdict(result))
