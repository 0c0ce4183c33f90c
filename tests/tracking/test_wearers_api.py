"""Wearer routes over HTTP: who may do what, bad input named, and a warning reaching station and guardian."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from safecity.alerts.models import Alert
from safecity.alerts.query import AlertFilter
from safecity.platform import Platform
from safecity.security.roles import Role
from tests.authn import mint
from tests.conftest import T0
from tests.tracking.wearerfix import HOME, Records, at, id_number, seed_city, wearer_in
from tests.web.conftest import api, platform, schema_db  # noqa: F401  (the same fixtures)


def _wrong_check(number: str) -> str:
    """The number with a check character that does not match it."""
    return number[:17] + ("1" if number[17] != "1" else "2")


def _body(n: int = 1, **over: Any) -> dict[str, Any]:
    return {**wearer_in(n).model_dump(mode="json", exclude_none=True), **over}


def _ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _refused(answer: Any, status: int, code: str, field: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    if field is not None:
        assert error["field"] == field


def _officer(platform: Platform, areas: tuple[str, ...] = ("S1",)) -> dict[str, str]:  # noqa: F811
    return mint(platform.security, Role.COMMUNITY_OFFICER, areas=areas)


def test_an_officer_enrols_a_wearer_and_each_role_reads_what_it_may(
    api: TestClient,  # noqa: F811
    platform: Platform,  # noqa: F811
) -> None:
    seed_city(platform.session_factory)
    officer = _officer(platform)
    wearer = _ok(api.post("/api/v1/wearers", json=_body(), headers=officer), 201)
    detail = _ok(api.get(f"/api/v1/wearers/{wearer['id']}", headers=officer))
    guardian = mint(platform.security, Role.CITIZEN, person_id=detail["guardians"][0]["person_id"])
    stranger = mint(platform.security, Role.CITIZEN, person_id=None)
    patrol = mint(platform.security, Role.PATROL_OFFICER, areas=("S1",))
    far_patrol = mint(platform.security, Role.PATROL_OFFICER, areas=("S2",))
    landlord = mint(platform.security, Role.LANDLORD)
    path = f"/api/v1/wearers/{wearer['id']}"

    assert (detail["name"], detail["device_ids"], detail["open_warnings"]) == ("Wearer 1", ["TRK-1"], [])
    assert [z["name"] for z in detail["safe_zones"]] == ["home"]
    assert [w["id"] for w in _ok(api.get("/api/v1/wearers", headers=patrol))] == [wearer["id"]]
    assert _ok(api.get("/api/v1/wearers", headers=far_patrol)) == []
    _refused(api.get(path, headers=far_patrol), 403, "outside_area")
    _refused(api.get(path, headers=landlord), 403, "forbidden")
    _refused(
        api.post(f"{path}/guardians", json={}, headers=patrol), 403, "forbidden"
    )  # reads, may not manage
    _refused(api.get("/api/v1/wearers/424242", headers=patrol), 404, "not_found", "wearer_id")
    # The guardian's citizen account: their wearer, and nobody else's (nor the officers' routes).
    assert [w["id"] for w in _ok(api.get("/api/v1/my/wearers", headers=guardian))] == [wearer["id"]]
    mine = _ok(api.get(f"/api/v1/my/wearers/{wearer['id']}", headers=guardian))
    assert mine["guardians"][0]["phone"] != "13900000101" and mine["id_number"] != id_number(1)
    _refused(api.get(path, headers=guardian), 403, "forbidden")
    _refused(api.get(f"/api/v1/my/wearers/{wearer['id']}", headers=stranger), 403, "forbidden")
    assert _ok(api.get("/api/v1/my/wearers", headers=stranger)) == []


def test_guardians_consents_and_zones_over_http(api: TestClient, platform: Platform) -> None:  # noqa: F811
    seed_city(platform.session_factory)
    officer = _officer(platform)
    wearer = _ok(api.post("/api/v1/wearers", json=_body(), headers=officer), 201)
    path = f"/api/v1/wearers/{wearer['id']}"
    son = {"id_number": id_number(300), "name": "Son", "relation": "son", "phone": "13900000300"}

    added = _ok(api.post(f"{path}/guardians", json=son, headers=officer), 201)
    _refused(api.post(f"{path}/guardians", json=son, headers=officer), 409, "conflict", "id_number")
    assert len(_ok(api.get(f"{path}/guardians", headers=officer))) == 2
    removed = _ok(api.post(f"{path}/guardians/{added['id']}/remove", headers=officer))
    assert removed["removed_at"] is not None
    _refused(api.post(f"{path}/guardians/999/remove", headers=officer), 404, "not_found", "guardian_id")

    form = {
        "given_by_id_number": id_number(301),
        "given_by_name": "Son",
        "capacity": "guardian",
        "basis": "f-2",
    }
    consent = _ok(api.post(f"{path}/consents", json=form, headers=officer), 201)
    withdrawn = _ok(api.post(f"{path}/consents/{consent['id']}/withdraw", headers=officer))
    assert withdrawn["withdrawn_at"] is not None
    assert [c["withdrawn_at"] is None for c in _ok(api.get(f"{path}/consents", headers=officer))] == [
        True,
        False,
    ]

    ring = [[120.64, 27.99], [120.66, 27.99], [120.66, 28.01], [120.64, 28.01], [120.64, 27.99]]
    zones = {"zones": [{"name": "village", "ring": ring, "hours": ["07:00-19:00"]}]}
    assert [z["shape"] for z in _ok(api.put(f"{path}/safe-zones", json=zones, headers=officer))] == [
        "polygon"
    ]
    assert [z["name"] for z in _ok(api.get(f"{path}/safe-zones", headers=officer))] == ["village"]
    ended = _ok(api.post(f"{path}/end", headers=officer))
    assert ended["status"] == "ended" and ended["device_ids"] == []


def test_bad_input_is_422_naming_the_field(api: TestClient, platform: Platform) -> None:  # noqa: F811
    seed_city(platform.session_factory)
    officer = _officer(platform)
    bowtie = [[120.0, 28.0], [120.01, 28.01], [120.01, 28.0], [120.0, 28.01], [120.0, 28.0]]
    no_consent = {k: v for k, v in _body().items() if k != "consent"}

    _refused(api.post("/api/v1/wearers", json=no_consent, headers=officer), 422, "invalid_request", "consent")
    _refused(
        api.post("/api/v1/wearers", json=_body(safe_zones=[{"name": "x", "ring": bowtie}]), headers=officer),
        422,
        "invalid_geometry",
        "safe_zones.0.ring",
    )
    _refused(
        api.post("/api/v1/wearers", json=_body(device_ids=["BS-1"]), headers=officer),
        422,
        "invalid_input",
        "device_ids.0",
    )
    _refused(
        api.post("/api/v1/wearers", json=_body(id_number=_wrong_check(id_number(7))), headers=officer),
        422,
        "invalid_input",
        "id_number",
    )
    _refused(api.post("/api/v1/wearers", json=_body(area_id="C2"), headers=officer), 403, "outside_area")
    wearer = _ok(api.post("/api/v1/wearers", json=_body(), headers=officer), 201)
    path = f"/api/v1/wearers/{wearer['id']}"
    both = {"zones": [{"name": "x", "lat": 28.0, "lon": 120.65, "radius_m": 50, "ring": bowtie}]}
    answer = api.put(f"{path}/safe-zones", json=both, headers=officer)
    assert answer.status_code == 422 and answer.json()["error"]["field"].startswith("zones.0")
    late = {"zones": [{"name": "x", "lat": 28.0, "lon": 120.65, "radius_m": 50, "hours": ["20:00-26:00"]}]}
    _refused(
        api.put(f"{path}/safe-zones", json=late, headers=officer), 422, "invalid_geometry", "zones.0.hours.0"
    )
    bad_phone = {"id_number": id_number(5), "name": "G", "relation": "son", "phone": "12ab"}
    _refused(api.post(f"{path}/guardians", json=bad_phone, headers=officer), 422, "invalid_request", "phone")


def test_an_sos_becomes_an_alert_at_the_wearers_station_texted_to_the_guardian(
    api: TestClient,  # noqa: F811
    platform: Platform,  # noqa: F811
) -> None:
    seed_city(platform.session_factory)
    records = Records()
    platform.rules.evaluate(records([{"ts": at(0)}]), at(0))  # the facts are loaded before the enrolment
    officer = _officer(platform)
    wearer = _ok(api.post("/api/v1/wearers", json=_body(), headers=officer), 201)

    # Enrolling announced RegistryChanged("wearers"): the rules see the new wearer at once.
    sos = {"kind": "alarm", "subject_kind": "device", "subject": "TRK-1", "code": "sos", "ts": at(2)}
    far = {"ts": at(1), "lat": HOME[0] + 0.01, "lon": HOME[1]}
    findings = platform.rules.evaluate(records([far, sos]), at(2))
    platform.handle_findings(findings)

    alerts = {a.rule: a for a in platform.alerts.list_alerts(AlertFilter())}
    assert set(alerts) == {"wearer-sos", "wearer-left-safe-zone"}
    assert {(a.station_id, a.area_id, a.subject) for a in alerts.values()} == {
        ("S1", "C1", str(wearer["id"]))
    }
    notices = platform.alerts.pending_notices(limit=10)
    assert sorted(n.address for n in notices) == ["13900000001", "13900000001"]
    assert any("Wearer 1 pressed the SOS button at 11-22 16:" in n.body for n in notices)
    detail = _ok(api.get(f"/api/v1/wearers/{wearer['id']}", headers=officer))
    assert sorted(w["rule_kind"] for w in detail["open_warnings"]) == ["wearer_left_safe_zone", "wearer_sos"]
    assert T0.isoformat()[:10] in detail["open_warnings"][0]["first_seen_at"]


def _busy_area(platform: Platform, n: int, seen: datetime, wearer_id: int) -> None:  # noqa: F811
    """n open alerts about other subjects at the wearer's station, seen later than its own, and
    a closed one about the wearer."""
    with platform.session_factory() as s, s.begin():
        s.add_all(
            Alert(
                id=f"01BUSY{i:020d}",
                rule="door-tailgating" if i else "wearer-left-safe-zone",
                rule_kind="tailgating" if i else "wearer_left_safe_zone",
                severity="warning",
                title=f"Busy {i}",
                subject_kind="device" if i else "wearer",
                subject=f"DOOR-{i}" if i else str(wearer_id),
                dedup_key=f"busy-{i}",
                status="new" if i else "closed",
                station_id="S1",
                area_id="C1",
                first_seen_at=seen,
                last_seen_at=seen,
                created_at=seen,
                updated_at=seen,
            )
            for i in range(n + 1)
        )


def test_a_wearers_warning_shows_however_many_newer_alerts_its_area_has(
    api: TestClient,  # noqa: F811
    platform: Platform,  # noqa: F811
) -> None:
    seed_city(platform.session_factory)
    records = Records()
    platform.rules.evaluate(records([{"ts": at(0)}]), at(0))
    officer = _officer(platform)
    wearer = _ok(api.post("/api/v1/wearers", json=_body(), headers=officer), 201)
    sos = {"kind": "alarm", "subject_kind": "device", "subject": "TRK-1", "code": "sos", "ts": at(2)}
    platform.handle_findings(platform.rules.evaluate(records([sos]), at(2)))
    _busy_area(platform, 600, T0 + timedelta(hours=1), wearer["id"])

    detail = _ok(api.get(f"/api/v1/wearers/{wearer['id']}", headers=officer))
    assert [w["rule_kind"] for w in detail["open_warnings"]] == ["wearer_sos"]
