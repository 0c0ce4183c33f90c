"""Recognition over HTTP: cameras post images; checkpoint officers follow hits and record stops.

A camera posts an image either as the whole body (`Content-Type: image/jpeg` or `image/png`, the
description in the query: `?ts=...&purpose=plate&framing=frame&box=x,y,w,h`) or as a multipart
form (`image` file plus the same fields), authenticated like `/ingest` with HTTP Basic (device id
and secret). The answer is 202 with the image's id: reading happens behind the bus.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from safecity.ingest.adapters.http import CHALLENGE, basic_credentials, read_limited
from safecity.recognition.checkpoints import Checkpoints, HitView
from safecity.recognition.errors import BadCapture
from safecity.recognition.intake import Capture, Intake
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import device_auth, need, resource_of
from safecity.web.deps import PlatformDep, RowId
from safecity.web.errors import error_response
from safecity.web.openapi import ErrorOut

router = APIRouter(prefix="/api/v1", tags=["recognition"])
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the text fields beside the image
PRIVATE = {"Cache-Control": "private, no-store"}  # images of people stay out of shared caches


class AcceptedOut(BaseModel):
    """An image kept and queued for the readers."""

    image_id: str
    device: str
    ts: str
    width: int
    height: int
    queued: int = Field(description="Images waiting for a reader, this one included.")


class CheckpointHitOut(BaseModel):
    """A checkpoint hit: a plate read near a watch-listed plate."""

    id: int
    ts: str
    device: str
    area: str | None
    lat: float | None
    lon: float | None
    plate_read: str = Field(description="The plate as read.")
    listed_plate: str = Field(description="The listed plate it came near.")
    list_kind: str
    distance: float = Field(description="Weighted edits between them (0: the same plate).")
    confidence: float | None
    priority: int = Field(description="1 (stop now) to 4 (note).")
    action: str = Field(description="`alert` (a warning was raised too) or `log`.")
    has_image: bool
    status: str = Field(description="`new`, `stopped`, `not_stopped` or `misread`.")
    outcome: str | None
    handled_by: str | None
    handled_at: str | None


class StopOutcomeIn(BaseModel):
    """What the checkpoint did about a hit."""

    status: str = Field(pattern="^(stopped|not_stopped|misread)$")
    outcome: str = Field("", max_length=2000, description="What the stop found; why it was not stopped.")


def hit_out(view: HitView) -> CheckpointHitOut:
    """The wire form of a hit."""
    return CheckpointHitOut(
        id=view.id,
        ts=view.ts.isoformat(),
        device=view.device,
        area=view.area,
        lat=view.lat,
        lon=view.lon,
        plate_read=view.plate_read,
        listed_plate=view.listed_plate,
        list_kind=view.list_kind,
        distance=view.distance,
        confidence=view.confidence,
        priority=view.priority,
        action=view.action,
        has_image=view.image_id is not None,
        status=view.status,
        outcome=view.outcome,
        handled_by=view.handled_by,
        handled_at=view.handled_at.isoformat() if view.handled_at else None,
    )


def _box(value: str | None) -> tuple[int, int, int, int] | None:
    if value is None or value == "":
        return None
    parts = value.split(",")
    if len(parts) != 4 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise BadCapture("box: four whole numbers x,y,w,h", field="box")
    x, y, w, h = (int(p) for p in parts)
    return x, y, w, h


def _ts(value: str | None) -> str | int:
    if value is None or value == "":
        raise BadCapture("ts: when the camera took the image (RFC 3339 or epoch ms) is required", field="ts")
    return value


@router.post(
    "/recognition/images",
    status_code=202,
    response_model=AcceptedOut,
    summary="Post a camera image (a frame or a crop) for plate and face reading",
    responses={
        401: {"model": ErrorOut, "description": "Bad credentials."},
        413: {"model": ErrorOut, "description": "The image is larger than the limit."},
        422: {"model": ErrorOut, "description": "The image or its description is wrong (named in `field`)."},
        503: {"model": ErrorOut, "description": "Too many images wait for a reader: retry shortly."},
    },
)
async def post_image(request: Request, platform: PlatformDep, _: None = device_auth()) -> Any:
    """Keep the image and queue it; 202 with its id (the reads arrive as ordinary records)."""
    creds = basic_credentials(request.headers.get("authorization", ""))
    if creds is None:
        message = "send HTTP Basic credentials: the device id and its secret"
        return error_response(401, "unauthenticated", message, headers=CHALLENGE)
    auth = platform.devices.authenticate(*creds)
    if not auth.ok:
        return error_response(401, "unauthenticated", auth.reason, headers=CHALLENGE)
    intake = platform.service(Intake)
    limit = intake.limits.max_bytes
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind.startswith("multipart/form-data"):
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
            return error_response(
                413, "image_too_large", f"the form is larger than {limit} bytes", field="image"
            )
        try:
            form = await request.form(max_files=1, max_fields=8, max_part_size=limit + 1)
        except StarletteHTTPException as exc:  # too many fields or files, a broken multipart body
            raise BadCapture(f"form: {exc.detail}", field="form") from exc
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            raise BadCapture("image: attach the picture as the form's `image` file", field="image")
        data = await upload.read(limit + 1)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    elif kind in ("image/jpeg", "image/png"):
        body = await read_limited(request.stream(), limit, request.headers.get("content-length"))
        if body is None:
            return error_response(
                413, "image_too_large", f"the image is larger than {limit} bytes", field="image"
            )
        data, fields = body, dict(request.query_params)
    else:
        raise BadCapture(
            "send the image as image/jpeg or image/png, or as a multipart form with an `image` file",
            field="content-type",
        )
    capture = Capture(
        device=creds[0],
        ts=_ts(fields.get("ts")),
        purpose=fields.get("purpose") or None,
        framing=fields.get("framing", "frame"),
        box=_box(fields.get("box")),
        source="http",
    )
    # Keeping writes and syncs a file and commits a row: off the event loop.
    accepted = await asyncio.to_thread(intake.keep, capture, data)
    await intake.announce(accepted)
    out = AcceptedOut(
        image_id=accepted.image_id,
        device=accepted.device,
        ts=accepted.ts.isoformat(),
        width=accepted.width,
        height=accepted.height,
        queued=accepted.queued,
    )
    return JSONResponse(out.model_dump(), status_code=202)


@router.get(
    "/checkpoints/hits", response_model=list[CheckpointHitOut], summary="Checkpoint hits of your areas"
)
def list_hits(
    platform: PlatformDep,
    after: int = Query(0, ge=0, description="Only hits with a larger id (live polling)."),
    status: str | None = Query(None, pattern="^(new|stopped|not_stopped|misread)$"),
    device: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=500),
    who: Principal = need(P.CHECKPOINT_WORK),
) -> list[CheckpointHitOut]:
    """Newest first; `after` gives only the hits since the last poll."""
    views = platform.service(Checkpoints).hits(
        who.context(), after=after, status=status, device=device, limit=limit
    )
    return [hit_out(v) for v in views]


@router.get("/checkpoints/hits/{hit_id}", response_model=CheckpointHitOut, summary="One checkpoint hit")
def get_hit(
    hit_id: RowId, platform: PlatformDep, who: Principal = need(P.CHECKPOINT_WORK)
) -> CheckpointHitOut:
    """A hit of your areas."""
    return hit_out(platform.service(Checkpoints).hit(who.context(), hit_id))


@router.get(
    "/checkpoints/hits/{hit_id}/image",
    summary="A hit's image, every face in it blurred",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def hit_image(
    hit_id: RowId, request: Request, platform: PlatformDep, who: Principal = need(P.CHECKPOINT_WORK)
) -> Response:
    """The camera's image of the hit as the console may show it (faces mosaicked); audited."""
    data = await platform.service(Checkpoints).hit_image(who.context(), hit_id, resource=resource_of(request))
    return Response(data, media_type="image/jpeg", headers=PRIVATE)


@router.post(
    "/checkpoints/hits/{hit_id}/outcome", response_model=CheckpointHitOut, summary="Record a stop's outcome"
)
def record_outcome(
    hit_id: RowId,
    body: StopOutcomeIn,
    request: Request,
    platform: PlatformDep,
    who: Principal = need(P.CHECKPOINT_WORK),
) -> CheckpointHitOut:
    """Stopped (and what was found), not stopped, or a misread: once per hit; audited."""
    view = platform.service(Checkpoints).record_outcome(
        who.context(), hit_id, status=body.status, outcome=body.outcome, resource=resource_of(request)
    )
    return hit_out(view)
