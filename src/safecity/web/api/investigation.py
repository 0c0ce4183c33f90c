"""Person-level queries over HTTP: who a person is, and where a subject has been. Always under a case.

The use cases (justify, look up, bound by the case, audit) are `safecity.investigation`'s; the
routes parse the request and shape the answer, masking numbers the caller's role may not see.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from safecity.core.kinds import SubjectKind
from safecity.investigation import PersonRecord
from safecity.registry.schemas import BikeOut, PersonOut
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.security.schemas import PathOut, PathPointOut
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


@router.get(
    "/subjects/{kind}/{value}/path", response_model=PathOut, summary="Where a subject has been (under a case)"
)
def subject_path(
    request: Request,
    platform: PlatformDep,
    kind: Annotated[SubjectKind, Path(description="tag, plate, id_card, phone, tracker, ...")],
    value: Annotated[str, Path(max_length=64)],
    start: IsoTime,
    end: IsoTime,
    area_id: Annotated[str | None, Query(max_length=32, description="Default: the case's area.")] = None,
    case_id: CaseQuery = None,
    purpose: PurposeQuery = None,
    who: Principal = need(P.SUBJECTS_TRACE),
) -> PathOut:
    """Every sighting of the subject from start to end within the case's area, in time order."""
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
    return PathOut(
        subject_kind=found.subject_kind,
        subject=found.subject,
        case_id=found.case_id,
        start=found.start,
        end=found.end,
        area_id=found.area_id,
        count=len(found.points),
        points=[PathPointOut(**p) for p in found.points],
    )


__all__ = ["router"]
