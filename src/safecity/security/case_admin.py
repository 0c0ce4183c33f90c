"""Working cases as use cases: open, list, read, assign, hold and close, each checked and audited.

A case is visible to its members and to callers whose areas cover the case area (auditors are
city-wide and see every case); only its members may change it. Each function takes the caller's
`Context`, checks that against the case in the same transaction as the change, and records the
change in the audit trail after it commits. The HTTP routes (web/api/cases.py) parse and shape;
a refusal raises AccessDenied and is audited by whoever catches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.context import Context
from safecity.security import cases
from safecity.security.audit import AuditEntry, subject
from safecity.security.errors import AccessDenied
from safecity.security.models import Case, CaseMember
from safecity.security.schemas import CaseOut
from safecity.security.service import Security
from safecity.store import transaction


def case_view(case: Case) -> CaseOut:
    """A case with its members' usernames and its holds."""
    return CaseOut(
        id=case.id,
        title=case.title,
        basis=case.basis,
        area_id=case.area_id,
        window_start=case.window_start,
        window_end=case.window_end,
        status=case.status,
        opened_by=case.opened_by,
        opened_at=case.opened_at,
        closed_at=case.closed_at,
        members=sorted(m.account.username for m in case.members),
        holds=[{"kind": h.kind, "from_date": h.from_date, "to_date": h.to_date} for h in case.holds],
    )


def is_visible(case: Case, ctx: Context) -> bool:
    """Whether the caller works the case or covers its area."""
    return cases.is_member(case, ctx) or ctx.reaches(case.area_id)


def _readable(session: Session, case_id: str, ctx: Context) -> Case:
    case = cases.require_case(session, case_id)
    if not is_visible(case, ctx):
        raise AccessDenied(
            "outside_area", f"case {case_id} is outside your areas and you are not assigned to it"
        )
    return case


def _managed(session: Session, case_id: str, ctx: Context) -> Case:
    case = cases.require_case(session, case_id)
    if not cases.is_member(case, ctx):
        raise AccessDenied("not_assigned", f"only members of case {case_id} may change it", field="case_id")
    return case


def open_case(
    security: Security,
    ctx: Context,
    *,
    title: str,
    basis: str,
    area_id: str,
    window_start: datetime,
    window_end: datetime,
    members: Sequence[str] = (),
    now: datetime,
    resource: str,
    status: int = 201,
) -> CaseOut:
    """Open a case over an area the caller reaches and a time window; the caller and `members` work it."""
    with transaction(security.session_factory) as session:
        case = cases.open_case(
            session,
            ctx,
            title=title,
            basis=basis,
            area_id=area_id,
            window_start=window_start,
            window_end=window_end,
            members=members,
            now=now,
        )
        out = case_view(case)
    security.record(
        ctx,
        AuditEntry(
            "cases.open",
            resource,
            status=status,
            case_id=out.id,
            detail={"area": out.area_id, "members": out.members, "title": out.title[:100]},
        ),
    )
    return out


def list_cases(
    security: Security, ctx: Context, *, status: str | None = None, limit: int = 100
) -> list[CaseOut]:
    """Cases the caller works or whose area the caller covers, newest first."""
    stmt = select(Case).order_by(Case.opened_at.desc(), Case.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(Case.status == status)
    if not ctx.city_wide:  # the rule of is_visible, in SQL: a member, or the area is covered
        member = select(CaseMember.case_id).where(CaseMember.account_id == ctx.account_id)
        stmt = stmt.where(Case.id.in_(member) | Case.area_id.in_(list(ctx.areas)))
    with security.session_factory() as session:
        return [case_view(c) for c in session.scalars(stmt)]


def get_case(security: Security, ctx: Context, case_id: str) -> CaseOut:
    """A case, if the caller works it or covers its area (404 if there is none)."""
    with security.session_factory() as session:
        return case_view(_readable(session, case_id, ctx))


def assign_member(
    security: Security, ctx: Context, case_id: str, username: str, *, now: datetime, resource: str
) -> CaseOut:
    """Assign an account to a case the caller works (idempotent); members may query under it."""
    with transaction(security.session_factory) as session:
        case = _managed(session, case_id, ctx)
        cases.add_member(session, case, username, by=ctx.actor, now=now)
        out = case_view(case)
    security.record(
        ctx,
        AuditEntry("cases.assign", resource, case_id=case_id, subjects=[subject("account", username)]),
    )
    return out


def place_hold(
    security: Security,
    ctx: Context,
    case_id: str,
    *,
    kinds: Sequence[str],
    from_date: date,
    to_date: date,
    now: datetime,
    resource: str,
) -> CaseOut:
    """Keep these kinds of sightings for these days as long as the case is kept (see retention)."""
    with transaction(security.session_factory) as session:
        case = _managed(session, case_id, ctx)
        cases.place_hold(session, case, kinds=kinds, start=from_date, end=to_date, by=ctx.actor, now=now)
        out = case_view(case)
    security.record(
        ctx,
        AuditEntry(
            "cases.hold",
            resource,
            case_id=case_id,
            detail={"kinds": list(kinds), "from": str(from_date), "to": str(to_date)},
        ),
    )
    return out


def close_case(
    security: Security, ctx: Context, case_id: str, *, note: str, now: datetime, resource: str
) -> CaseOut:
    """Close a case the caller works: no further queries may be made under it."""
    with transaction(security.session_factory) as session:
        case = _managed(session, case_id, ctx)
        cases.close_case(session, case, by=ctx.actor, note=note, now=now)
        out = case_view(case)
    security.record(ctx, AuditEntry("cases.close", resource, case_id=case_id))
    return out


__all__ = [
    "assign_member",
    "case_view",
    "close_case",
    "get_case",
    "is_visible",
    "list_cases",
    "open_case",
    "place_hold",
]
