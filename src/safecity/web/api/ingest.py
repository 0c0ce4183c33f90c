"""POST /api/v1/ingest: a device uploads a batch of v1 events (NDJSON or a JSON array)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from safecity.ingest.adapters.http import HttpIngest, Refusal
from safecity.ingest.settings import IngestSettings
from safecity.web.auth import device_auth
from safecity.web.deps import PlatformDep
from safecity.web.errors import error_response

router = APIRouter(prefix="/api/v1", tags=["ingest"])


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
    adapter = HttpIngest(
        platform.ingest,
        platform.devices,
        max_body_bytes=platform.settings.section(IngestSettings).max_body_bytes,
    )
    answer = await adapter.receive(
        authorization=request.headers.get("authorization", ""),
        content_length=request.headers.get("content-length"),
        body=request.stream(),
    )
    if isinstance(answer, Refusal):
        return error_response(
            answer.status, answer.code, answer.message, field=answer.field, headers=answer.headers
        )
    return JSONResponse(asdict(answer))
