"""Case use cases: who may see and change a case, what each change leaves in the audit trail."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

import safecity.security.models  # noqa: F401  (tables for create_all)
from safecity.core.clock import ManualClock
from safecity.core.context import Context
from safecity.registry.models import Area
from safecity.security import accounts, audit, case_admin
from safecity.security.audit import AuditFilter
from safecity.security.errors import AccessDenied, AccountError
from safecity.security.roles import Role
from safecity.security.service import Security
from safecity.store import transaction
from tests.conftest import T0

NOW = T0
WINDOW = {"window_start": NOW - timedelta(days=5), "window_end": NOW + timedelta(days=1)}
Caller = Callable[..., Context]


@pytest.fixture
def security(session_factory: sessionmaker[Session], clock: ManualClock) -> Security:
    """Two stations (S1 over community C1, S2) on SQLite and PostgreSQL."""
    with transaction(session_factory) as session:
        session.add_all(
            [
                Area(id="S1", kind="station", name="S1", station_id="S1"),
                Area(id="S2", kind="station", name="S2", station_id="S2"),
            ]
        )
        session.flush()
        session.add(Area(id="C1", kind="community", name="C1", parent_id="S1", station_id="S1"))
    return Security(session_factory, clock, token_key=b"k" * 32)


@pytest.fixture
def caller(security: Security) -> Caller:
    """Make an account of a role and areas and return its context, as a signed-in request has it."""

    def make(username: str, *areas: str, role: Role = Role.INVESTIGATOR) -> Context:
        with transaction(security.session_factory) as session:
            account = accounts.create_account(
                session,
                accounts.NewAccount(
                    username=username,
                    display_name=username,
                    role=role,
                    unit="CID",
                    password="correct horse battery staple",
                    areas=areas,
                ),
                by="tests",
                now=NOW,
            )
            return security.principal_of(account, session_id=None).context()

    return make


def trail(security: Security, action: str) -> list[dict[str, object]]:
    """What the trail holds of one action, oldest first."""
    with security.session_factory() as session:
        found = audit.search(session, AuditFilter(action=action))
    return [
        {
            "actor": r.actor,
            "resource": r.resource,
            "status": r.status,
            "case_id": r.case_id,
            "subjects": json.loads(r.subjects),
            "detail": json.loads(r.detail),
        }
        for r in reversed(found)
    ]


def open_in(security: Security, ctx: Context, area: str = "S1", members: tuple[str, ...] = ()) -> str:
    """A new case in the area, opened by the caller."""
    case = case_admin.open_case(
        security,
        ctx,
        title="Bike thefts",
        basis="order 1",
        area_id=area,
        members=members,
        now=NOW,
        resource="POST /api/v1/cases",
        **WINDOW,
    )
    return case.id


def test_opening_a_case_makes_the_caller_a_member_and_is_audited_with_status_201(
    security: Security, caller: Caller
) -> None:
    inv = caller("inv-1", "S1")
    caller("inv-2", "S1")

    case = case_admin.open_case(
        security,
        inv,
        title="Bike thefts",
        basis="order 1",
        area_id="S1",
        members=["inv-2"],
        now=NOW,
        resource="POST /api/v1/cases",
        **WINDOW,
    )

    assert (case.opened_by, case.members, case.status) == ("inv-1", ["inv-1", "inv-2"], "open")
    assert trail(security, "cases.open") == [
        {
            "actor": "inv-1",
            "resource": "POST /api/v1/cases",
            "status": 201,
            "case_id": case.id,
            "subjects": [],
            "detail": {"area": "S1", "members": ["inv-1", "inv-2"], "title": "Bike thefts"},
        }
    ]


def test_a_case_outside_the_callers_areas_is_refused_and_not_audited_as_opened(
    security: Security, caller: Caller
) -> None:
    with pytest.raises(AccessDenied) as refused:
        open_in(security, caller("inv-1", "S1"), "S2")

    assert refused.value.code == "outside_area"
    assert trail(security, "cases.open") == []


def test_a_case_is_seen_by_its_members_and_those_covering_its_area_only(
    security: Security, caller: Caller
) -> None:
    owner, member, neighbour = caller("inv-1", "S2"), caller("inv-2", "S1"), caller("inv-3", "C1")
    other = caller("inv-4", "S1")
    case_id = open_in(security, owner, "S2", members=("inv-2",))
    near = open_in(security, other, "C1")

    assert case_admin.get_case(security, member, case_id).id == case_id
    assert [c.id for c in case_admin.list_cases(security, member)] == [near, case_id]
    assert [c.id for c in case_admin.list_cases(security, neighbour)] == [near]
    with pytest.raises(AccessDenied) as refused:
        case_admin.get_case(security, neighbour, case_id)
    assert refused.value.message == f"case {case_id} is outside your areas and you are not assigned to it"
    with pytest.raises(AccessDenied) as missing:
        case_admin.get_case(security, member, "C2026-999999")
    assert (missing.value.code, missing.value.status) == ("case_not_found", 404)


def test_only_members_change_a_case_and_each_change_is_audited_under_it(
    security: Security, caller: Caller
) -> None:
    inv, outsider = caller("inv-1", "S1"), caller("inv-9", "S1")
    caller("duty-3", "S1", role=Role.DISPATCHER)
    case_id = open_in(security, inv)

    with pytest.raises(AccessDenied) as refused:
        case_admin.close_case(security, outsider, case_id, note="x", now=NOW, resource="POST /close")
    assert (refused.value.code, refused.value.field) == ("not_assigned", "case_id")

    assigned = case_admin.assign_member(security, inv, case_id, "Duty-3", now=NOW, resource="POST /m")
    held = case_admin.place_hold(
        security,
        inv,
        case_id,
        kinds=["rfid_read"],
        from_date=(NOW - timedelta(days=2)).date(),
        to_date=NOW.date(),
        now=NOW,
        resource="POST /h",
    )
    closed = case_admin.close_case(security, inv, case_id, note="recovered", now=NOW, resource="POST /close")

    assert assigned.members == ["duty-3", "inv-1"]
    assert held.holds == [{"kind": "rfid_read", "from_date": "2026-11-20", "to_date": "2026-11-22"}]
    assert closed.status == "closed"
    assert [r["subjects"] for r in trail(security, "cases.assign")] == [["account:Duty-3"]]
    assert [r["detail"] for r in trail(security, "cases.hold")] == [
        {"kinds": ["rfid_read"], "from": "2026-11-20", "to": "2026-11-22"}
    ]
    assert [(r["case_id"], r["actor"]) for r in trail(security, "cases.close")] == [(case_id, "inv-1")]
    with pytest.raises(AccessDenied) as again:
        case_admin.close_case(security, inv, case_id, note="x", now=NOW, resource="POST /close")
    assert again.value.status == 409
    with pytest.raises(AccountError):
        case_admin.assign_member(security, inv, case_id, "ghost", now=NOW, resource="POST /m")


def test_cases_opened_at_once_each_get_their_own_number(security: Security, caller: Caller) -> None:
    """Issue 9 item 11: 16 cases opened in parallel all open, numbered without a gap or a clash."""
    from concurrent.futures import ThreadPoolExecutor

    investigator = caller("inv-par", "S1")

    def open_one(n: int) -> str:
        return case_admin.open_case(
            security,
            investigator,
            title=f"case {n}",
            basis="order",
            area_id="S1",
            now=NOW,
            resource="POST /c",
            **WINDOW,
        ).id

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(open_one, range(16)))

    assert sorted(ids) == [f"C2026-{n:06d}" for n in range(1, 17)]
