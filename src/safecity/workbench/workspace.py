"""A case as the investigator's workspace: its saved questions and answers, pins and notes.

Every question the workbench answers under a case is saved with the first page of its answer,
so the case file shows what was asked, by whom, when, and what came back. Members pin evidence
(a subject, a sighting, an alert, an incident, a saved question) and keep notes. Everything in
a workspace is person-level data, so only the case's members read it, every read and export is
audited, and a closed case's workspace can be read and exported but no longer changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry, subject
from safecity.core.errors import DomainError
from safecity.security import AccessDenied, Permission, Principal, Security
from safecity.security.case_admin import case_view
from safecity.security.cases import is_member, require_case
from safecity.security.schemas import CaseOut
from safecity.store import transaction
from safecity.workbench.models import CaseNote, CasePin, CaseQuery, PinKind

MAX_NOTE = 10_000
OPEN = "open"  # a case's status while queries may be made under it (security.models.CaseStatus)
MAX_QUERIES_LISTED = 500


class WorkspaceError(DomainError):
    """A change to a workspace that cannot be made as asked."""

    code = "workspace_refused"


@dataclass(frozen=True, slots=True)
class SavedQuery:
    """A question asked under the case; `result` only when one query is read whole."""

    id: int
    kind: str
    title: str
    params: dict[str, Any]
    result_count: int
    asked_by: str
    asked_at: datetime
    result: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Pin:
    id: int
    kind: str
    ref: str
    label: str
    note: str
    pinned_by: str
    pinned_at: datetime


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    text: str
    written_by: str
    written_at: datetime


@dataclass(frozen=True, slots=True)
class Workspace:
    """A case and everything its members gathered in it."""

    case: CaseOut
    queries: list[SavedQuery]
    pins: list[Pin]
    notes: list[Note]


def _query(row: CaseQuery, *, whole: bool = False) -> SavedQuery:
    return SavedQuery(
        row.id,
        row.kind,
        row.title,
        row.params,
        row.result_count,
        row.asked_by,
        row.asked_at,
        row.result if whole else None,
    )


def _pin(row: CasePin) -> Pin:
    return Pin(row.id, row.kind, row.ref, row.label, row.note, row.pinned_by, row.pinned_at)


def _workspace(session: Session, case: Any, queries: list[SavedQuery]) -> Workspace:
    """The case with these of its questions, and all its pins and notes."""
    pins = session.scalars(select(CasePin).where(CasePin.case_id == case.id).order_by(CasePin.id)).all()
    notes = session.scalars(select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id)).all()
    return Workspace(
        case_view(case),
        queries,
        [_pin(p) for p in pins],
        [Note(n.id, n.text, n.written_by, n.written_at) for n in notes],
    )


class Workspaces:
    """The use cases of a case's workspace."""

    def __init__(
        self, session_factory: sessionmaker[Session], security: Security, *, now: Callable[[], datetime]
    ) -> None:
        self._sessions = session_factory
        self._security = security
        self._now = now

    @classmethod
    def build(cls, platform: Any) -> Workspaces:
        """Built with the platform's parts (a `core.capabilities.Service` builder)."""
        return cls(platform.session_factory, platform.security, now=platform.clock.now)

    # --- written by the workbench as it answers

    def save(
        self,
        case_id: str,
        *,
        kind: str,
        title: str,
        params: dict[str, Any],
        result: dict[str, Any],
        result_count: int,
        by: str,
    ) -> int:
        """Keep a question and its answer in the case (called after the answer was audited)."""
        with transaction(self._sessions) as session:
            row = CaseQuery(
                case_id=case_id,
                kind=kind,
                title=title[:300],
                params=params,
                result=result,
                result_count=result_count,
                asked_by=by,
                asked_at=self._now(),
            )
            session.add(row)
            session.flush()
            return row.id

    # --- read

    def workspace(self, who: Principal, case_id: str, *, resource: str) -> Workspace:
        """The case with its saved questions (without their answers), pins and notes."""
        with self._sessions() as session:
            case = self._member_case(session, who, case_id)
            queries = session.scalars(
                select(CaseQuery)
                .where(CaseQuery.case_id == case.id)
                .order_by(CaseQuery.asked_at.desc(), CaseQuery.id.desc())
                .limit(MAX_QUERIES_LISTED)
            ).all()
            found = _workspace(session, case, [_query(q) for q in queries])
        self._security.record(
            who.actor,
            AuditEntry(
                "cases.workspace",
                resource,
                case_id=found.case.id,
                subjects=[p.ref for p in found.pins if p.kind == PinKind.SUBJECT],
                result_count=len(found.queries),
            ),
        )
        return found

    def saved_query(self, who: Principal, case_id: str, query_id: int, *, resource: str) -> SavedQuery:
        """One saved question with its answer as it was given."""
        with self._sessions() as session:
            case = self._member_case(session, who, case_id)
            row = session.get(CaseQuery, query_id)
            if row is None or row.case_id != case.id:
                raise WorkspaceError(f"case {case.id} has no saved question {query_id}", field="query_id")
            found = _query(row, whole=True)
        self._security.record(
            who.actor,
            AuditEntry(
                "cases.workspace",
                resource,
                case_id=case_id,
                result_count=found.result_count,
                detail={"query": query_id, "kind": found.kind},
            ),
        )
        return found

    # --- change

    def pin(
        self,
        who: Principal,
        case_id: str,
        *,
        kind: PinKind,
        ref: str,
        label: str,
        note: str,
        resource: str,
    ) -> Pin:
        """Pin evidence to an open case (once per thing pinned)."""
        ref = ref.strip()
        if not ref:
            raise WorkspaceError("name what to pin", field="ref")
        if kind is PinKind.SUBJECT and ":" not in ref:
            raise WorkspaceError('a subject is pinned as "kind:value", e.g. "plate:浙C12345"', field="ref")
        try:
            with transaction(self._sessions) as session:
                case = self._member_case(session, who, case_id, changing=True)
                if kind is PinKind.QUERY:
                    saved = session.get(CaseQuery, int(ref)) if ref.isdigit() else None
                    if saved is None or saved.case_id != case.id:
                        raise WorkspaceError(f"case {case.id} has no saved question {ref}", field="ref")
                row = CasePin(
                    case_id=case.id,
                    kind=kind.value,
                    ref=ref,
                    label=label.strip()[:200],
                    note=note.strip()[:MAX_NOTE],
                    pinned_by=who.actor.name,
                    pinned_at=self._now(),
                )
                session.add(row)
                session.flush()
                pinned = _pin(row)
        except IntegrityError:
            raise WorkspaceError(
                f"{kind.value} {ref} is already pinned to case {case_id}", field="ref"
            ) from None
        self._security.record(
            who.actor,
            AuditEntry(
                "cases.pin",
                resource,
                case_id=case_id,
                subjects=[ref] if kind is PinKind.SUBJECT else [subject(kind.value, ref)],
            ),
        )
        return pinned

    def unpin(self, who: Principal, case_id: str, pin_id: int, *, resource: str) -> None:
        """Take a pin off an open case."""
        with transaction(self._sessions) as session:
            case = self._member_case(session, who, case_id, changing=True)
            gone = session.execute(delete(CasePin).where(CasePin.id == pin_id, CasePin.case_id == case.id))
            if not getattr(gone, "rowcount", 0):
                raise WorkspaceError(f"case {case.id} has no pin {pin_id}", field="pin_id")
        self._security.record(
            who.actor, AuditEntry("cases.unpin", resource, case_id=case_id, detail={"pin": pin_id})
        )

    def note(self, who: Principal, case_id: str, text: str, *, resource: str) -> Note:
        """Add a note to an open case's log."""
        text = text.strip()
        if not text:
            raise WorkspaceError("a note needs text", field="text")
        if len(text) > MAX_NOTE:
            raise WorkspaceError(f"a note may hold at most {MAX_NOTE:,} characters", field="text")
        with transaction(self._sessions) as session:
            case = self._member_case(session, who, case_id, changing=True)
            row = CaseNote(case_id=case.id, text=text, written_by=who.actor.name, written_at=self._now())
            session.add(row)
            session.flush()
            written = Note(row.id, row.text, row.written_by, row.written_at)
        self._security.record(who.actor, AuditEntry("cases.note", resource, case_id=case_id))
        return written

    def case_file(
        self, who: Principal, case_id: str, *, resource: str, export: str = "html"
    ) -> tuple[Workspace, list[SavedQuery]]:
        """Everything for the case file: the workspace and every saved question with its answer.

        `export` is the file's format (html, pdf), which the audit record names.
        """
        with self._sessions() as session:
            case = self._member_case(session, who, case_id)
            rows = session.scalars(
                select(CaseQuery)
                .where(CaseQuery.case_id == case.id)
                .order_by(CaseQuery.asked_at, CaseQuery.id)
            ).all()
            answers = [_query(r, whole=True) for r in rows]
            found = _workspace(session, case, [_query(r) for r in rows])
        self._security.record(
            who.actor,
            AuditEntry(
                "cases.export",
                resource,
                case_id=case_id,
                subjects=[p.ref for p in found.pins if p.kind == PinKind.SUBJECT],
                result_count=len(answers),
                detail={"format": export},
            ),
        )
        return found, answers

    def _member_case(self, session: Session, who: Principal, case_id: str, *, changing: bool = False) -> Any:
        # The workspace holds the answers of person-level questions: only those who may ask them
        # (and only the case's members among them) read it.
        if not who.can(Permission.SUBJECTS_TRACE):
            raise AccessDenied("forbidden", f"your role ({who.role.value}) does not work investigations")
        case = require_case(session, case_id)
        if not is_member(case, who):
            raise AccessDenied(
                "not_assigned",
                f"you are not assigned to case {case.id}; ask its owner to add you",
                field="case_id",
            )
        if changing and case.status != OPEN:
            raise AccessDenied(
                "case_closed",
                f"case {case.id} is closed; its workspace can be read, not changed",
                field="case_id",
            )
        return case


__all__ = ["Note", "Pin", "PinKind", "SavedQuery", "Workspace", "WorkspaceError", "Workspaces"]
