"""Faces over HTTP: enrolment from photos, the review queue and its precision report, and a lost
person's photo searched under a case. The use cases are `safecity.recognition`'s.

Photos travel as multipart forms (`photos`, one to five files), never in URLs. Every look at an
image, every decision and every search is audited by the use case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from safecity.recognition.enrol import MAX_PHOTOS, EnrolmentRefused, Enrolments, NewEnrolment
from safecity.recognition.lost import LostAnswer, LostPersonSearch
from safecity.recognition.review import Reviews, ReviewView
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.api.investigation import CaseQuery, PurposeQuery
from safecity.web.api.recognition import PRIVATE
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep, RowId
from safecity.web.openapi import ErrorOut

router = APIRouter(prefix="/api/v1/faces", tags=["faces"])
# The photo forms are read by the routes themselves (multipart), so FastAPI cannot infer these.
PHOTO_FORM_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "A photo is larger than the limit."},
    422: {"model": ErrorOut, "description": "A field or photo is wrong (named in `field`: photos[i])."},
}
FORM_PHOTO_BYTES = 8_000_000


class EnrolledOut(BaseModel):
    """An enrolled face: its watchlist entry and the reference cameras and reviews name it by."""

    entry_id: int
    reference: str
    list_kind: str
    label: str
    photos: int
    spread: float = Field(description="How far the photos' faces lie from their mean (dlib distance).")
    expires_at: datetime


class ReviewOut(BaseModel):
    """A face hit as a reviewer sees it."""

    id: int
    status: str = Field(description="`pending`, `confirmed`, `rejected` or `expired`.")
    list_kind: str
    reference: str
    label: str
    photos: int = Field(description="Enrolment photos to compare with (GET .../photos/{n}).")
    distance: float | None = Field(
        description="dlib distance (lower is more alike); null: the camera's own match."
    )
    device: str
    area: str | None
    ts: datetime
    lat: float | None
    lon: float | None
    has_image: bool
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class DecisionIn(BaseModel):
    """A reviewer's decision."""

    decision: str = Field(pattern="^(confirmed|rejected)$")
    reason: str = Field("", max_length=2000, description="Required to reject: why it is not the same person.")


class FacePrecisionOut(BaseModel):
    """Decisions in one group."""

    group: str
    confirmed: int
    rejected: int
    expired: int
    pending: int
    precision: float | None


class CandidateOut(BaseModel):
    """A face sighting like the lost person's photo."""

    sighting_id: int
    distance: float
    ts: datetime
    device: str
    area: str | None
    lat: float | None
    lon: float | None


class LostOut(BaseModel):
    """Candidates most alike first, and the probable path (the candidates in time order)."""

    case_id: str
    since: datetime
    until: datetime
    searched: int
    candidates: list[CandidateOut]
    path: dict[str, Any] = Field(description="GeoJSON LineString Feature through the candidates by time.")


def review_out(view: ReviewView) -> ReviewOut:
    """The wire form of a review item."""
    return ReviewOut.model_validate(view, from_attributes=True)


def lost_out(answer: LostAnswer) -> LostOut:
    """The wire form of a lost-person search, with its path."""
    located = sorted(
        (c for c in answer.candidates if c.lat is not None and c.lon is not None), key=lambda c: c.ts
    )
    path = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[c.lon, c.lat] for c in located]},
        "properties": {"times": [c.ts.isoformat() for c in located], "devices": [c.device for c in located]},
    }
    return LostOut(
        case_id=answer.case_id,
        since=answer.since,
        until=answer.until,
        searched=answer.searched,
        candidates=[CandidateOut.model_validate(c, from_attributes=True) for c in answer.candidates],
        path=path,
    )


async def _photos(form: FormData) -> list[bytes]:
    files = [f for f in form.getlist("photos") if isinstance(f, UploadFile)]
    if not files:
        raise EnrolmentRefused(
            "photos: attach one or more photos as the form's `photos` files", field="photos"
        )
    return [await f.read(FORM_PHOTO_BYTES + 1) for f in files]


def _text(form: FormData, name: str, default: str | None = None) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value.strip() else default


def _number(form: FormData, name: str, default: float | None, *, low: float, high: float) -> float | None:
    text = _text(form, name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise EnrolmentRefused(f"{name}: a number from {low:g} to {high:g}", field=name) from None
    if not low <= value <= high:
        raise EnrolmentRefused(f"{name}: a number from {low:g} to {high:g}", field=name)
    return value


async def _form(request: Request) -> FormData:
    try:
        return await request.form(max_files=MAX_PHOTOS, max_fields=12, max_part_size=FORM_PHOTO_BYTES + 1)
    except StarletteHTTPException as exc:  # too many fields or files, a broken multipart body
        raise EnrolmentRefused(f"form: {exc.detail}", field="form") from exc


@router.post(
    "/enrolments",
    status_code=201,
    response_model=EnrolledOut,
    summary="Enrol a fugitive's or a missing person's face from photos",
    responses=PHOTO_FORM_ERRORS,
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}}},
)
async def enrol(request: Request, platform: PlatformDep, who: Principal = need(P.FACES_ENROL)) -> EnrolledOut:
    """Form fields: `photos` (1-5 files, one clear face each), `list_kind` (fugitive | missing_person),
    `label` (what reviewers see), `basis`, `valid_days`, optional `owner_station_id`, `max_distance`."""
    form = await _form(request)
    valid_days = _number(form, "valid_days", 180, low=1, high=3650)
    new = NewEnrolment(
        list_kind=_text(form, "list_kind", "") or "",
        label=_text(form, "label", "") or "",
        basis=_text(form, "basis", "") or "",
        valid_days=int(valid_days or 180),
        owner_station_id=_text(form, "owner_station_id"),
        max_distance=_number(form, "max_distance", None, low=0.2, high=0.6),
    )
    enrolled = await platform.service(Enrolments).enrol(
        who.context(), new, await _photos(form), resource=resource_of(request)
    )
    return EnrolledOut.model_validate(enrolled, from_attributes=True)


@router.get("/reviews", response_model=list[ReviewOut], summary="The face review queue of your areas")
def reviews(
    platform: PlatformDep,
    status: str | None = Query("pending", pattern="^(pending|confirmed|rejected|expired)$"),
    limit: int = Query(50, ge=1, le=500),
    who: Principal = need(P.FACES_REVIEW),
) -> list[ReviewOut]:
    """Pending hits oldest first (first come, first judged); decided ones newest first."""
    return [review_out(v) for v in platform.service(Reviews).queue(who.context(), status=status, limit=limit)]


@router.get("/reviews/{review_id}", response_model=ReviewOut, summary="One face hit")
def review(review_id: RowId, platform: PlatformDep, who: Principal = need(P.FACES_REVIEW)) -> ReviewOut:
    """A hit of your areas."""
    return review_out(platform.service(Reviews).item(who.context(), review_id))


@router.get(
    "/reviews/{review_id}/image",
    summary="The camera image of a face hit (every other face mosaicked)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def review_image(
    review_id: RowId, request: Request, platform: PlatformDep, who: Principal = need(P.FACES_REVIEW)
) -> Response:
    """The face judged, unmasked; everyone else in the frame mosaicked. Audited."""
    data = await platform.service(Reviews).camera_image(
        who.context(), review_id, resource=resource_of(request)
    )
    return Response(data, media_type="image/jpeg", headers=PRIVATE)


@router.get(
    "/reviews/{review_id}/photos/{n}",
    summary="An enrolment photo of the listed person, to compare with",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
def review_photo(
    review_id: RowId, n: int, request: Request, platform: PlatformDep, who: Principal = need(P.FACES_REVIEW)
) -> Response:
    """Enrolment photo `n` (from 0). Audited."""
    data = platform.service(Reviews).enrolment_photo(
        who.context(), review_id, n, resource=resource_of(request)
    )
    kind = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    return Response(data, media_type=kind, headers=PRIVATE)


@router.post(
    "/reviews/{review_id}/decision", response_model=ReviewOut, summary="Confirm or reject a face hit"
)
def decide(
    review_id: RowId,
    body: DecisionIn,
    request: Request,
    platform: PlatformDep,
    who: Principal = need(P.FACES_REVIEW),
) -> ReviewOut:
    """Confirmed: a warning goes out now. Rejected (with the reason): nothing goes out. Once; audited."""
    view = platform.service(Reviews).decide(
        who.context(), review_id, decision=body.decision, reason=body.reason, resource=resource_of(request)
    )
    return review_out(view)


@router.get("/precision", response_model=dict[str, list[FacePrecisionOut]], summary="Reviewers' decisions")
def precision(
    platform: PlatformDep, who: Principal = need(P.FACES_REVIEW)
) -> dict[str, list[FacePrecisionOut]]:
    """Decisions by list, camera and distance band: the evidence thresholds are set from."""
    report = platform.service(Reviews).precision(who.context())
    return {
        axis: [
            FacePrecisionOut(
                group=r.group,
                confirmed=r.confirmed,
                rejected=r.rejected,
                expired=r.expired,
                pending=r.pending,
                precision=r.precision,
            )
            for r in rows
        ]
        for axis, rows in report.items()
    }


@router.post(
    "/lost",
    response_model=LostOut,
    summary="Search a lost person's photo across the recent face sightings, under a case",
    responses=PHOTO_FORM_ERRORS,
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}}},
)
async def lost(request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)) -> LostOut:
    """Form fields: `photos` (1-3 files), `case_id`, `purpose`, `hours` (default 24), `max_distance`
    (default 0.6). Candidates of the case's areas, most alike first, and the probable path."""
    form = await _form(request)
    request.state.audit_case_id = _text(form, "case_id")
    request.state.audit_purpose = _text(form, "purpose")
    search = platform.service(LostPersonSearch)
    answer = await search.search(
        who,
        await _photos(form),
        case_id=_text(form, "case_id"),
        purpose=_text(form, "purpose"),
        hours=_number(form, "hours", 24.0, low=0.1, high=search.keep_hours) or 24.0,
        max_distance=_number(form, "max_distance", 0.6, low=0.2, high=0.8) or 0.6,
        resource=resource_of(request),
    )
    return lost_out(answer)


@router.get(
    "/sightings/{sighting_id}/image",
    summary="A lost-person candidate's camera image, under the case",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def sighting_image(
    sighting_id: RowId,
    request: Request,
    platform: PlatformDep,
    case_id: CaseQuery = None,
    purpose: PurposeQuery = None,
    who: Principal = need(P.SUBJECTS_TRACE),
) -> Response:
    """The candidate's face unmasked, every other face mosaicked. Audited with the case."""
    data = await platform.service(LostPersonSearch).candidate_image(
        who, sighting_id, case_id=case_id, purpose=purpose, resource=resource_of(request)
    )
    return Response(data, media_type="image/jpeg", headers=PRIVATE)
