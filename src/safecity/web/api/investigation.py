"""Person-level queries over HTTP: who a person is, and where a subject has been. Always under a case.

The use cases (justify, look up, bound by the case, audit) are `safecity.investigation`'s; the
routes parse the request and shape the answer, masking numbers the caller's role may not see.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from safecity.core.kinds import SubjectKind
from safecity.investigation import PersonRecord, SubjectPath
from safecity.investigation.stays import stays
from safecity.registry.schemas import BikeOut, PersonOut
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.security.schemas import PathOut, PathPointOut, StayOut
from safecity.web.auth import need, resource_of
from safecity.web.deps import IsoTime, PlatformDep, RowId

router = APIRouter(prefix="/api/v1", tags=["investigation"])

CaseQuery = Annotated[str | None, Query(max_length=32, description="The open case this query is made under.")]
PurposeQuery = Annotated[str | None, Query(max_length=500, description="Why the data is needed.")]


class PersonDetailOut(PersonOut):
    """A person and their registered bikes."""

    bikes: list[BikeOut]


def _person_detail(found: PersonRecord) -> PersonDetailOut:
    return PersonDetailOut(**found.person.model_dump(), bikes=found.bikes)


@router.get("/people/{person_id}", response_model=PersonDetailOut, summary="One person (under a case)")
def get_person(
    person_id: RowId,
    request: Request,
    platform: PlatformDep,
    case_id: CaseQuery = None,
    purpose: PurposeQuery = None,
    who: Principal = need(P.PEOPLE_READ),
) -> PersonDetailOut:
    """Who a registered person is: name, numbers (masked unless the role needs them), bikes."""
    found = platform.investigation.person(
        who, person_id=person_id, case_id=case_id, purpose=purpose, resource=resource_of(request)
    )
    return _person_detail(found)


@router.get(
    "/people", response_model=PersonDetailOut, summary="Find a person by identity number (under a case)"
)
def find_person(
    request: Request,
    platform: PlatformDep,
    id_number: Annotated[str | None, Query(max_length=18)] = None,
    pseudonym: Annotated[str | None, Query(max_length=40, description="A lake pseudonym to resolve.")] = None,
    case_id: CaseQuery = None,
    purpose: PurposeQuery = None,
    who: Principal = need(P.PEOPLE_READ),
) -> PersonDetailOut:
    """Look a person up by identity number, or turn a lake pseudonym back into a person."""
    found = platform.investigation.person(
        who,
        id_number=id_number,
        pseudonym=pseudonym,
        case_id=case_id,
        purpose=purpose,
        resource=resource_of(request),
    )
    return _person_detail(found)


PathKind = Annotated[SubjectKind, Path(description="tag, plate, id_card, phone, tracker, ...")]
PathValue = Annotated[str, Path(max_length=64)]
AreaQuery = Annotated[str | None, Query(max_length=32, description="Default: the case's area.")]


@router.get(
    "/subjects/{kind}/{value}/path", response_model=PathOut, summary="Where a subject has been (under a case)"
)
def subject_path(
    request: Request,
    platform: PlatformDep,
    kind: PathKind,
    value: PathValue,
    start: IsoTime,
    end: IsoTime,
    area_id: AreaQuery = None,
    case_id: CaseQuery = None,
    purpose: PurposeQuery = None,
    who: Principal = need(P.SUBJECTS_TRACE),
) -> PathOut:
    """Every sighting of the subject from start to end within the case's area, in time order, and
    where it stayed."""
    found = platform.investigation.path(
        who,
        kind,
        value,
        start=start,
        end=end,
        area_id=area_id,
        case_id=case_id,
        purpose=purpose,
        resource=resource_of(request),
    )
    return _path_out(found)


@router.get(
    "/subjects/{kind}/{value}/path.geojson",
    summary="A subject's path as GeoJSON (under a case; audited as an export)",
    response_class=JSONResponse,
)
def subject_path_geojson(
    request: Request,
    platform: PlatformDep,
    kind: PathKind,
    value: PathValue,
    start: IsoTime,
    end: IsoTime,
    area_id: AreaQuery = None,
    case_id: CaseQuery = None,
    purpose: PurposeQuery = None,
    who: Principal = need(P.SUBJECTS_TRACE),
) -> JSONResponse:
    """The path as a FeatureCollection: the line, each sighting, and each stay with its minutes."""
    found = platform.investigation.path(
        who,
        kind,
        value,
        start=start,
        end=end,
        area_id=area_id,
        case_id=case_id,
        purpose=purpose,
        resource=resource_of(request),
        export="geojson",
    )
    return JSONResponse(
        path_geojson(found),
        media_type="application/geo+json",
        headers={"Content-Disposition": _attachment(found, "geojson")},
    )


@router.get(
    "/subjects/{kind}/{value}/path.csv",
    summary="A subject's path as CSV (under a case; audited as an export)",
    response_class=PlainTextResponse,
)
def subject_path_csv(
    request: Request,
    platform: PlatformDep,
    kind: PathKind,
    value: PathValue,
    start: IsoTime,
    end: IsoTime,
    area_id: AreaQuery = None,
    case_id: CaseQuery = None,
    purpose: PurposeQuery = None,
    who: Principal = need(P.SUBJECTS_TRACE),
) -> PlainTextResponse:
    """One row per sighting: time (UTC), record kind, device, latitude, longitude, area."""
    found = platform.investigation.path(
        who,
        kind,
        value,
        start=start,
        end=end,
        area_id=area_id,
        case_id=case_id,
        purpose=purpose,
        resource=resource_of(request),
        export="csv",
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ts", "kind", "device", "lat", "lon", "area"])
    for p in found.points:
        writer.writerow([p["ts"].isoformat(), p["kind"], p["device"], p["lat"], p["lon"], p["area"]])
    return PlainTextResponse(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _attachment(found, "csv")},
    )


def _path_out(found: SubjectPath) -> PathOut:
    return PathOut(
        subject_kind=found.subject_kind,
        subject=found.subject,
        case_id=found.case_id,
        start=found.start,
        end=found.end,
        area_id=found.area_id,
        count=len(found.points),
        points=[PathPointOut(**p) for p in found.points],
        stays=[StayOut(**asdict(s), minutes=round(s.minutes, 1)) for s in stays(found.points)],
    )


def path_geojson(found: SubjectPath) -> dict[str, Any]:
    """A path as GeoJSON: a LineString of the positioned sightings, a Point each, a Point each stay."""
    placed = [p for p in found.points if p["lat"] is not None and p["lon"] is not None]
    features: list[dict[str, Any]] = []
    if len(placed) > 1:
        line = {"type": "LineString", "coordinates": [[p["lon"], p["lat"]] for p in placed]}
        features.append({"type": "Feature", "geometry": line, "properties": {"role": "path"}})
    for p in placed:
        point = {"type": "Point", "coordinates": [p["lon"], p["lat"]]}
        props = {
            "role": "sighting",
            "ts": p["ts"].isoformat(),
            "kind": p["kind"],
            "device": p["device"],
            "area": p["area"],
        }
        features.append({"type": "Feature", "geometry": point, "properties": props})
    for stay in stays(found.points):
        point = {"type": "Point", "coordinates": [stay.lon, stay.lat]}
        props = {
            "role": "stay",
            "start": stay.start.isoformat(),
            "end": stay.end.isoformat(),
            "minutes": round(stay.minutes, 1),
            "device": stay.device,
            "sightings": stay.sightings,
        }
        features.append({"type": "Feature", "geometry": point, "properties": props})
    return {
        "type": "FeatureCollection",
        "properties": {
            "subject_kind": found.subject_kind,
            "subject": found.subject,
            "case_id": found.case_id,
            "start": found.start.isoformat(),
            "end": found.end.isoformat(),
        },
        "features": features,
    }


def _attachment(found: SubjectPath, suffix: str) -> str:
    name = f"path-{found.case_id}-{found.subject_kind}.{suffix}"
    return f'attachment; filename="{name}"'


__all__ = ["router"]
