"""Intrusion zones of a compound: registered by the officer of its area with armed hours; an
intrusion alarm from an armed zone raises a warning for the community, a disarmed or unknown zone
does not; bad zones are refused naming the field."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.security.roles import Role
from tests.authn import mint
from tests.conftest import T0
from tests.places.conftest import Housing
from tests.web.conftest import admin, ndjson

PANEL = "AP-0001"
# T0 is Sunday 22 November 2026, 16:00 in Wenzhou: the fence is armed from 22:00 to 06:00.
NIGHTS = {d: [["22:00", "06:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def panel(api: TestClient, community: str = "C1") -> str:
    answer = api.post(
        "/api/v1/devices",
        json={
            "id": PANEL,
            "kind": "alarm_panel",
            "name": "北门报警主机",
            "lat": 28.0,
            "lon": 120.7,
            "area_id": community,
        },
        headers=admin(api),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["secret"])


def zone(api: TestClient, headers: dict[str, str], **over: Any) -> Any:
    body = {
        "device_id": PANEL,
        "zone": "Z3",
        "name": "北侧围墙",
        "compound_id": "CP1",
        "armed_hours": NIGHTS,
        **over,
    }
    return api.post("/api/v1/alarm-zones", json=body, headers=headers)


def alarm(api: TestClient, secret: str, n: int, *, at_hours: float, zone_name: str = "Z3") -> None:
    event = {
        "id": f"{PANEL}-{n}",
        "kind": "alarm",
        "code": "intrusion",
        "ts": (T0 + timedelta(hours=at_hours)).isoformat(),
        "attrs": {"zone": zone_name},
    }
    answer = api.post("/api/v1/ingest", content=ndjson([event]), auth=(PANEL, secret))
    assert answer.status_code == 200 and answer.json()["stored"] == 1, answer.text


def warnings(api: TestClient, headers: dict[str, str], *, expect: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = [
            a
            for a in api.get("/api/v1/alerts", headers=headers).json()["items"]
            if a["rule"] == "compound-intrusion"
        ]
        if len(found) >= expect:
            break
        time.sleep(0.05)
    return found


def test_an_intrusion_in_an_armed_zone_warns_the_community_and_a_disarmed_one_does_not(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    secret = panel(api)
    assert zone(api, housing.officer).status_code == 201
    alarm(api, secret, 1, at_hours=-2)  # 14:00 local: disarmed
    alarm(api, secret, 2, at_hours=-17, zone_name="Z9")  # armed time, but a zone nobody registered
    alarm(api, secret, 3, at_hours=-17)  # 23:00 local on Saturday night: armed
    alarm(api, secret, 4, at_hours=-16.5)
    guard = mint(platform.security, Role.GUARD, areas=("C1",))
    [warning] = warnings(api, guard, expect=1)
    # Batches are evaluated in order: once the last alarm is in the warning, the first two were judged
    # too, and they are in no warning. (Whether the two armed ones came in one batch or two, hits 1 or
    # 2, depends on timing; the evidence does not.)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        detail = api.get(f"/api/v1/alerts/{warning['id']}", headers=guard).json()
        if len(detail["evidence"]) >= 2:
            break
        time.sleep(0.05)
    assert [e["event_id"] for e in detail["evidence"]] == [f"{PANEL}-3", f"{PANEL}-4"]
    assert [w["id"] for w in warnings(api, guard, expect=1)] == [warning["id"]]
    assert (warning["area_id"], warning["severity"]) == ("C1", "high")
    detail = api.get(f"/api/v1/alerts/{warning['id']}", headers=guard).json()
    assert detail["facts"]["zone"] == "北侧围墙" and detail["facts"]["compound"] == "Compound 1"
    assert detail["alert"]["subject_kind"] == "alarm_zone"
    elsewhere = mint(platform.security, Role.GUARD, areas=("C2",))
    assert warnings(api, elsewhere, expect=0) == []


def test_zones_are_registered_in_reach_with_valid_hours_only(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    panel(api)
    outsider = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C2",))
    assert zone(api, outsider).status_code == 403
    cases = [
        ({"armed_hours": {"mon": [["22:00", "30:00"]]}}, "armed_hours.mon[0]"),
        ({"device_id": "NOPE"}, "device_id"),
        ({"compound_id": None}, None),
        ({"compound_id": "CP404"}, "compound_id"),
    ]
    for over, field in cases:
        answer = zone(api, housing.officer, **over)
        assert answer.status_code in (404, 422), (over, answer.text)
        if field is not None:
            assert answer.json()["error"]["field"] == field, answer.text
    assert zone(api, housing.officer).status_code == 201
    again = zone(api, housing.officer)
    assert (again.status_code, again.json()["error"]["field"]) == (409, "zone")
    [listed] = api.get("/api/v1/alarm-zones", headers=housing.officer).json()
    assert (listed["zone"], listed["armed_hours"]) == ("Z3", NIGHTS)
    assert api.get("/api/v1/alarm-zones", headers=outsider).json() == []


def test_a_station_is_not_an_alarm_panel(api: TestClient, housing: Housing) -> None:
    api.post(
        "/api/v1/devices",
        json={"id": "BS-9", "kind": "rfid_station", "name": "x", "lat": 28.0, "lon": 120.7, "area_id": "C1"},
        headers=admin(api),
    )
    answer = zone(api, housing.officer, device_id="BS-9")
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "device_id")
