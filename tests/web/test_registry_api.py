"""Registry routes: bikes, stolen reports and recoveries, devices and areas, with clear JSON errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.security.roles import Role
from safecity.store import transaction
from tests.authn import mint
from tests.web.conftest import admin, register_device

OWNER_ID = "11010519491231002X"  # GB 11643's own worked example (check digit X)
BIKE = {
    "tag_id": "00a1b2c3d4",
    "frame_number": "WZ-2026-000123",
    "model": "Yadea G5",
    "colour": "red",
    "owner_id_number": OWNER_ID,
    "owner_name": "Zhang Wei",
    "owner_phone": "13800138000",
}
STOLEN = {"reported_by": "owner", "basis": "report 2026-1122-0042", "owner": "officer-12"}


def error_of(answer: Any, status: int) -> dict[str, Any]:
    """The error envelope of an answer that must have this status."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert {"code", "message", "field"} <= set(error) and error["message"]
    return error


def ids(answer: Any) -> list[Any]:
    """The ids of the items a list route answered."""
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()]


def field_name(error: dict[str, Any]) -> str:
    """The body field an error names, without the location prefix FastAPI adds ("body.")."""
    return str(error["field"]).rsplit(".", 1)[-1]


@pytest.fixture
def bike(api: TestClient) -> dict[str, Any]:
    """A bike registered through the API."""
    answer = api.post("/api/v1/bikes", json=BIKE)
    assert answer.status_code == 201, answer.text
    registered: dict[str, Any] = answer.json()
    return registered


def test_registering_a_bike_answers_201_with_the_owner_masked(api: TestClient) -> None:
    answer = api.post("/api/v1/bikes", json=BIKE)
    assert answer.status_code == 201
    bike = answer.json()
    assert bike["owner"]["id_number"] == "110105********002X"
    assert bike["owner"]["phone"] == "138****8000"
    assert OWNER_ID not in answer.text
    assert (bike["tag_id"], bike["status"], bike["owner"]["name"]) == (
        "00A1B2C3D4",
        "registered",
        "Zhang Wei",
    )
    assert bike["registered_at"].startswith("2026-11-22T08:00:00")


def test_registering_a_fitted_tag_again_is_409_naming_the_tag(api: TestClient, bike: dict[str, Any]) -> None:
    answer = api.post("/api/v1/bikes", json={**BIKE, "tag_id": "00A1B2C3D4", "frame_number": "OTHER-1"})
    error = error_of(answer, 409)
    assert (error["code"], error["field"]) == ("Conflict", "tag_id")


def test_registering_a_known_frame_again_is_409_naming_the_frame(
    api: TestClient, bike: dict[str, Any]
) -> None:
    error = error_of(api.post("/api/v1/bikes", json={**BIKE, "tag_id": "00FFFFFFFF"}), 409)
    assert error["field"] == "frame_number"


def test_bad_identity_number_is_422_naming_the_body_field(api: TestClient) -> None:
    answer = api.post("/api/v1/bikes", json={**BIKE, "owner_id_number": "110105194912310021"})
    error = error_of(answer, 422)
    assert error["field"] == "owner_id_number"
    assert "GB 11643" in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"owner_id_number": "1101051949"}, "owner_id_number"),  # too short: refused by the schema
        ({"tag_id": "ZZZZZZZZZZ"}, "tag_id"),
        ({"owner_phone": "call me"}, "owner_phone"),
        ({"colour_code": "R01"}, "colour_code"),  # unknown fields are refused, not ignored
    ],
)
def test_invalid_bike_fields_are_422_naming_the_field(
    api: TestClient, change: dict[str, str], field: str
) -> None:
    error = error_of(api.post("/api/v1/bikes", json={**BIKE, **change}), 422)
    assert field_name(error) == field


def test_bike_is_found_by_tag_and_by_id(api: TestClient, bike: dict[str, Any]) -> None:
    found = api.get("/api/v1/bikes", params={"tag": " 00a1b2c3d4 "})
    assert found.status_code == 200
    assert ids(found) == [bike["id"]]
    assert api.get("/api/v1/bikes", params={"tag": "00FFFFFFFF"}).json() == []
    assert api.get("/api/v1/bikes", params={"frame": BIKE["frame_number"]}).json()[0]["id"] == bike["id"]
    assert api.get(f"/api/v1/bikes/{bike['id']}").json() == {**bike, "owner": None}


def test_unknown_bike_is_404_with_the_envelope(api: TestClient) -> None:
    error = error_of(api.get("/api/v1/bikes/999"), 404)
    assert error["code"] == "NotFound" and "999" in error["message"]
    assert error_of(api.post("/api/v1/bikes/999/stolen", json=STOLEN), 404)["code"] == "NotFound"
    closing = api.post("/api/v1/watchlist/999/close", json={})
    assert error_of(closing, 404)["code"] == "NotFound"


def test_stolen_report_lists_the_bike_once(api: TestClient, bike: dict[str, Any]) -> None:
    answer = api.post(f"/api/v1/bikes/{bike['id']}/stolen", json=STOLEN)
    assert answer.status_code == 201
    entry = answer.json()
    assert (entry["subject"], entry["ebike_id"], entry["status"]) == ("00A1B2C3D4", bike["id"], "active")
    assert entry["expires_at"].startswith("2027-05-21")  # 180 days by default
    assert ids(api.get("/api/v1/watchlist")) == [entry["id"]]
    assert api.get(f"/api/v1/bikes/{bike['id']}").json()["status"] == "stolen"

    again = error_of(api.post(f"/api/v1/bikes/{bike['id']}/stolen", json=STOLEN), 409)
    assert again["field"] == "bike_id"


def test_stolen_report_needs_its_basis(api: TestClient, bike: dict[str, Any]) -> None:
    error = error_of(api.post(f"/api/v1/bikes/{bike['id']}/stolen", json={**STOLEN, "basis": "  "}), 422)
    assert field_name(error) == "basis"


def test_closing_an_entry_as_recovered_stops_it_once(api: TestClient, bike: dict[str, Any]) -> None:
    entry = api.post(f"/api/v1/bikes/{bike['id']}/stolen", json=STOLEN).json()
    close = f"/api/v1/watchlist/{entry['id']}/close"
    closed = api.post(close, json={"status": "recovered"})
    assert closed.status_code == 200
    assert closed.json()["status"] == "recovered"
    assert closed.json()["closed_by"].startswith("investigator-")  # the signed-in account, not a body field
    assert closed.json()["closed_at"] is not None
    assert api.get(f"/api/v1/bikes/{bike['id']}").json()["status"] == "registered"
    assert api.get("/api/v1/watchlist", params={"status": "active"}).json() == []
    assert ids(api.get("/api/v1/watchlist", params={"status": "recovered"})) == [entry["id"]]

    again = api.post(close, json={"status": "withdrawn"})
    assert error_of(again, 409)["field"] == "status"


def test_closing_as_active_is_refused(api: TestClient, bike: dict[str, Any]) -> None:
    entry = api.post(f"/api/v1/bikes/{bike['id']}/stolen", json=STOLEN).json()
    answer = api.post(f"/api/v1/watchlist/{entry['id']}/close", json={"status": "active"})
    error = error_of(answer, 422)
    assert field_name(error) == "status"


@pytest.fixture
def areas(platform: Platform) -> None:
    """A station area holding two communities."""
    with transaction(platform.session_factory) as session:
        session.add(Area(id="S1", kind="station", name="Wuma Police Station", station_id="S1"))
        session.flush()
        session.add_all(
            [
                Area(id="C1", kind="community", name="Wuma", parent_id="S1", lat=28.0, lon=120.65),
                Area(id="C2", kind="community", name="Nanhui", parent_id="S1", lat=28.01, lon=120.67),
            ]
        )


def test_areas_are_listed_and_filtered_by_kind(api: TestClient, areas: None) -> None:
    assert ids(api.get("/api/v1/areas")) == ["C1", "C2", "S1"]
    assert ids(api.get("/api/v1/areas", params={"kind": "community"})) == ["C1", "C2"]
    station = api.get("/api/v1/areas", params={"kind": "station"}).json()
    assert station == [
        {"id": "S1", "kind": "station", "name": "Wuma Police Station", "parent_id": None, "station_id": "S1"}
        | {"lat": None, "lon": None}
    ]
    error_of(api.get("/api/v1/areas", params={"kind": "planet"}), 422)


def test_devices_are_listed_and_filtered_by_kind_and_area(api: TestClient, areas: None) -> None:
    register_device(api, "BS-1", area_id="C1")
    register_device(api, "BS-2", area_id="C2")
    register_device(api, "DC-1", kind="door_controller", area_id="C1")
    listed = api.get("/api/v1/devices").json()
    assert ids(api.get("/api/v1/devices")) == ["BS-1", "BS-2", "DC-1"]
    assert all("secret" not in d and "secret_hash" not in d for d in listed)
    assert ids(api.get("/api/v1/devices", params={"kind": "rfid_station"})) == ["BS-1", "BS-2"]
    assert ids(api.get("/api/v1/devices", params={"area_id": "C1"})) == ["BS-1", "DC-1"]
    assert ids(api.get("/api/v1/devices", params={"area_id": "C1", "kind": "rfid_station"})) == ["BS-1"]


def test_device_registration_returns_the_secret_once(api: TestClient) -> None:
    answer = api.post(
        "/api/v1/devices", json={"id": "BS-7", "kind": "rfid_station", "name": "Gate"}, headers=admin(api)
    )
    assert answer.status_code == 201
    assert len(answer.json()["secret"]) >= 32
    assert answer.json()["device"] == {
        "id": "BS-7",
        "kind": "rfid_station",
        "name": "Gate",
        "lat": None,
        "lon": None,
        "area_id": None,
        "status": "active",
    }
    again = api.post(
        "/api/v1/devices", json={"id": "BS-7", "kind": "rfid_station", "name": "Gate"}, headers=admin(api)
    )
    assert error_of(again, 409)["code"] == "Conflict"


IMEI = "864717003283581"
BIND = {"protocol": "gt06", "terminal": IMEI, "utc_offset_minutes": 480}


@pytest.fixture
def tracker(api: TestClient, areas: None) -> str:
    """A tracker registered through the API in community C1."""
    register_device(api, "TRK-1", kind="tracker", area_id="C1")
    return "TRK-1"


def test_binding_a_terminal_answers_201_with_the_binding_and_no_secret(api: TestClient, tracker: str) -> None:
    answer = api.post(f"/api/v1/devices/{tracker}/terminal", json=BIND, headers=admin(api))
    assert answer.status_code == 201, answer.text
    bound = answer.json()
    assert set(bound) == {"device_id", "protocol", "terminal", "utc_offset_minutes", "registered_at"}
    assert (bound["device_id"], bound["protocol"], bound["terminal"], bound["utc_offset_minutes"]) == (
        tracker,
        "gt06",
        IMEI,
        480,
    )
    jt808 = {"protocol": "jt808", "terminal": "013511221122"}  # the offset defaults to 0, as in the registry
    answer = api.post(f"/api/v1/devices/{tracker}/terminal", json=jt808, headers=admin(api))
    assert (answer.status_code, answer.json()["utc_offset_minutes"]) == (201, 0)


def test_binding_to_an_unknown_device_is_404_naming_it(api: TestClient) -> None:
    error = error_of(api.post("/api/v1/devices/TRK-404/terminal", json=BIND, headers=admin(api)), 404)
    assert error["code"] == "NotFound" and "TRK-404" in error["message"]


def test_a_terminal_bound_already_is_409_naming_the_terminal(api: TestClient, tracker: str) -> None:
    assert api.post(f"/api/v1/devices/{tracker}/terminal", json=BIND, headers=admin(api)).status_code == 201
    register_device(api, "TRK-2", kind="tracker", area_id="C1")
    error = error_of(api.post("/api/v1/devices/TRK-2/terminal", json=BIND, headers=admin(api)), 409)
    assert (error["code"], error["field"]) == ("Conflict", "terminal")
    assert IMEI in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"protocol": "tk103"}, "protocol"),
        ({"terminal": "86471700328358"}, "terminal"),  # 14 digits: not an IMEI
        ({"terminal": "8647170032835X1"}, "terminal"),
        ({"protocol": "jt808", "terminal": "13511221122"}, "terminal"),  # 11 digits: sent as 12
        ({"utc_offset_minutes": 841}, "utc_offset_minutes"),
        ({"utc_offset_minutes": -721}, "utc_offset_minutes"),
        ({"auth_code": "x"}, "auth_code"),  # unknown fields are refused, not ignored
    ],
)
def test_invalid_terminal_fields_are_422_naming_the_field(
    api: TestClient, tracker: str, change: dict[str, Any], field: str
) -> None:
    answer = api.post(f"/api/v1/devices/{tracker}/terminal", json={**BIND, **change}, headers=admin(api))
    error = error_of(answer, 422)
    assert field_name(error) == field


def test_binding_a_terminal_to_a_device_that_is_no_tracker_is_422(api: TestClient, areas: None) -> None:
    register_device(api, "BS-1", area_id="C1")
    error = error_of(api.post("/api/v1/devices/BS-1/terminal", json=BIND, headers=admin(api)), 422)
    assert error["field"] == "device_id"


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.COMMANDER, Role.DISPATCHER])
def test_binding_a_terminal_needs_device_management(
    api: TestClient, platform: Platform, tracker: str, role: Role
) -> None:
    # These roles read devices but manage none. Only administrators manage devices, and they are
    # city-wide by role, so the use case's area check (tests/registry/test_terminals.py) cannot
    # refuse one over HTTP.
    path = f"/api/v1/devices/{tracker}/terminal"
    reader = mint(platform.security, role)  # city-wide: refused for the permission alone
    assert error_of(api.post(path, json=BIND, headers=reader), 403)["code"]
    assert api.post(path, json=BIND, headers=admin(api)).status_code == 201


@pytest.mark.parametrize("device_id", ["has space", "BS/1", "x" * 65, ""])
def test_device_with_an_invalid_id_is_422_naming_id(api: TestClient, device_id: str) -> None:
    answer = api.post(
        "/api/v1/devices", json={"id": device_id, "kind": "rfid_station", "name": "Gate"}, headers=admin(api)
    )
    error = error_of(answer, 422)
    assert field_name(error) == "id"
    assert api.get("/api/v1/devices").json() == []
