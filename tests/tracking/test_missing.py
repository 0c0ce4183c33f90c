"""Missing-person reports end to end over HTTP: a guardian reports, the answer places the wearer at once,
the warning goes to the station where they were last placed, an officer closes it as found.

Fixes go in through the real ingest endpoint into the real lake; the clock is the test's.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safecity.core.context import Context
from safecity.core.ids import id_number_check_char
from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.roles import ROLE_PERMISSIONS, Role
from safecity.store import transaction
from safecity.tracking.wearer_schemas import WearerIn
from safecity.tracking.wearers import Wearers
from tests.authn import mint
from tests.conftest import T0
from tests.web.conftest import admin, api, ndjson, platform, schema_db  # noqa: F401

DEVICE = "TRK-0001"
HOME = (28.0000, 120.7000)


def id_number(n: int) -> str:
    first17 = f"3303021940{n:02d}0101{n:03d}"[:17]
    return first17 + id_number_check_char(first17)


def _ok(answer: Any, status: int = 201) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _city(on: Platform) -> None:
    with transaction(on.session_factory) as session:
        session.add(Area(id="D1", kind="district", name="Lucheng"))
        session.flush()
        for station in ("S1", "S2"):
            session.add(Area(id=station, kind="station", name=station, parent_id="D1", station_id=station))
        session.flush()
        session.add(Area(id="C1", kind="community", name="C1", parent_id="S1", station_id="S1"))
        session.add(Area(id="C2", kind="community", name="C2", parent_id="S2", station_id="S2"))


@pytest.fixture
def city(api: TestClient, platform: Platform) -> dict[str, Any]:  # noqa: F811
    """A wearer in C1 wearing DEVICE, with a guardian whose citizen account is linked."""
    _city(platform)
    answer = api.post(
        "/api/v1/devices",
        json={
            "id": DEVICE,
            "kind": "tracker",
            "name": "定位手环",
            "lat": HOME[0],
            "lon": HOME[1],
            "area_id": "C1",
        },
        headers=admin(api),
    )
    secret = _ok(answer)["secret"]
    guardian_id = id_number(2)
    body = WearerIn.model_validate(
        {
            "id_number": id_number(1),
            "name": "王大爷",
            "area_id": "C1",
            "device_ids": [DEVICE],
            "consent": {
                "given_by_id_number": guardian_id,
                "given_by_name": "王小明",
                "capacity": "guardian",
                "basis": "signed form 2026-118",
            },
            "guardians": [
                {"id_number": guardian_id, "name": "王小明", "relation": "son", "phone": "13900001111"}
            ],
        }
    )
    enroller = Context(
        actor="officer-c1",
        role=Role.COMMUNITY_OFFICER.value,
        permissions=frozenset(ROLE_PERMISSIONS[Role.COMMUNITY_OFFICER]),
        areas=frozenset({"C1"}),
        home_areas=("C1",),
    )
    wearers = platform.service(Wearers)
    wearer = wearers.enrol(enroller, body, resource="/test")
    [guardian] = wearers.guardians(enroller, wearer.id, resource="/test")
    guardian_person = guardian.person_id
    return {"secret": secret, "wearer": wearer.id, **_people(platform, guardian_person)}


def _people(platform: Platform, guardian_person: int) -> dict[str, Any]:  # noqa: F811
    """Fresh tokens (access tokens expire when the test moves the clock on)."""
    return {
        "officer": mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C1",)),
        "guardian": mint(platform.security, Role.CITIZEN, person_id=guardian_person),
        "guardian_person": guardian_person,
        "stranger": mint(platform.security, Role.CITIZEN, person_id=None),
        "far_officer": mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C2",)),
    }


def _fixes(api: TestClient, secret: str, points: list[tuple[timedelta, float, float]]) -> None:  # noqa: F811
    events = [
        {
            "id": f"{DEVICE}-{n}",
            "kind": "tracker_fix",
            "ts": (T0 + offset).isoformat(),
            "subject": DEVICE,
            "lat": lat,
            "lon": lon,
        }
        for n, (offset, lat, lon) in enumerate(points)
    ]
    result = _ok(api.post("/api/v1/ingest", content=ndjson(events), auth=(DEVICE, secret)), 200)
    assert result["stored"] == len(events), result


def test_a_guardian_reports_and_sees_the_last_fix_path_and_area_and_an_officer_closes_it_as_found(
    api: TestClient,  # noqa: F811
    platform: Platform,  # noqa: F811
    city: dict[str, Any],  # noqa: F811
) -> None:
    # A morning walk north of home, the last fix 30 minutes before the report; one fix 30 h ago.
    walk = [(timedelta(minutes=-90 + 10 * i), HOME[0] + 0.001 * i, HOME[1]) for i in range(7)]
    _fixes(api, city["secret"], [(timedelta(hours=-30), HOME[0], HOME[1]), *walk])
    wearer = city["wearer"]
    url = f"/api/v1/wearers/{wearer}/missing"

    # Nobody but the guardian and the officers of C1 may report or read.
    body = {
        "circumstances": "穿蓝色外套, 说要去菜市场",
        "last_seen_at": (T0 - timedelta(hours=1)).isoformat(),
    }
    assert api.post(url, json=body, headers=city["stranger"]).status_code == 403
    assert api.post(url, json=body, headers=city["far_officer"]).status_code == 403

    report = _ok(api.post(url, json=body, headers=city["guardian"]))
    last = walk[-1]
    assert (report["last_fix"]["lat"], report["last_fix"]["lon"]) == (pytest.approx(last[1]), last[2])
    assert len(report["path"]) == 7  # the fix 30 hours before is outside the day looked back on
    area = report["search_area"]
    assert area["elapsed_s"] == 30 * 60 and area["heading_deg"] == pytest.approx(0, abs=1)
    assert all(r["radius_m"] <= area["reach_m"] for r in area["rings"])
    assert report["reported_search_area"] == area and report["status"] == "open"

    # The warning is critical and routed to the station where the wearer was last placed.
    alert = _ok(api.get(f"/api/v1/alerts/{report['alert_id']}", headers=city["officer"]), 200)
    assert alert["alert"]["rule"] == "wearer-missing" and alert["alert"]["station_id"] == "S1"

    again = api.post(url, json=body, headers=city["officer"])
    assert (again.status_code, again.json()["error"]["field"]) == (409, "wearer_id")

    # Two hours on, the area has grown; a stranger still sees nothing.
    platform.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    city.update(_people(platform, city["guardian_person"]))
    later = _ok(api.get(f"/api/v1/missing/{report['id']}", headers=city["officer"]), 200)
    assert later["search_area"]["reach_m"] > area["reach_m"]
    assert api.get(f"/api/v1/missing/{report['id']}", headers=city["stranger"]).status_code == 403
    assert [r["id"] for r in _ok(api.get("/api/v1/missing", headers=city["guardian"]), 200)] == [report["id"]]
    assert _ok(api.get("/api/v1/missing", headers=city["far_officer"]), 200) == []

    bad = api.post(
        f"/api/v1/missing/{report['id']}/found", json={"lat": 95, "lon": 120.7}, headers=city["officer"]
    )
    assert bad.status_code == 422
    early = api.post(
        f"/api/v1/missing/{report['id']}/found",
        json={"lat": 28.01, "lon": 120.7, "found_at": (T0 - timedelta(hours=1)).isoformat()},
        headers=city["officer"],
    )
    assert (early.status_code, early.json()["error"]["field"]) == (422, "found_at")
    found = _ok(
        api.post(
            f"/api/v1/missing/{report['id']}/found",
            json={"lat": 28.012, "lon": 120.701, "note": "在菜市场门口找到, 身体无碍"},
            headers=city["officer"],
        ),
        200,
    )
    assert found["status"] == "found" and found["minutes_to_found"] == 120.0
    assert found["search_area"] is None  # no longer searched
    closed = _ok(api.get(f"/api/v1/alerts/{report['alert_id']}", headers=city["officer"]), 200)
    assert closed["alert"]["status"] == "closed"
    twice = api.post(
        f"/api/v1/missing/{report['id']}/found", json={"lat": 28.0, "lon": 120.7}, headers=city["officer"]
    )
    assert twice.status_code == 409
    stats = _ok(api.get("/api/v1/missing/stats", headers=city["officer"]), 200)
    assert (stats["found"], stats["median_minutes_to_found"]) == (1, 120.0)

    # Every step named the wearer's person in the trail, under its purpose.
    with platform.session_factory() as session:
        for action in ("missing.report", "missing.read", "missing.found", "missing.list"):
            [step, *_] = audit.search(session, AuditFilter(action=action, outcome="allowed", limit=5))
            if action != "missing.list":
                assert step.purpose == "missing person search"
                assert json.loads(step.subjects) == [f"person:{_wearer_person(platform, wearer)}"]


def _wearer_person(platform: Platform, wearer_id: int) -> int:  # noqa: F811
    from safecity.tracking.models import Wearer

    with platform.session_factory() as session:
        found = session.get(Wearer, wearer_id)
        assert found is not None
        return found.person_id


def test_a_wearer_whose_locator_never_reported_is_still_searched_for_from_home(
    api: TestClient,  # noqa: F811
    city: dict[str, Any],  # noqa: F811
) -> None:
    report = _ok(
        api.post(
            f"/api/v1/wearers/{city['wearer']}/missing",
            json={"circumstances": "手环没电了"},
            headers=city["officer"],
        )
    )
    assert report["last_fix"] is None and report["path"] == [] and report["search_area"] is None
    alert = _ok(api.get(f"/api/v1/alerts/{report['alert_id']}", headers=city["officer"]), 200)
    assert alert["alert"]["station_id"] == "S1"  # the wearer's own station answers
    withdrawn = _ok(
        api.post(
            f"/api/v1/missing/{report['id']}/withdraw", json={"note": "在女儿家"}, headers=city["guardian"]
        ),
        200,
    )
    assert withdrawn["status"] == "withdrawn" and withdrawn["minutes_to_found"] is None


def test_bad_reports_are_refused_naming_the_field(api: TestClient, city: dict[str, Any]) -> None:  # noqa: F811
    url = f"/api/v1/wearers/{city['wearer']}/missing"
    empty = api.post(url, json={"circumstances": ""}, headers=city["officer"])
    assert empty.status_code == 422
    future = api.post(
        url,
        json={"circumstances": "x", "last_seen_at": (T0 + timedelta(days=1)).isoformat()},
        headers=city["officer"],
    )
    assert (future.status_code, future.json()["error"]["field"]) == (422, "last_seen_at")
    assert (
        api.post(
            "/api/v1/wearers/999/missing", json={"circumstances": "x"}, headers=city["officer"]
        ).status_code
        == 404
    )
    assert api.get("/api/v1/missing/999", headers=city["officer"]).status_code == 404


def test_the_map_reads_a_wearers_fixes_in_reach_and_each_read_is_audited(
    api: TestClient,  # noqa: F811
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
) -> None:
    _fixes(api, city["secret"], [(timedelta(minutes=-m), HOME[0], HOME[1] + m * 1e-4) for m in (50, 40, 5)])
    url = f"/api/v1/wearers/{city['wearer']}/fixes"
    mine = _ok(api.get(url, headers=city["guardian"]), 200)
    assert [f["lon"] for f in mine["fixes"]] == [pytest.approx(HOME[1] + m * 1e-4) for m in (50, 40, 5)]
    assert mine["truncated"] is False
    window = {
        "start": (T0 - timedelta(minutes=45)).isoformat(),
        "end": (T0 - timedelta(minutes=10)).isoformat(),
    }
    assert len(_ok(api.get(url, params=window, headers=city["officer"]), 200)["fixes"]) == 1
    assert api.get(url, headers=city["stranger"]).status_code == 403
    assert api.get(url, headers=city["far_officer"]).status_code == 403
    week = {"start": (T0 - timedelta(days=8)).isoformat(), "end": T0.isoformat()}
    too_long = api.get(url, params=week, headers=city["officer"])
    assert (too_long.status_code, too_long.json()["error"]["field"]) == (422, "start")
    backwards = api.get(
        url,
        params={"start": T0.isoformat(), "end": (T0 - timedelta(hours=1)).isoformat()},
        headers=city["officer"],
    )
    assert (backwards.status_code, backwards.json()["error"]["field"]) == (422, "start")
    with platform.session_factory() as session:
        reads = audit.search(session, AuditFilter(action="wearers.fixes", outcome="allowed", limit=5))
    assert [r.result_count for r in reads] == [1, 3]
    assert all(
        json.loads(r.subjects) == [f"person:{_wearer_person(platform, city['wearer'])}"] for r in reads
    )


def test_a_crash_between_storing_a_report_and_raising_its_warning_is_healed_at_the_next_read(
    api: TestClient,  # noqa: F811
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
) -> None:
    from safecity.tracking.missing import MissingPersons

    missing = platform.service(MissingPersons)
    raise_findings = missing._raise

    def crash(findings: Any) -> Any:
        raise RuntimeError("killed between the report and its warning")

    missing._raise = crash
    try:
        answer = api.post(
            f"/api/v1/wearers/{city['wearer']}/missing", json={"circumstances": "x"}, headers=city["guardian"]
        )
        assert answer.status_code == 500  # the process died here, as far as the caller can tell
    finally:
        missing._raise = raise_findings
    [stored] = _ok(api.get("/api/v1/missing", headers=city["officer"]), 200)  # the report was kept
    healed = _ok(api.get(f"/api/v1/missing/{stored['id']}", headers=city["officer"]), 200)
    assert healed["alert_id"] is not None
    alert = _ok(api.get(f"/api/v1/alerts/{healed['alert_id']}", headers=city["officer"]), 200)
    assert alert["alert"]["rule"] == "wearer-missing"
    again = _ok(api.get(f"/api/v1/missing/{stored['id']}", headers=city["officer"]), 200)
    assert again["alert_id"] == healed["alert_id"]
