"""The person lookup and the subject path as use cases: justify, look up, bound, audit.

Identity and phone numbers reach the lake only as pseudonyms, so a person's path is looked up
by the pseudonyms of their numbers under every key version still held; the case's window and
area bound every answer. A refused question is audited by whoever catches the AccessDenied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.kinds import SubjectKind
from safecity.lake import Lake
from safecity.registry import NotFound
from safecity.registry.schemas import BikeOut, PersonOut, bike_view, person_view
from safecity.security import (
    PSEUDONYMISED_SUBJECT_KINDS,
    AccessDenied,
    AccountError,
    AuditEntry,
    Permission,
    Principal,
    Pseudonymizer,
    Security,
    subject,
)
from safecity.security.cases import Justified, justify, person_withheld
from safecity.security.linkage import lake_subjects, resolve_pseudonym

if TYPE_CHECKING:
    from safecity.registry.models import Person

MAX_POINTS = 10_000  # sightings one path answer holds at most

# Why a person is not shown under a case (security.cases.person_withheld), as the caller is told.
WITHHELD = {
    "home_area_unknown": "this person has no home area on record, so case {case} cannot cover them",
    "outside_case_area": "this person lives outside case {case}'s area",
    "outside_area": "this person lives outside the areas your account covers",
}


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A registered person as the caller may see them, and their bikes."""

    person: PersonOut
    bikes: list[BikeOut]
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
            # The justification comes before any lookup result is shown, a miss included; the
            # person's area is checked after it, without naming the area in the refusal.
            case = self._case(session, who, case_id, purpose, area_id=None)
            if person is None:
                entry = AuditEntry("people.read", resource, case_id=case.id, purpose=purpose, result_count=0)
                self._security.record(who.actor, entry)
                raise NotFound("person", str(given[0]))
            withheld = person_withheld(who, case, person.home_area_id, tree=self._security.areas.tree())
            if withheld is not None:
                raise AccessDenied(withheld, WITHHELD[withheld].format(case=case.id), field="case_id")
            bikes = registry.bikes_of(session, owner_id=person.id)
            record = PersonRecord(
                person_view(person, full=who.sees_full_identifiers), [bike_view(b) for b in bikes], case.id
            )
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
        return record

    def bikes(
        self,
        who: Principal,
        *,
        tag: str | None = None,
        frame: str | None = None,
        bike_id: int | None = None,
        limit: int = 50,
        case_id: str | None,
        purpose: str | None,
        resource: str,
    ) -> list[BikeOut]:
        """Bikes by id, tag or frame number (exact); their owners too when a case and purpose are named.

        A bike's record is not personal, its owner is: naming a case makes the answer a
        person-level read, justified first and audited with every owner shown.
        """
        case = self._owner_case(who, case_id, purpose)
        tree = self._security.areas.tree()
        shown: list[int] = []
        out: list[BikeOut] = []
        with self._sessions() as session:
            bikes = registry.find_bikes(session, bike_id=bike_id, tag=tag, frame=frame, limit=limit)
            if bike_id is not None and not bikes:
                raise NotFound("bike", str(bike_id))
            for bike in bikes:
                if case is None or bike.owner is None:  # no case, or an owner yet to confirm
                    out.append(bike_view(bike))
                    continue
                # The case's area bounds every owner revealed, bike by bike.
                withheld = person_withheld(who, case, bike.owner.home_area_id, tree=tree)
                if withheld is not None:
                    out.append(bike_view(bike, owner_withheld=withheld))
                    continue
                shown.append(bike.owner.id)
                owner = person_view(bike.owner, full=who.sees_full_identifiers)
                out.append(bike_view(bike, owner=owner))
        if case is not None:
            names = [subject("tag", b.tag_id) for b in out] + [subject("person", p) for p in shown]
            self._security.record(
                who.actor,
                AuditEntry(
                    "people.read",
                    resource,
                    case_id=case.id,
                    purpose=purpose,
                    subjects=names,
                    result_count=len(shown),
                    detail={"bikes": len(out), "owners_withheld": len(out) - len(shown)},
                ),
            )
        return out

    def _owner_case(self, who: Principal, case_id: str | None, purpose: str | None) -> Justified | None:
        """None when no case was named; the case when owners may be shown; refusal otherwise."""
        if case_id is None and purpose is None:
            return None
        if not who.can(Permission.PEOPLE_READ):
            raise AccessDenied("forbidden", f"your role ({who.role.value}) may not see who owns a bike")
        with self._sessions() as session:
            return self._case(session, who, case_id, purpose, area_id=None)

    def _case(
        self,
        session: Session,
        who: Principal,
        case_id: str | None,
        purpose: str | None,
        *,
        area_id: str | None,
    ) -> Justified:
        """The open case the caller names for a question about a person (no time window)."""
        tree = self._security.areas.tree()
        return justify(
            session, who, case_id=case_id, purpose=purpose, start=None, end=None, area_id=area_id, tree=tree
        )

    def _find(
        self, session: Session, person_id: int | None, id_number: str | None, pseudonym: str | None
    ) -> Person | None:
        if person_id is not None:
            return registry.get_person(session, person_id=person_id)
        if id_number is not None:
            return registry.get_person_by_id_number(session, id_number=id_number.strip().upper())
        found = resolve_pseudonym(session, self._pseudonyms, pseudonym or "")
        return registry.get_person(session, person_id=found) if found is not None else None

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
        export: str | None = None,
    ) -> SubjectPath:
        """Every sighting of the subject from start to end within the case's (or a narrower) area.

        `export` names the file format when the path leaves the platform as a file: the audit
        record is then an export (`subjects.export`), which an auditor reviews apart.
        """
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
                "subjects.trace" if export is None else "subjects.export",
                resource,
                case_id=case.id,
                purpose=purpose,
                subjects=[subject(kind.value, s) for s in wanted],
                result_count=len(points),
                detail={
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "area": scope_area,
                    **({"format": export} if export is not None else {}),
                },
            ),
        )
        shown = plain if kind not in PSEUDONYMISED_SUBJECT_KINDS else wanted[-1]
        return SubjectPath(kind.value, shown, case.id, scope_area, start, end, points)


__all__ = ["MAX_POINTS", "Investigation", "PersonRecord", "SubjectPath"]
