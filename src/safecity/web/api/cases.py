"""Cases (open, assign, hold, close) and the audit trail (search, verify).

Cases are visible to their members and to callers whose areas cover the case area; auditors
(city-wide) see every case. Reading the audit trail is itself audited.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.security import audit as audit_trail
from safecity.security import cases as case_service
from safecity.security.audit import AuditEntry, from_us, subject
from safecity.security.errors import AccessDenied
from safecity.security.keys import load_public_key
from safecity.security.models import AuditRecord, Case, CaseMember
from safecity.security.principal import Principal
from safecity.security.roles import Permission as P
from safecity.security.schemas import AuditOut, CaseIn, CaseOut, CloseCaseIn, HoldIn, MemberIn
from safecity.store import transaction
from safecity.web.auth import audited, need, resource_of
from safecity.web.deps import PlatformDep

router = APIRouter(prefix="/api/v1", tags=["cases and audit"])


def case_out(case: Case) -> CaseOut:
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


def _visible(case: Case, who: Principal) -> bool:
    return case_service.is_member(case, who) or who.reaches(case.area_id)


def _readable(session: Session, case_id: str, who: Principal) -> Case:
    case = case_service.require_case(session, case_id)
    if not _visible(case, who):
        raise AccessDenied(
            "outside_area", f"case {case_id} is outside your areas and you are not assigned to it"
        )
    return case


def _managed(session: Session, case_id: str, who: Principal) -> Case:
    case = case_service.require_case(session, case_id)
    if not case_service.is_member(case, who):
        raise AccessDenied("not_assigned", f"only members of case {case_id} may change it", field="case_id")
    return case


@router.post("/cases", status_code=201, response_model=CaseOut, summary="Open a case")
def open_case(
    body: CaseIn, platform: PlatformDep, request: Request, who: Principal = need(P.CASES_MANAGE)
) -> CaseOut:
    """Open a case over an area and a time window; the caller and the listed members work it."""
    with transaction(platform.session_factory) as session:
        case = case_service.open_case(
            session,
            who,
            title=body.title,
            basis=body.basis,
            area_id=body.area_id,
            window_start=body.window_start,
            window_end=body.window_end,
            members=body.members,
            now=platform.clock.now(),
        )
        out = case_out(case)
    audited(
        request,
        who,
        AuditEntry(
            "cases.open",
            resource_of(request),
            status=201,
            case_id=out.id,
            detail={"area": out.area_id, "members": out.members, "title": out.title[:100]},
        ),
    )
    return out


@router.get("/cases", response_model=list[CaseOut], summary="Cases")
def list_cases(
    platform: PlatformDep,
    status: str | None = Query(None, pattern="^(open|closed)$"),
    limit: int = Query(100, ge=1, le=1000),
    who: Principal = need(P.CASES_READ),
) -> list[CaseOut]:
    """Cases the caller works or whose area the caller covers, newest first."""
    stmt = select(Case).order_by(Case.opened_at.desc(), Case.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(Case.status == status)
    if not who.city_wide:  # the same rule as _visible, in SQL: a member, or the area is covered
        member = select(CaseMember.case_id).where(CaseMember.account_id == who.account_id)
        stmt = stmt.where(Case.id.in_(member) | Case.area_id.in_(list(who.areas)))
    with platform.session_factory() as session:
        return [case_out(c) for c in session.scalars(stmt)]


@router.get("/cases/{case_id}", response_model=CaseOut, summary="One case")
def get_case(case_id: str, platform: PlatformDep, who: Principal = need(P.CASES_READ)) -> CaseOut:
    """A case, if the caller works it or covers its area."""
    with platform.session_factory() as session:
        return case_out(_readable(session, case_id, who))


@router.post("/cases/{case_id}/members", response_model=CaseOut, summary="Assign someone to a case")
def add_member(
    case_id: str,
    body: MemberIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.CASES_MANAGE),
) -> CaseOut:
    """Members may query under the case."""
    with transaction(platform.session_factory) as session:
        case = _managed(session, case_id, who)
        case_service.add_member(session, case, body.username, by=who.username, now=platform.clock.now())
        out = case_out(case)
    audited(
        request,
        who,
        AuditEntry(
            "cases.assign",
            resource_of(request),
            case_id=case_id,
            subjects=[subject("account", body.username)],
        ),
    )
    return out


@router.post("/cases/{case_id}/holds", response_model=CaseOut, summary="Keep lake data with the case")
def place_hold(
    case_id: str, body: HoldIn, platform: PlatformDep, request: Request, who: Principal = need(P.CASES_MANAGE)
) -> CaseOut:
    """Keep these kinds of sightings for these days as long as the case is kept (see retention)."""
    with transaction(platform.session_factory) as session:
        case = _managed(session, case_id, who)
        case_service.place_hold(
            session,
            case,
            kinds=body.kinds,
            start=body.from_date,
            end=body.to_date,
            by=who.username,
            now=platform.clock.now(),
        )
        out = case_out(case)
    audited(
        request,
        who,
        AuditEntry(
            "cases.hold",
            resource_of(request),
            case_id=case_id,
            detail={"kinds": body.kinds, "from": str(body.from_date), "to": str(body.to_date)},
        ),
    )
    return out


@router.post("/cases/{case_id}/close", response_model=CaseOut, summary="Close a case")
def close_case(
    case_id: str,
    body: CloseCaseIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.CASES_MANAGE),
) -> CaseOut:
    """No further queries may be made under a closed case."""
    with transaction(platform.session_factory) as session:
        case = _managed(session, case_id, who)
        case_service.close_case(session, case, by=who.username, note=body.note, now=platform.clock.now())
        out = case_out(case)
    audited(request, who, AuditEntry("cases.close", resource_of(request), case_id=case_id))
    return out


# --- audit trail -----------------------------------------------------------------------------------


def audit_out(record: AuditRecord) -> AuditOut:
    """An audit record with its JSON fields decoded."""
    return AuditOut(
        seq=record.seq,
        at=from_us(record.at_us),
        actor=record.actor,
        role=record.role,
        unit=record.unit,
        action=record.action,
        resource=record.resource,
        outcome=record.outcome,
        status=record.status,
        case_id=record.case_id,
        purpose=record.purpose,
        subjects=json.loads(record.subjects),
        result_count=record.result_count,
        detail=json.loads(record.detail),
        client=record.client,
        hash=record.hash,
    )


@router.get("/audit", response_model=list[AuditOut], summary="Search the audit trail")
def search_audit(
    platform: PlatformDep,
    request: Request,
    subject_name: Annotated[
        str | None,
        Query(
            alias="subject", max_length=96, description='A subject as audited: "person:42", "tag:E0A1B2C3".'
        ),
    ] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    case_id: Annotated[str | None, Query(max_length=32)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(pattern="^(allowed|refused|failed)$")] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    who: Principal = need(P.AUDIT_READ),
) -> list[AuditOut]:
    """Who did what to whose data, and when: newest first."""
    with platform.session_factory() as session:
        records = audit_trail.search(
            session,
            subject_name=subject_name,
            actor=actor,
            case_id=case_id,
            action=action,
            outcome=outcome,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        out = [audit_out(r) for r in records]
    audited(
        request,
        who,
        AuditEntry(
            "audit.read",
            resource_of(request),
            subjects=[subject_name] if subject_name else [],
            result_count=len(out),
        ),
    )
    return out


@router.get("/audit/verify", summary="Verify the audit chain")
def verify_audit(
    platform: PlatformDep, request: Request, who: Principal = need(P.AUDIT_VERIFY)
) -> dict[str, object]:
    """Walk the chain and check its head and seals; reports the first broken link if any."""
    keys = [
        load_public_key(p) for p in sorted(platform.settings.resolved_audit_key_file.parent.glob("*.pub"))
    ]
    report = platform.security.audit.verify(public_key=keys or None)
    audited(
        request,
        who,
        AuditEntry(
            "audit.verify", resource_of(request), result_count=report.records, detail=report.as_dict()
        ),
    )
    return report.as_dict()


__all__ = ["audit_out", "case_out", "datetime", "router"]
