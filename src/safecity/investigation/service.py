"""The person lookup and the subject path as use cases: justify, look up, bound, audit.

Identity and phone numbers reach the lake only as pseudonyms, so a person's path is looked up
by the pseudonyms of their numbers under every key version still held; the case's window and
area bound every answer. A refused question is audited by whoever catches the AccessDenied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.kinds import SubjectKind
from safecity.lake import Lake
from safecity.registry import NotFound, Person
from safecity.registry.models import EBike
from safecity.security.audit import AuditEntry, subject
from safecity.security.cases import justify
from safecity.security.errors import AccountError
from safecity.security.linkage import lake_subjects, resolve_pseudonym
from safecity.security.principal import Principal
from safecity.security.pseudonym import PSEUDONYMISED_SUBJECT_KINDS, Pseudonymizer
from safecity.security.service import Security

MAX_POINTS = 10_000  # sightings one path answer holds at most


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A registered person (detached from the session) and their bikes."""

    person: Person
    bikes: list[EBike]
    case_id: str


@dataclass(frozen=True, slots=True)
class SubjectPath:
    """Where a subject was seen, in time order, within the case's area."""

    subject_kind: str
    subject: str  # as asked for, or the current pseudonym of a personal number
    case_id: str
    area_id: str | None
    start: datetime
    end: datetime
    points: list[dict[str, Any]]


class Investigation:
    """The person-level questions of one platform."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        security: Security,
        lake: Lake,
        pseudonyms: Pseudonymizer,
    ) -> None:
        self._sessions = session_factory
        self._security = security
        self._lake = lake
        self._pseudonyms = pseudonyms

    def person(
        self,
        who: Principal,
        *,
        case_id: str | None,
        purpose: str | None,
        resource: str,
        person_id: int | None = None,
        id_number: str | None = None,
        pseudonym: str | None = None,
    ) -> PersonRecord:
        """One person by id, identity number or lake pseudonym (exactly one), under a case."""
        given = [v for v in (person_id, id_number, pseudonym) if v is not None]
        if len(given) != 1:
            raise AccountError("give exactly one of id_number or pseudonym", field="id_number")
        with self._sessions() as session:
            person = self._find(session, person_id, id_number, pseudonym)
            # The justification comes before any lookup result is shown, a miss included.
            case = justify(
                session,
                who,
                case_id=case_id,
                purpose=purpose,
                start=None,
                end=None,
                area_id=person.home_area_id if person is not None else None,
                tree=self._security.areas.tree(),
            )
            if person is None:
                entry = AuditEntry("people.read", resource, case_id=case.id, purpose=purpose, result_count=0)
                self._security.record(who.actor, entry)
                raise NotFound("person", str(given[0]))
            bikes = list(session.scalars(select(EBike).where(EBike.owner_id == person.id)))
            session.expunge_all()
        self._security.record(
            who.actor,
            AuditEntry(
                "people.read",
                resource,
                case_id=case.id,
                purpose=purpose,
                subjects=[subject("person", person.id), *(subject("tag", b.tag_id) for b in bikes)],
                result_count=1,
            ),
        )
        return PersonRecord(person, bikes, case.id)

    def _find(
        self, session: Session, person_id: int | None, id_number: str | None, pseudonym: str | None
    ) -> Person | None:
        if person_id is not None:
            return session.get(Person, person_id)
        if id_number is not None:
            return session.scalars(
                select(Person).where(Person.id_number == id_number.strip().upper())
            ).first()
        found = resolve_pseudonym(session, self._pseudonyms, pseudonym or "")
        return session.get(Person, found) if found is not None else None

    def path(
        self,
        who: Principal,
        kind: SubjectKind,
        value: str,
        *,
        start: datetime,
        end: datetime,
        area_id: str | None,
        case_id: str | None,
        purpose: str | None,
        resource: str,
    ) -> SubjectPath:
        """Every sighting of the subject from start to end within the case's (or a narrower) area."""
        if end <= start:
            raise AccountError("end must be after start", field="end")
        tree = self._security.areas.tree()
        with self._sessions() as session:
            case = justify(
                session,
                who,
                case_id=case_id,
                purpose=purpose,
                start=start,
                end=end,
                area_id=area_id,
                tree=tree,
            )
        scope_area = area_id or case.area_id
        plain = value.strip().upper() if kind in (SubjectKind.TAG, SubjectKind.PLATE) else value.strip()
        wanted = lake_subjects(self._pseudonyms, kind.value, plain)
        rows = self._lake.path(subject_kind=kind.value, subject=wanted, start=start, end=end)
        rows = rows.filter(pl.col("area").is_in(list(tree.expand([scope_area])))).head(MAX_POINTS)
        points = rows.select("ts", "kind", "device", "lat", "lon", "area").to_dicts()
        self._security.record(
            who.actor,
            AuditEntry(
                "subjects.trace",
                resource,
                case_id=case.id,
                purpose=purpose,
                subjects=[subject(kind.value, s) for s in wanted],
                result_count=len(points),
                detail={"start": start.isoformat(), "end": end.isoformat(), "area": scope_area},
            ),
        )
        shown = plain if kind not in PSEUDONYMISED_SUBJECT_KINDS else wanted[-1]
        return SubjectPath(kind.value, shown, case.id, scope_area, start, end, points)


__all__ = ["MAX_POINTS", "Investigation", "PersonRecord", "SubjectPath"]
