"""Visitor passes over HTTP: guards for their compounds, residents for their own flat; bad times named;
an answer never tells the registry's name for a number; every pass and read audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from safecity.places import AccessChanged
from safecity.places.models import VisitorPass
from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.roles import Role
from tests.authn import mint
from tests.conftest import T0
from tests.places.conftest import Housing
from tests.places.test_housing import TENANT, register

VISITOR = "330302198512121239"


def _at(**delta: float) -> str:
    return (T0 + timedelta(**delta)).isoformat()


def visit(compound: str = "CP1", **over: Any) -> dict[str, Any]:
    return {
        "compound_id": compound,
        "id_number": VISITOR,
        "name": "访客甲",
        "valid_until": _at(hours=4),
        **over,
    }


def test_a_guard_lets_a_visitor_in_and_the_doors_are_told(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    guard = mint(platform.security, Role.GUARD, areas=("C1",), username="guard.c1")
    told: list[Any] = []
    platform.hub.on(AccessChanged, told.append)
    answer = api.post("/api/v1/visitor-passes", json=visit(), headers=guard)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["compound_id"], body["name"], body["id_number"]) == ("CP1", "访客甲", "330302********1239")
    assert [e.compound_id for e in told] == ["CP1"]
    [listed] = api.get("/api/v1/visitor-passes", headers=guard).json()
    assert listed["id"] == body["id"]
    revoked = api.post(f"/api/v1/visitor-passes/{body['id']}/revoke", headers=guard)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert api.get("/api/v1/visitor-passes", headers=guard).json() == []
    again = api.post(f"/api/v1/visitor-passes/{body['id']}/revoke", headers=guard)
    assert (again.status_code, again.json()["error"]["field"]) == (409, "pass_id")
    with platform.session_factory() as session:
        actions = [e.action for e in audit.search(session, AuditFilter(actor="guard.c1"))]
    assert {"visitors.register", "visitors.read", "visitors.revoke"} <= set(actions)


def test_a_guard_of_another_community_is_refused(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    guard = mint(platform.security, Role.GUARD, areas=("C2",))
    answer = api.post("/api/v1/visitor-passes", json=visit("CP1"), headers=guard)
    assert answer.status_code == 403, answer.text
    with platform.session_factory() as session:
        assert session.query(VisitorPass).count() == 0


def test_bad_times_and_numbers_are_refused_naming_the_field(api: TestClient, housing: Housing) -> None:
    officer = housing.officer
    cases = [
        (visit(valid_from=_at(hours=2), valid_until=_at(hours=1)), "valid_until"),
        (visit(valid_from=_at(hours=-3)), "valid_from"),
        (visit(valid_until=_at(days=9)), "valid_until"),
        (visit(id_number=VISITOR[:-1] + "0"), "id_number"),
        (visit(valid_until="tomorrow"), "valid_until"),
        (visit(valid_until="9999-12-31T23:00:00-23:59"), "valid_until"),  # past year 9999 in UTC: was a 500
        (visit(valid_from="0001-01-01T00:30:00+01:00"), "valid_from"),  # before year 1 in UTC
        (visit("NOPE"), "compound_id"),
        (visit(flat_id=housing.other_flat_id), "flat_id"),
    ]
    for body, field in cases:
        answer = api.post("/api/v1/visitor-passes", json=body, headers=officer)
        assert answer.status_code in (404, 422), (field, answer.text)
        assert answer.json()["error"]["field"] == field, answer.text


def test_a_resident_issues_passes_for_their_own_flat_only(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    tenant = register(api, housing.landlord, housing.flat_id).json()["tenant"]
    resident = mint(platform.security, Role.CITIZEN, person_id=tenant["person_id"])
    answer = api.post("/api/v1/visitor-passes", json=visit(), headers=resident)
    assert answer.status_code == 201, answer.text
    assert answer.json()["flat_id"] == housing.flat_id
    elsewhere = api.post("/api/v1/visitor-passes", json=visit("CP2"), headers=resident)
    assert elsewhere.status_code == 403, elsewhere.text
    stranger = mint(platform.security, Role.CITIZEN)
    assert api.post("/api/v1/visitor-passes", json=visit(), headers=stranger).status_code == 403
    # A resident sees and revokes only the passes they issued.
    guard = mint(platform.security, Role.GUARD, areas=("C1",))
    guards = api.post("/api/v1/visitor-passes", json=visit(name="访客乙"), headers=guard).json()
    assert [p["name"] for p in api.get("/api/v1/visitor-passes", headers=resident).json()] == ["访客甲"]
    assert api.post(f"/api/v1/visitor-passes/{guards['id']}/revoke", headers=resident).status_code == 403


def test_a_pass_never_tells_the_registrys_name_for_a_number(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    register(api, housing.landlord, housing.flat_id)  # the registry now knows TENANT as 陈平
    guard = mint(platform.security, Role.GUARD, areas=("C1",))
    answer = api.post("/api/v1/visitor-passes", json=visit(id_number=TENANT, name="随便"), headers=guard)
    assert answer.status_code == 201, answer.text
    assert "陈平" not in answer.text
    assert "陈平" not in api.get("/api/v1/visitor-passes", headers=guard).text
