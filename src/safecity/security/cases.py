"""Cases: the stated, bounded reason without which nobody sees who a person is or where they went.

A person-level query names a case and a purpose. The case must exist, be open, list the caller
as a member, and cover the query: its time window must contain the requested period and its area
must contain the requested area. `justify` checks all of it and says exactly what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity import registry
from safecity.core.context import Context
from safecity.security.errors import AccessDenied, AccountError
from safecity.security.models import Account, Case, CaseHold, CaseMember, CaseNumber, CaseStatus
from safecity.security.principal import AreaTree, Principal

MAX_WINDOW = timedelta(days=366)
MIN_PURPOSE = 5


@dataclass(frozen=True, slots=True)
class Justified:
    """The case a query was justified by: what the caller may be told and what bounds the answer."""

    id: str
    area_id: str
    window_start: datetime
    window_end: datetime


def _ts(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def open_case(
    session: Session,
    principal: Principal | Context,
    *,
    title: str,
    basis: str,
    area_id: str,
    window_start: datetime,
    window_end: datetime,
    members: Sequence[str] = (),
    now: datetime,
) -> Case:
    """Open a case in an area the caller reaches; the caller is its first member."""
    # Use cases pass their Context; tests and benchmarks that seed cases may pass a Principal.
    ctx = principal.context() if isinstance(principal, Principal) else principal
    # The number is taken first: the counter's update is the transaction's first write, so cases
    # opened at once wait for each other here instead of reading the same last number.
    number = next_case_number(session, now.year)
    if registry.get_area(session, area_id=area_id) is None:
        raise AccountError(f"unknown area {area_id!r}", field="area_id")
    ctx.require_area(area_id, what="the case area")
    if window_end <= window_start:
        raise AccountError("window_end must be after window_start", field="window_end")
    if window_end - window_start > MAX_WINDOW:
        raise AccountError("a case window may span at most 366 days", field="window_end")
    case = Case(
        id=f"C{now.year}-{number:06d}",
        title=title.strip(),
        basis=basis.strip(),
        area_id=area_id,
        window_start=window_start,
        window_end=window_end,
        status=CaseStatus.OPEN,
        opened_by=ctx.actor,
        opened_at=now,
    )
    session.add(case)
    session.flush()
    add_member(session, case, ctx.actor, by=ctx.actor, now=now)
    for username in members:
        add_member(session, case, username, by=ctx.actor, now=now)
    return case


def next_case_number(session: Session, year: int) -> int:
    """Take the year's next case number (1, 2, ...), holding the counter's row until commit."""
    bump = update(CaseNumber).where(CaseNumber.year == year).values(last=CaseNumber.last + 1)
    taken = session.execute(bump.returning(CaseNumber.last)).scalar_one_or_none()
    if taken is not None:
        return int(taken)
    try:
        with session.begin_nested():  # the year's first case: another may be creating the row too
            session.add(CaseNumber(year=year, last=1))
        return 1
    except IntegrityError:
        return int(session.execute(bump.returning(CaseNumber.last)).scalar_one())


def require_case(session: Session, case_id: str) -> Case:
    """A case by id, or 404."""
    case = session.get(Case, case_id)
    if case is None:
        raise AccessDenied("case_not_found", f"there is no case {case_id!r}", field="case_id", status=404)
    return case


def add_member(session: Session, case: Case, username: str, *, by: str, now: datetime) -> CaseMember:
    """Assign an account to a case (idempotent)."""
    account = session.scalars(select(Account).where(Account.username == username.strip().lower())).first()
    if account is None:
        raise AccountError(f"unknown user {username!r}", field="members")
    for member in case.members:
        if member.account_id == account.id:
            return member
    member = CaseMember(case_id=case.id, account_id=account.id, assigned_by=by, assigned_at=now)
    case.members.append(member)
    session.flush()
    return member


def close_case(session: Session, case: Case, *, by: str, note: str, now: datetime) -> Case:
    """Close a case: queries under it stop at once."""
    if case.status != CaseStatus.OPEN:
        raise AccessDenied("case_closed", f"case {case.id} is already closed", status=409)
    case.status = CaseStatus.CLOSED
    case.closed_by, case.closed_at, case.close_note = by, now, note
    return case


def place_hold(
    session: Session, case: Case, *, kinds: Sequence[str], start: date, end: date, by: str, now: datetime
) -> list[CaseHold]:
    """Keep these kinds of lake data for these days as long as the case is kept."""
    if end < start:
        raise AccountError("to_date must not be before from_date", field="to_date")
    if start < case.window_start.date() or end > case.window_end.date():
        raise AccessDenied(
            "outside_case_window",
            f"a hold must lie within the case window {case.window_start.date()}..{case.window_end.date()}",
            field="from_date",
        )
    holds = [
        CaseHold(
            case_id=case.id,
            kind=kind,
            from_date=start.isoformat(),
            to_date=end.isoformat(),
            placed_by=by,
            placed_at=now,
        )
        for kind in kinds
    ]
    case.holds.extend(holds)
    session.flush()
    return holds


def member_case_ids(session: Session, principal: Principal | Context, case_ids: Iterable[str]) -> set[str]:
    """Of these cases, the ones the principal is a member of (one query)."""
    wanted = list(case_ids)
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(CaseMember.case_id).where(
                CaseMember.case_id.in_(wanted), CaseMember.account_id == principal.account_id
            )
        )
    )


def is_member(case: Case, principal: Principal | Context) -> bool:
    """Whether the caller is assigned to the case."""
    return any(m.account_id == principal.account_id for m in case.members)


def justify(
    session: Session,
    principal: Principal | Context,
    *,
    case_id: str | None,
    purpose: str | None,
    start: datetime | None,
    end: datetime | None,
    area_id: str | None,
    tree: AreaTree,
) -> Justified:
    """The case that justifies a person-level query, or AccessDenied saying what is missing."""
    missing = [
        name
        for name, value in (("case_id", case_id), ("purpose", purpose))
        if value is None or not str(value).strip()
    ]
    if missing:
        raise AccessDenied(
            "justification_required",
            "this query reveals person-level data: give "
            + " and ".join(missing)
            + " (an open case you are assigned to, and why you need it)",
            field=missing[0],
        )
    assert case_id is not None
    assert purpose is not None
    if len(purpose.strip()) < MIN_PURPOSE:
        raise AccessDenied(
            "justification_required",
            f"purpose must say why, in at least {MIN_PURPOSE} characters",
            field="purpose",
        )
    # One light query (columns, not ORM objects): this runs before every person-level answer.
    member = (
        select(CaseMember.account_id)
        .where(CaseMember.case_id == Case.id, CaseMember.account_id == principal.account_id)
        .exists()
    )
    case = session.execute(
        select(Case.id, Case.status, Case.window_start, Case.window_end, Case.area_id, member).where(
            Case.id == case_id.strip()
        )
    ).first()
    if case is None:
        raise AccessDenied("case_not_found", f"there is no case {case_id!r}", field="case_id", status=404)
    if case.status != CaseStatus.OPEN:
        raise AccessDenied(
            "case_closed", f"case {case.id} is closed; no queries may be made under it", field="case_id"
        )
    if not case[5]:
        raise AccessDenied(
            "not_assigned",
            f"you are not assigned to case {case.id}; ask its owner to add you",
            field="case_id",
        )
    if start is not None and start < case.window_start or end is not None and end > case.window_end:
        raise AccessDenied(
            "outside_case_window",
            f"the requested period lies outside case {case.id}'s window "
            f"{_ts(case.window_start)} to {_ts(case.window_end)}",
            field="start" if start is not None and start < case.window_start else "end",
        )
    if area_id is not None and not tree.within(area_id, case.area_id):
        raise AccessDenied(
            "outside_case_area",
            f"area {area_id} lies outside case {case.id}'s area {case.area_id}",
            field="area_id",
        )
    return Justified(case.id, case.area_id, case.window_start, case.window_end)


def person_withheld(
    principal: Principal | Context, case: Justified, home_area_id: str | None, *, tree: AreaTree
) -> str | None:
    """Why a person may not be shown under this case (None: they may).

    A case's area bounds every person it reveals: their home area must be on record, lie inside
    the case's area, and be within the caller's own reach today (an account's areas can shrink
    after the case was opened).
    """
    if home_area_id is None:
        return "home_area_unknown"
    if not tree.within(home_area_id, case.area_id):
        return "outside_case_area"
    if not principal.reaches(home_area_id):
        return "outside_area"
    return None
