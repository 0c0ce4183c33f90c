"""The community officer's visit list over HTTP: housing warnings become tasks of the right community,
listed by priority and place with a walking round; outcomes feed each rule's precision; flats are
marked visited; every refusal names its field or says whose community it is."""

from __future__ import annotations

import itertools
import time
from typing import Any

from fastapi.testclient import TestClient

from safecity.core.finding import Evidence, Finding, Ref
from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.roles import Role
from tests.authn import mint
from tests.conftest import T0
from tests.places.conftest import Housing
from tests.places.test_housing import register

_serial = itertools.count(1)


def warn(
    platform: Platform,
    *,
    compound: str = "CP1",
    flat: int | None = None,
    building: str | None = None,
    rule: str = "housing-dormant-tenant",
    kind: str = "housing_dormant_tenant",
    severity: str = "medium",
    title: str = "Registered tenant has not swiped for 14 days",
) -> str:
    """Raise one warning through the alert service, as a housing rule's finding would; its alert id."""
    n = next(_serial)
    refs = [Ref("compound", compound)]
    if flat is not None:
        refs.append(Ref("flat", str(flat)))
    if building is not None:
        refs.append(Ref("building", building))
    evidence = Evidence(
        event_id=f"ev-visit-{n}",
        corr_id=f"corr-visit-{n}",
        kind="door_swipe",
        subject=f"pseudonym-{n}",
        device="DOOR-1",
        ts=T0,
        lat=None,
        lon=None,
        area="C1" if compound == "CP1" else "C2",
        code="granted",
    )
    finding = Finding(
        rule=rule,
        rule_kind=kind,
        severity=severity,
        title=title,
        subject_kind="flat",
        subject=str(flat or compound),
        dedup_key=f"visit-test:{n}",
        at=T0,
        evidence=(evidence,),
        refs=tuple(refs),
    )
    return platform.alerts.apply_findings([finding])[0].alert_id


def tasks_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Every task of a list answer, in the order shown."""
    return [t for place in answer["places"] for flat in place["flats"] for t in flat["tasks"]]


def wait_for_tasks(api: TestClient, headers: dict[str, str], alert_ids: set[str]) -> dict[str, Any]:
    """The list once the worker has made a task of each alert (it hears of them over the bus)."""
    deadline = time.monotonic() + 10
    while True:
        answer = api.get("/api/v1/visits", params={"status": "all"}, headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if alert_ids <= {t["alert_id"] for t in tasks_of(body)}:
            return body
        assert time.monotonic() < deadline, (
            f"no task for {alert_ids - {t['alert_id'] for t in tasks_of(body)}}"
        )
        time.sleep(0.05)


def test_a_housing_warning_becomes_a_task_of_its_compounds_community(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    alert_id = warn(platform, flat=housing.flat_id, severity="high")
    body = wait_for_tasks(api, housing.officer, {alert_id})
    [place] = body["places"]
    assert (place["key"], place["compound_name"], place["building_name"]) == (
        "building:B1",
        "Compound 1",
        "1号楼",
    )
    [flat] = place["flats"]
    assert (flat["flat_id"], flat["number"], flat["capacity"]) == (housing.flat_id, "1-101", 2)
    [task] = flat["tasks"]
    assert task["community_id"] == "C1"
    assert (task["rule"], task["priority"], task["status"]) == ("housing-dormant-tenant", 2, "open")
    assert task["title"] == "Registered tenant has not swiped for 14 days"
    assert body["open_tasks"] == 1


def test_a_registration_over_capacity_lands_in_the_visit_list(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    for number in ("330302199003071231", "330302198501010058", "330302199202020074"):
        answer = register(api, housing.landlord, housing.flat_id, number=number)
        assert answer.status_code == 201, answer.text
    [crowded] = [a for a in platform.alerts.list_alerts() if a.rule == "flat-over-capacity"]
    body = wait_for_tasks(api, housing.officer, {crowded.id})
    [task] = [t for t in tasks_of(body) if t["alert_id"] == crowded.id]
    assert (task["flat_id"], task["priority"], task["title"]) == (
        housing.flat_id,
        3,
        "Flat registered over its capacity",
    )


def test_warnings_of_other_kinds_or_without_a_compound_make_no_task(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    other = warn(platform, flat=housing.flat_id, rule="stolen-bike", kind="hotlist")
    unknown = warn(platform, compound="CP-NOPE")
    marker = warn(platform, flat=housing.flat_id)  # made after the two above, on the same stream
    body = wait_for_tasks(api, housing.officer, {marker})
    assert {t["alert_id"] for t in tasks_of(body)} == {marker}
    assert other and unknown


def test_tasks_are_listed_by_priority_grouped_by_building_and_flat(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    low = warn(platform, flat=housing.flat_id, severity="low")
    building_wide = warn(platform, building="B1", severity="critical", rule="housing-night-entries")
    compound_wide = warn(platform, severity="medium", rule="housing-many-compounds")
    high = warn(platform, flat=housing.flat_id, severity="high", rule="housing-group-renting")
    body = wait_for_tasks(api, housing.officer, {low, building_wide, compound_wide, high})
    assert [p["key"] for p in body["places"]] == ["building:B1", "compound:CP1"]
    b1 = body["places"][0]
    assert b1["priority"] == 1
    assert [f["flat_id"] for f in b1["flats"]] == [None, housing.flat_id]
    assert [t["alert_id"] for t in b1["flats"][1]["tasks"]] == [high, low]
    assert [t["alert_id"] for t in tasks_of(body)] == [building_wide, high, low, compound_wide]


def test_the_walking_round_goes_to_the_nearest_place_first(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    # Three buildings along a street, 100-odd metres apart; B-far is listed first (most urgent).
    for building, lat in (("B-near", 28.0010), ("B-mid", 28.0020), ("B-far", 28.0040)):
        answer = api.post(
            "/api/v1/buildings",
            json={"id": building, "compound_id": "CP1", "name": building, "lat": lat, "lon": 120.65},
            headers=housing.officer,
        )
        assert answer.status_code == 201, answer.text
    ids = {
        warn(platform, building="B-far", severity="critical"),
        warn(platform, building="B-mid", severity="low"),
        warn(platform, building="B-near", severity="low"),
    }
    wait_for_tasks(api, housing.officer, ids)
    body = api.get("/api/v1/visits", params={"lat": 28.0, "lon": 120.65}, headers=housing.officer).json()
    assert body["places"][0]["key"] == "building:B-far"
    walk = body["round"]
    assert walk["start_from"] == "officer"
    assert [s["key"] for s in walk["stops"]] == ["building:B-near", "building:B-mid", "building:B-far"]
    assert [s["order"] for s in walk["stops"]] == [1, 2, 3]
    assert 100 < walk["stops"][0]["distance_m"] < 120  # 0.001° of latitude is about 111 m
    assert 430 < walk["total_m"] < 460
    from_far = api.get("/api/v1/visits", params={"lat": 28.005, "lon": 120.65}, headers=housing.officer)
    assert [s["key"] for s in from_far.json()["round"]["stops"]][0] == "building:B-far"


def test_outcomes_feed_the_precision_of_each_rule(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    outcomes = ["confirmed", "confirmed", "false_alarm", "explained", "no_one_home"]
    ids = [warn(platform, flat=housing.flat_id) for _ in outcomes]
    other = warn(platform, flat=housing.flat_id, rule="housing-group-renting")
    body = wait_for_tasks(api, housing.officer, {*ids, other})
    by_alert = {t["alert_id"]: t["id"] for t in tasks_of(body)}
    for alert_id, outcome in zip(ids, outcomes, strict=True):
        answer = api.post(
            f"/api/v1/visits/{by_alert[alert_id]}/outcome",
            json={"outcome": outcome, "note": "两人在家，已核实"},
            headers=housing.officer,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == outcome
        assert answer.json()["status"] == ("open" if outcome == "no_one_home" else "done")
    rows = {r["rule"]: r for r in api.get("/api/v1/visits/precision", headers=housing.officer).json()}
    assert rows["housing-dormant-tenant"] == {
        "rule": "housing-dormant-tenant",
        "confirmed": 2,
        "explained": 1,
        "no_one_home": 1,
        "false_alarm": 1,
        "open": 0,
        "precision": 0.6667,
    }
    assert (rows["housing-group-renting"]["open"], rows["housing-group-renting"]["precision"]) == (1, None)
    # Each settled visit closed its warning as what it turned out to be; no one home left it open.
    closed = [platform.alerts.get(a).alert for a in ids]
    assert [(a.status, a.outcome) for a in closed] == [
        ("closed", "confirmed"),
        ("closed", "confirmed"),
        ("closed", "false_alarm"),
        ("closed", "unverified"),
        ("new", None),
    ]
    [alert_row] = [
        r for r in api.get("/api/v1/alerts/precision").json() if r["key"] == "housing-dormant-tenant"
    ]
    assert (alert_row["confirmed"], alert_row["false_alarm"], round(alert_row["precision"], 4)) == (
        2,
        1,
        0.6667,
    )
    still_open = api.get("/api/v1/visits", headers=housing.officer).json()
    assert {t["alert_id"] for t in tasks_of(still_open)} == {ids[-1], other}
    [flat] = [
        f for f in api.get("/api/v1/flats", headers=housing.officer).json() if f["id"] == housing.flat_id
    ]
    assert flat["visited_on"] == T0.date().isoformat()  # someone answered the door
    done_again = api.post(
        f"/api/v1/visits/{by_alert[ids[0]]}/outcome", json={"outcome": "false_alarm"}, headers=housing.officer
    )
    assert done_again.status_code == 409
    assert done_again.json()["error"]["field"] == "visit_id"
    no_one = api.post(
        f"/api/v1/visits/{by_alert[ids[-1]]}/outcome", json={"outcome": "confirmed"}, headers=housing.officer
    )
    assert no_one.status_code == 200, no_one.text  # a second try after no one was home
    with platform.session_factory() as session:
        recorded = audit.search(session, AuditFilter(action="visits.outcome", limit=50))
    assert len(recorded) == 6
    assert all("两人" not in r.detail for r in recorded)  # notes stay with the task, not in the trail


def test_only_the_officer_of_the_tasks_community_records_its_outcome(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    alert_id = warn(platform, compound="CP2", flat=housing.other_flat_id)
    body = wait_for_tasks(api, housing.officer, {alert_id})
    [task] = tasks_of(body)
    elsewhere = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C1",))
    answer = api.post(
        f"/api/v1/visits/{task['id']}/outcome", json={"outcome": "confirmed"}, headers=elsewhere
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "outside_area"
    assert tasks_of(api.get("/api/v1/visits", headers=elsewhere).json()) == []
    assert api.get("/api/v1/visits", params={"community_id": "C2"}, headers=elsewhere).status_code == 403
    for role in (Role.LANDLORD, Role.PATROL_OFFICER, Role.GUARD):
        headers = mint(platform.security, role, areas=("C2",) if role is not Role.LANDLORD else ())
        refused = api.post(
            f"/api/v1/visits/{task['id']}/outcome", json={"outcome": "confirmed"}, headers=headers
        )
        assert refused.status_code == 403, (role, refused.text)
    left = api.get("/api/v1/visits", headers=housing.officer).json()
    assert [t["status"] for t in tasks_of(left)] == ["open"]


def test_bad_input_is_refused_by_field(api: TestClient, housing: Housing, platform: Platform) -> None:
    alert_id = warn(platform, flat=housing.flat_id)
    [task] = tasks_of(wait_for_tasks(api, housing.officer, {alert_id}))
    cases: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, int, str]] = [
        ("POST", f"/api/v1/visits/{task['id']}/outcome", {"outcome": "maybe"}, None, 422, "outcome"),
        ("POST", f"/api/v1/visits/{task['id']}/outcome", {"outcome": "confirmed", "x": 1}, None, 422, "x"),
        (
            "POST",
            f"/api/v1/visits/{task['id']}/outcome",
            {"outcome": "confirmed", "note": "n" * 1001},
            None,
            422,
            "note",
        ),
        ("POST", "/api/v1/visits/999999/outcome", {"outcome": "confirmed"}, None, 404, "visit_id"),
        ("GET", "/api/v1/visits", None, {"lat": 28.0}, 422, "lon"),
        ("GET", "/api/v1/visits", None, {"status": "later"}, 422, "status"),
        ("POST", f"/api/v1/flats/{housing.flat_id}/visited", {"on": "2999-01-01"}, None, 422, "on"),
        ("POST", f"/api/v1/flats/{housing.flat_id}/visited", {"on": "yesterday"}, None, 422, "on"),
        ("POST", "/api/v1/flats/999999/visited", {}, None, 404, "flat_id"),
    ]
    for method, path, body, params, status, field in cases:
        answer = api.request(method, path, json=body, params=params, headers=housing.officer)
        assert answer.status_code == status, (path, body, params, answer.text)
        assert answer.json()["error"]["field"].split(".")[-1] == field, (path, body, answer.text)


def test_a_flat_is_marked_visited_with_the_date(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    answer = api.post(f"/api/v1/flats/{housing.flat_id}/visited", json={}, headers=housing.officer)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"flat_id": housing.flat_id, "visited_on": T0.date().isoformat()}
    earlier = api.post(
        f"/api/v1/flats/{housing.flat_id}/visited", json={"on": "2026-11-01"}, headers=housing.officer
    )
    assert earlier.json()["visited_on"] == T0.date().isoformat()  # the last visit stays the last
    elsewhere = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C1",))
    refused = api.post(f"/api/v1/flats/{housing.other_flat_id}/visited", json={}, headers=elsewhere)
    assert refused.status_code == 403, refused.text
    with platform.session_factory() as session:
        recorded = audit.search(session, AuditFilter(action="visits.flat_visited", limit=10))
    assert len(recorded) == 2
