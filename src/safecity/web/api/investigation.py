"""Person-level queries: who a person is, and where a subject has been. Always under a case.

Each route calls `justify` before touching data: the caller names an open case they are assigned
to and a purpose; the case's window and area bound the question. Identity and phone numbers
reach the lake only as pseudonyms, so a person's path is looked up by the pseudonyms of their
numbers under every key version still held.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import polars as pl
from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime
from sqlalchemy import select

from safecity.core.kinds import SubjectKind
from safecity.registry import NotFound, Person
from safecity.registry.models import EBike
from safecity.registry.schemas import BikeOut, PersonOut
from safecity.security.audit import AuditEntry, subject
from safecity.security.cases import justify
from safecity.security.errors import AccountError
from safecity.security.linkage import lake_subjects, resolve_pseudonym
from safecity.security.principal import Principal
from safecity.security.pseudonym import PSEUDONYMISED_SUBJECT_KINDS
from safecity.security.roles import Permission as P
from safecity.security.schemas import PathOut, PathPointOut
from safecity.web.api.registry import person_out
from safecity.web.auth import audited, need, platform_of, resource_of
from safecity.web.deps import PlatformDep, RowId

router = APIRouter(prefix="/api/v1", tags=["investigation"])

CaseQuery = Annotated[str | None, Query(max_length=32, description="The open case this query is made under.")]
PurposeQuery = Annotated[str | None, Query(max_length=500, description="Why the data is needed.")]
MAX_POINTS = 10_000


class PersonDetailOut(PersonOut):
    """A person and their registered bikes."""

    bikes: list[BikeOut]


def _person_detail(person: Person, bikes: list[EBike], who: Principal) -> PersonDetailOut:
    base = person_out(person, who).model_dump()
    return PersonDetailOut(
        **base,
        bikes=[
            BikeOut(
                id=b.id,
                tag_id=b.tag_id,
                frame_number=b.frame_number,
                model=b.model,
                colour=b.colour,
                status=b.status,
                registered_at=b.registered_at,
            )
            for b in bikes
        ],
    )


def _read_person(
    request: Request,
    who: Principal,
    person: Person | None,
    case_id: str | None,
    purpose: str | None,
    key: str,
) -> PersonDetailOut:
    """Justify, then show and audit one person (the justification comes before any lookup result)."""
    platform = platform_of(request)
    with platform.session_factory() as session:
        case = justify(
            session,
            who,
            case_id=case_id,
            purpose=purpose,
            start=None,
            end=None,
            area_id=person.home_area_id if person is not None else None,
            tree=platform.security.areas.tree(),
        )
        if person is None:
            audited(
                request,
                who,
                AuditEntry(
                    "people.read", resource_of(request), case_id=case.id, purpose=purpose, result_count=0
                ),
            )
            raise NotFound("person", key)
        bikes = list(session.scalars(select(EBike).where(EBike.owner_id == person.id)))
    out = _person_detail(person, bikes, who)
    audited(
        request,
        who,
        AuditEntry(
            "people.read",
            resource_of(request),
            case_id=case.id,
            purpose=purpose,
            subjects=[subject("person", person.id), *(subject("tag", b.tag_id) for b in bikes)],
            result_count=1,
        ),
    )
    return out


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
    with platform.session_factory() as session:
        person = session.get(Person, person_id)
        if person is not None:
            session.expunge(person)
    return _read_person(request, who, person, case_id, purpose, str(person_id))


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
    if (id_number is None) == (pseudonym is None):
        raise AccountError("give exactly one of id_number or pseudonym", field="id_number")
    with platform.session_factory() as session:
        if id_number is not None:
            person = session.scalars(
                select(Person).where(Person.id_number == id_number.strip().upper())
            ).first()
        else:
            found = resolve_pseudonym(session, platform.pseudonyms, pseudonym or "")
            person = session.get(Person, found) if found is not None else None
        if person is not None:
            session.expunge(person)
    return _read_person(request, who, person, case_id, purpose, id_number or pseudonym or "")


@router.get(
    "/subjects/{kind}/{value}/path", response_model=PathOut, summary="Where a subject has been (under a case)"
)
def subject_path(
    request: Request,
    platform: PlatformDep,
    kind: Annotated[SubjectKind, Path(description="tag, plate, id_card, phone, tracker, ...")],
    value: Annotated[str, Path(max_length=64)],
    start: AwareDatetime,
    end: AwareDatetime,
    area_id: Annotated[str | None, Query(max_length=32, description="Default: the case's area.")] = None,
    case_id: CaseQuery = None,
    purpose: PurposeQuery = None,
    who: Principal = need(P.SUBJECTS_TRACE),
) -> PathOut:
    """Every sighting of the subject from start to end within the case's area, in time order."""
    if end <= start:
        raise AccountError("end must be after start", field="end")
    tree = platform.security.areas.tree()
    with platform.session_factory() as session:
        case = justify(
            session, who, case_id=case_id, purpose=purpose, start=start, end=end, area_id=area_id, tree=tree
        )
        scope_area = area_id or case.area_id
    plain = value.strip().upper() if kind in (SubjectKind.TAG, SubjectKind.PLATE) else value.strip()
    wanted = lake_subjects(platform.pseudonyms, kind.value, plain)
    rows = platform.lake.path(subject_kind=kind.value, subject=wanted, start=start, end=end)
    rows = rows.filter(pl.col("area").is_in(list(tree.expand([scope_area])))).head(MAX_POINTS)
    points = [
        PathPointOut(
            ts=r["ts"], kind=r["kind"], device=r["device"], lat=r["lat"], lon=r["lon"], area=r["area"]
        )
        for r in rows.select("ts", "kind", "device", "lat", "lon", "area").iter_rows(named=True)
    ]
    audited(
        request,
        who,
        AuditEntry(
            "subjects.trace",
            resource_of(request),
            case_id=case.id,
            purpose=purpose,
            subjects=[subject(kind.value, s) for s in wanted],
            result_count=len(points),
            detail={"start": start.isoformat(), "end": end.isoformat(), "area": scope_area},
        ),
    )
    return PathOut(
        subject_kind=kind.value,
        subject=plain if kind not in PSEUDONYMISED_SUBJECT_KINDS else wanted[-1],
        case_id=case.id,
        start=start,
        end=end,
        area_id=scope_area,
        count=len(points),
        points=points,
    )


__all__ = ["datetime", "router"]
