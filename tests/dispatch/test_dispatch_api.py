"""The dispatch API's own answers: no road network is a 503 naming the file, bad input a 422 saying
what was wrong and where, a double assignment a 409 naming the unit."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.sim.grid import Grid
from safecity.sim.roadnet import city_roads
from safecity.web.app import create_app
from tests.authn import mint


def test_without_a_road_network_the_dispatch_answers_503_naming_the_file(tmp_path: Path) -> None:
    platform = Platform.build(Settings(data_dir=tmp_path))
    client = TestClient(create_app(platform, manage_platform=False))
    headers = mint(platform.security, Role.COMMANDER)
    answer = client.get("/api/v1/dispatch/network", headers=headers)
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "no_road_network"
    assert str(tmp_path / "city" / "roads.npz") in error["message"]
    assert "SAFECITY_DISPATCH_ROAD_NETWORK" in error["message"]
    # Once the file is there, the next question loads it.
    (tmp_path / "city").mkdir()
    city_roads(Grid.centred(64, 64), seed=1).save(tmp_path / "city" / "roads.npz")
    report = client.get("/api/v1/dispatch/network", headers=headers).json()
    assert report["routable_nodes"] == 17 * 17 and report["restrictions_applied"] > 0
    platform.engine.dispose()


def test_bad_input_is_refused_saying_what_and_where(tmp_path: Path) -> None:
    platform = Platform.build(Settings(data_dir=tmp_path))
    client = TestClient(create_app(platform, manage_platform=False))
    headers = mint(platform.security, Role.COMMANDER)
    bad_kind = client.post(
        "/api/v1/incidents", json={"kind": "ufo", "lat": 28.0, "lon": 120.7}, headers=headers
    )
    assert bad_kind.status_code == 422
    assert "unknown incident type 'ufo'" in bad_kind.text
    bad_unit = client.post(
        "/api/v1/units",
        json={
            "id": "X1",
            "kind": "tank",
            "department": "patrol",
            "station_id": "S",
            "area_id": "S",
            "home_lat": 28,
            "home_lon": 120,
        },
        headers=headers,
    )
    assert bad_unit.status_code == 422 and "kind" in bad_unit.text
    bad_shift = client.post(
        "/api/v1/units",
        json={
            "id": "X1",
            "kind": "car",
            "department": "patrol",
            "station_id": "S",
            "area_id": "S",
            "home_lat": 28,
            "home_lon": 120,
            "shift_start": "25:00",
        },
        headers=headers,
    )
    assert bad_shift.status_code == 422
    bad_status = client.post("/api/v1/orders/1", json={"status": "teleported"}, headers=headers)
    assert bad_status.status_code == 422
    for query, field in (("minutes=60", "minutes"), ("minutes=soon", "minutes"), ("demand=dogs", "demand")):
        bad_standby = client.get(f"/api/v1/dispatch/reposition?{query}", headers=headers)
        assert bad_standby.status_code == 422, query
        assert field in bad_standby.text
    platform.engine.dispose()
