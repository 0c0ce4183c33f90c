"""Residents' vehicles and the gate cameras: registration in reach (a resident only where they live),
plates checked; an unregistered vehicle entering on four days of a week warns the community, a
resident's or a one-day visitor's does not."""

from __future__ import annotations

import itertools
import json
import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.roles import Role
from tests.authn import mint
from tests.conftest import T0
from tests.places.conftest import Housing
from tests.places.test_housing import register
from tests.web.conftest import admin, ndjson

CAMERA = "PC-GATE-1"
SERIAL = itertools.count(1)


def camera(api: TestClient, community: str = "C1") -> str:
    answer = api.post(
        "/api/v1/devices",
        json={
            "id": CAMERA,
            "kind": "plate_camera",
            "name": "北门车闸",
            "lat": 28.0,
            "lon": 120.7,
            "area_id": community,
        },
        headers=admin(api),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["secret"])


def reads(api: TestClient, secret: str, plate: str, days_ago: list[int]) -> None:
    events = [
        {
            "id": f"{CAMERA}-{next(SERIAL)}",
            "kind": "plate_read",
            "subject": plate,
            "ts": (T0 - timedelta(days=d)).isoformat(),
        }
        for d in days_ago
    ]
    answer = api.post("/api/v1/ingest", content=ndjson(events), auth=(CAMERA, secret))
    assert answer.status_code == 200 and answer.json()["stored"] == len(events), answer.text


def warned(api: TestClient, headers: dict[str, str], *, wait: bool) -> list[dict[str, Any]]:
    deadline = time.monotonic() + (5 if wait else 0.5)
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = [
            a
            for a in api.get("/api/v1/alerts", headers=headers).json()["items"]
            if a["rule"] == "unregistered-vehicle"
        ]
        if found and wait:
            break
        time.sleep(0.05)
    return found


def test_an_unregistered_vehicle_entering_on_four_days_warns_the_community(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    secret = camera(api)
    guard = mint(platform.security, Role.GUARD, areas=("C1",))
    assert (
        api.post(
            "/api/v1/vehicles", json={"compound_id": "CP1", "plate": "浙C12345"}, headers=guard
        ).status_code
        == 201
    )
    reads(api, secret, "浙C12345", [0, 1, 2, 3, 4])  # a resident's: never
    reads(api, secret, "浙C99999", [0, 0, 0])  # a visitor, three times in one day
    reads(api, secret, "浙C54321", [1, 3, 5])  # three days: not yet
    assert warned(api, guard, wait=False) == []
    reads(api, secret, "浙C54321", [6])
    [warning] = warned(api, guard, wait=True)
    assert (warning["subject"], warning["area_id"]) == ("浙C54321", "C1")
    detail = api.get(f"/api/v1/alerts/{warning['id']}", headers=guard).json()
    assert detail["facts"]["days_seen"] == 4
    assert len(detail["evidence"]) == 4  # each day's entry


def test_vehicles_are_registered_in_reach_and_a_resident_registers_only_their_own(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    outsider = mint(platform.security, Role.GUARD, areas=("C2",))
    assert (
        api.post(
            "/api/v1/vehicles", json={"compound_id": "CP1", "plate": "浙C12345"}, headers=outsider
        ).status_code
        == 403
    )
    bad = api.post(
        "/api/v1/vehicles", json={"compound_id": "CP1", "plate": "ABC1234"}, headers=housing.officer
    )
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "plate")
    tenant = register(api, housing.landlord, housing.flat_id).json()["tenant"]
    resident = mint(platform.security, Role.CITIZEN, person_id=tenant["person_id"])
    mine = api.post("/api/v1/vehicles", json={"compound_id": "CP1", "plate": "浙c88888"}, headers=resident)
    assert (mine.status_code, mine.json()["plate"]) == (201, "浙C88888")
    assert (
        api.post(
            "/api/v1/vehicles", json={"compound_id": "CP2", "plate": "浙C77777"}, headers=resident
        ).status_code
        == 403
    )
    twice = api.post(
        "/api/v1/vehicles", json={"compound_id": "CP1", "plate": "浙C88888"}, headers=housing.officer
    )
    assert (twice.status_code, twice.json()["error"]["field"]) == (409, "plate")
    assert [v["plate"] for v in api.get("/api/v1/vehicles", headers=resident).json()] == ["浙C88888"]
    assert api.get("/api/v1/vehicles", headers=outsider).json() == []
    # A list of residents' plates (with whose they are) is personal data: each read is in the trail.
    with platform.session_factory() as session:
        reads = audit.search(session, AuditFilter(action="vehicles.list", limit=10))
    assert sorted(r.result_count for r in reads) == [0, 1]
    assert [json.loads(r.subjects) for r in reads if r.result_count] == [[f"person:{tenant['person_id']}"]]
