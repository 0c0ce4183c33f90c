"""Cases (open, assign, hold, close) and the audit trail (search, verify).

Cases are visible to their members and to callers whose areas cover the case area; auditors
(city-wide) see every case. Reading the audit trail is itself audited. The use cases are
`safecity.security.case_admin` and `safecity.security.audit_review`; the routes parse and answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from safecity.security import AuditFilter, Principal, audit_review, case_admin
from safecity.security import Permission as P
from safecity.security.schemas import AuditOut, CaseIn, CaseOut, CloseCaseIn, HoldIn, MemberIn
from safecity.security.settings import SecuritySettings
from safecity.web.auth import need, resource_of
from safecity.web.deps import IsoTime, PlatformDep

router = APIRouter(prefix="/api/v1", tags=["cases and audit"])


@router.post("/cases", status_code=201, response_model=CaseOut, summary="Open a case")
def open_case(
    body: CaseIn, platform: PlatformDep, request: Request, who: Principal = need(P.CASES_MANAGE)
) -> CaseOut:
    """Open a case over an area and a time window; the caller and the listed members work it."""
    return case_admin.open_case(
        platform.security,
        who.context(),
        title=body.title,
        basis=body.basis,
        area_id=body.area_id,
        window_start=body.window_start,
        window_end=body.window_end,
        members=body.members,
        now=platform.clock.now(),
        resource=resource_of(request),
        status=201,
    )


@router.get("/cases", response_model=list[CaseOut], summary="Cases")
def list_cases(
    platform: PlatformDep,
    status: str | None = Query(None, pattern="^(open|closed)$"),
    limit: int = Query(100, ge=1, le=1000),
    who: Principal = need(P.CASES_READ),
) -> list[CaseOut]:
    """Cases the caller works or whose area the caller covers, newest first."""
    return case_admin.list_cases(platform.security, who.context(), status=status, limit=limit)


@router.get("/cases/{case_id}", response_model=CaseOut, summary="One case")
def get_case(case_id: str, platform: PlatformDep, who: Principal = need(P.CASES_READ)) -> CaseOut:
    """A case, if the caller works it or covers its area."""
    return case_admin.get_case(platform.security, who.context(), case_id)


@router.post("/cases/{case_id}/members", response_model=CaseOut, summary="Assign someone to a case")
def add_member(
    case_id: str,
    body: MemberIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.CASES_MANAGE),
) -> CaseOut:
    """Members may query under the case."""
    return case_admin.assign_member(
        platform.security,
        who.context(),
        case_id,
        body.username,
        now=platform.clock.now(),
        resource=resource_of(request),
    )


@router.post("/cases/{case_id}/holds", response_model=CaseOut, summary="Keep lake data with the case")
def place_hold(
    case_id: str, body: HoldIn, platform: PlatformDep, request: Request, who: Principal = need(P.CASES_MANAGE)
) -> CaseOut:
    """Keep these kinds of sightings for these days as long as the case is kept (see retention)."""
    return case_admin.place_hold(
        platform.security,
        who.context(),
        case_id,
        kinds=body.kinds,
        from_date=body.from_date,
        to_date=body.to_date,
        now=platform.clock.now(),
        resource=resource_of(request),
    )


@router.post("/cases/{case_id}/close", response_model=CaseOut, summary="Close a case")
def close_case(
    case_id: str,
    body: CloseCaseIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.CASES_MANAGE),
) -> CaseOut:
    """No further queries may be made under a closed case."""
    return case_admin.close_case(
        platform.security,
        who.context(),
        case_id,
        note=body.note,
        now=platform.clock.now(),
        resource=resource_of(request),
    )


# --- audit trail -----------------------------------------------------------------------------------


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
    since: IsoTime | None = None,
    until: IsoTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    who: Principal = need(P.AUDIT_READ),
) -> list[AuditOut]:
    """Who did what to whose data, and when: newest first."""
    where = AuditFilter(
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
    return audit_review.search_audit(platform.security, who.context(), where, resource=resource_of(request))


@router.get("/audit/verify", summary="Verify the audit chain")
def verify_audit(
    platform: PlatformDep, request: Request, who: Principal = need(P.AUDIT_VERIFY)
) -> dict[str, object]:
    """Walk the chain, its subject index, head, seals and seal journal; reports the first problem if any."""
    cfg = platform.settings
    try:
        inputs = audit_review.verify_inputs(
            sorted(cfg.resolved_audit_key_file.parent.glob("*.pub")),
            cfg.resolved_seal_journal,
            journal_required=False,
        )
    except ValueError as exc:
        raise HTTPException(503, str(exc)) from None
    report = audit_review.verify_audit(
        platform.security,
        who.context(),
        inputs,
        max_unsealed_s=cfg.section(SecuritySettings).audit_max_unsealed_s,
        resource=resource_of(request),
    )
    return report.as_dict()


__all__ = ["router"]
