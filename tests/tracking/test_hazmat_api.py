"""The hazmat routes over HTTP: the chain from production to delivery, and for each route the answer
to a wrong role (403), a wrong area (403), bad input (422 naming the field), the unknown (404) and
a conflict (409)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.web.app import create_app
from tests.authn import mint
from tests.tracking.hazmat_city import DEPOT, ROUTE, SCHOOL, TERMINAL, TRACKER, seed_areas
from tests.web.conftest import fresh_platform

BASE = "/api/v1/hazmat"


@dataclass
class World:
    officer: dict[str, str]  # community officer of C1 (manages)
    far: dict[str, str]  # community officer of C2
    patrol: dict[str, str]  # patrol officer of C1 (reads only)
    landlord: dict[str, str]  # no hazmat permission at all
    admin: dict[str, str]
    site_a: int
    site_b: int


def _ok(answer: Any, status: int = 201) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _refused(answer: Any, status: int, field: str | None = None, code: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    if field is not None:
        assert error["field"] == field, answer.text
    if code is not None:
        assert error["code"] == code, answer.text


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to the newest schema once, copied by each test (as tests/web does)."""
    data_dir = tmp_path_factory.mktemp("hazmat-schema")
    Platform.build(Settings(data_dir=data_dir)).engine.dispose()
    return data_dir / "safecity.db"


@pytest.fixture
def platform(schema: Path, tmp_path: Path) -> Platform:
    return fresh_platform(schema, tmp_path)


@pytest.fixture
def api(platform: Platform) -> Iterator[TestClient]:
    """The whole app, through its lifespan; every request names its account's headers."""
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def world(api: TestClient, platform: Platform) -> World:
    seed_areas(platform.session_factory)
    sec = platform.security
    admin = mint(sec, Role.ADMINISTRATOR)
    officer = mint(sec, Role.COMMUNITY_OFFICER, areas=("C1",), username="officer.c1")
    far = mint(sec, Role.COMMUNITY_OFFICER, areas=("C2",), username="officer.c2")
    _ok(
        api.post(
            f"{BASE}/products",
            json={"un_number": "UN1203", "name": "petrol", "hazard_class": "3", "packing_group": "II"},
            headers=admin,
        )
    )
    site = {"lat": 28.0, "licence": "L-1", "permitted_un": ["1203"]}
    a = _ok(
        api.post(f"{BASE}/sites", json={**site, "name": "A", "area_id": "C1", "lon": 120.6}, headers=officer)
    )
    b = _ok(api.post(f"{BASE}/sites", json={**site, "name": "B", "area_id": "C2", "lon": 120.7}, headers=far))
    _ok(
        api.post(
            f"{BASE}/sites/{a['id']}/movements",
            json={"un_number": "1203", "kind": "produced", "quantity": 30, "unit": "t"},
            headers=officer,
        )
    )
    return World(
        officer=officer,
        far=far,
        patrol=mint(sec, Role.PATROL_OFFICER, areas=("C1",), username="patrol.c1"),
        landlord=mint(sec, Role.LANDLORD, username="li.ming"),
        admin=admin,
        site_a=a["id"],
        site_b=b["id"],
    )


def _shipment(w: World, **over: Any) -> dict[str, Any]:
    return {
        "un_number": "1203",
        "quantity": 20,
        "unit": "t",
        "consignor_site_id": w.site_a,
        "consignee_site_id": w.site_b,
        "carrier": "温州危运",
        "plate": "浙C12345",
        "device_id": TRACKER,
        "terminal": TERMINAL,
        "route": ROUTE,
        "depart_from": "2026-11-22T08:00:00Z",
        "depart_until": "2026-11-22T09:00:00Z",
        "arrive_from": "2026-11-22T09:00:00Z",
        "arrive_until": "2026-11-22T12:00:00Z",
        **over,
    }


def test_a_shipment_goes_from_plan_to_delivery_and_delivering_twice_is_409(
    api: TestClient, world: World
) -> None:
    created = _ok(api.post(f"{BASE}/shipments", json=_shipment(world), headers=world.officer))
    sid = created["id"]
    assert created["route"] == ROUTE
    assert (
        _ok(
            api.post(
                f"{BASE}/shipments/{sid}/load", json={"quantity": 20, "unit": "t"}, headers=world.officer
            ),
            200,
        )["status"]
        == "loaded"
    )
    _ok(api.post(f"{BASE}/shipments/{sid}/depart", headers=world.officer), 200)
    read = _ok(api.get(f"{BASE}/shipments/{sid}", headers=world.patrol), 200)
    assert (read["status"], read["warnings"], read["route"]["type"]) == ("in_transit", [], "LineString")
    delivered = _ok(
        api.post(f"{BASE}/shipments/{sid}/deliver", json={"quantity": 19_990}, headers=world.far), 200
    )
    assert delivered["difference_kg"] == -10
    _refused(
        api.post(f"{BASE}/shipments/{sid}/deliver", json={"quantity": 1}, headers=world.far), 409, "status"
    )
    assert _ok(api.get(f"{BASE}/sites/{world.site_b}/stock", headers=world.far), 200) == [
        {"un_number": "1203", "product": "petrol", "quantity_kg": 19_990.0, "movements": 1}
    ]
    ledger = _ok(api.get(f"{BASE}/sites/{world.site_a}/movements", headers=world.officer), 200)
    assert [(m["kind"], m["quantity_kg"]) for m in ledger] == [("produced", 30_000), ("dispatched", -20_000)]
    count = _ok(
        api.post(
            f"{BASE}/sites/{world.site_a}/counts",
            json={"un_number": "1203", "quantity": 10_000},
            headers=world.officer,
        )
    )
    assert count["difference_kg"] == 0
    assert [s["id"] for s in _ok(api.get(f"{BASE}/shipments", headers=world.far), 200)] == [sid]


def _calls(w: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    """One valid request per route that changes something, all about site A / C1."""
    return [
        ("POST", f"{BASE}/sites", {"name": "C", "area_id": "C1", "lat": 28.0, "lon": 120.6, "licence": "L"}),
        (
            "POST",
            f"{BASE}/sites/{w.site_a}/movements",
            {"un_number": "1203", "kind": "produced", "quantity": 1},
        ),
        ("POST", f"{BASE}/sites/{w.site_a}/counts", {"un_number": "1203", "quantity": 1}),
        (
            "POST",
            f"{BASE}/zones",
            {"kind": "permitted_stop", "category": "depot", "name": "D", "area_id": "C1", "geometry": DEPOT},
        ),
        ("POST", f"{BASE}/shipments", _shipment(w)),
        ("GET", f"{BASE}/sites/{w.site_a}/stock", None),
        ("GET", f"{BASE}/sites/{w.site_a}/movements", None),
    ]


def test_every_route_refuses_a_role_without_the_permission(api: TestClient, world: World) -> None:
    wrong = []
    reads = ["/products", "/sites", "/zones", "/shipments"]
    for path in reads:
        if api.get(f"{BASE}{path}", headers=world.landlord).status_code != 403:
            wrong.append(f"landlord GET {path}")
        if api.get(f"{BASE}{path}", headers=world.patrol).status_code != 200:
            wrong.append(f"patrol GET {path}")
    writes = [(m, p, b) for m, p, b in _calls(world) if m == "POST"]
    writes += [
        ("POST", f"{BASE}/products", {"un_number": "1005", "name": "ammonia", "hazard_class": "2.3"}),
        ("POST", f"{BASE}/shipments/1/load", {"quantity": 1}),
        ("POST", f"{BASE}/shipments/1/depart", None),
        ("POST", f"{BASE}/shipments/1/deliver", {"quantity": 1}),
    ]
    for method, path, body in writes:
        answer = api.request(method, path, json=body, headers=world.patrol)
        if answer.status_code != 403 or answer.json()["error"]["code"] != "forbidden":
            wrong.append(f"patrol {method} {path}: {answer.status_code}")
    assert wrong == []


def test_every_route_about_a_place_refuses_an_officer_of_another_area(api: TestClient, world: World) -> None:
    wrong = []
    for method, path, body in _calls(world):
        answer = api.request(method, path, json=body, headers=world.far)
        if answer.status_code != 403 or answer.json()["error"]["code"] != "outside_area":
            wrong.append(f"{method} {path}: {answer.status_code} {answer.text[:120]}")
    sid = _ok(api.post(f"{BASE}/shipments", json=_shipment(world), headers=world.officer))["id"]
    for method, path, body in [
        ("POST", f"{BASE}/shipments/{sid}/load", {"quantity": 1}),
        ("POST", f"{BASE}/shipments/{sid}/depart", None),
    ]:
        answer = api.request(method, path, json=body, headers=world.far)
        if answer.status_code != 403:
            wrong.append(f"{method} {path}: {answer.status_code}")
    assert wrong == []
    assert api.get(f"{BASE}/sites", headers=world.far).json()[0]["area_id"] == "C2"  # only their own


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/products", {"un_number": "12A3", "name": "x", "hazard_class": "3"}, "un_number"),
        ("/products", {"un_number": "1203", "name": "x", "hazard_class": "3.9"}, "hazard_class"),
        ("/sites/{a}/movements", {"un_number": "1203", "kind": "produced", "quantity": -5}, "quantity"),
        ("/sites/{a}/movements", {"un_number": "1203", "kind": "adjusted", "quantity": 5}, "direction"),
        ("/sites/{a}/movements", {"un_number": "9999", "kind": "produced", "quantity": 5}, "un_number"),
        ("/sites/{a}/counts", {"un_number": "1203", "quantity": -1}, "quantity"),
        (
            "/zones",
            {
                "kind": "restricted",
                "category": "school",
                "name": "s",
                "area_id": "C1",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[120.6, 28.0], [120.61, 28.01], [120.61, 28.0], [120.6, 28.01], [120.6, 28.0]]
                    ],
                },
            },
            "geometry.ring",
        ),
        (
            "/zones",
            {
                "kind": "restricted",
                "category": "school",
                "name": "s",
                "area_id": "C1",
                "geometry": {"type": "Point", "coordinates": [120.6, 28.0]},
            },
            "geometry.type",
        ),
        (
            "/shipments",
            {"route": {"type": "LineString", "coordinates": [[120.6, 28.0]]}},
            "route.coordinates",
        ),
        ("/shipments", {"route": {"type": "Point", "coordinates": [[120.6, 28.0]]}}, "route.type"),
        ("/shipments", {"quantity": -20}, "quantity"),
        ("/shipments", {"un_number": "UN12"}, "un_number"),
        ("/shipments", {"terminal": "12345"}, "terminal"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    api: TestClient, world: World, path: str, body: dict[str, Any], field: str
) -> None:
    if path == "/shipments":
        body = _shipment(world, **body)
    status = 404 if body.get("un_number") == "9999" else 422
    answer = api.post(
        f"{BASE}{path.format(a=world.site_a)}",
        json=body,
        headers=world.admin if path == "/products" else world.officer,
    )
    _refused(answer, status, field)


def test_the_unknown_is_404_naming_what(api: TestClient, world: World) -> None:
    _refused(api.get(f"{BASE}/shipments/999", headers=world.officer), 404, "shipment_id", "not_found")
    _refused(api.get(f"{BASE}/sites/999/stock", headers=world.officer), 404, "site_id")
    _refused(
        api.post(f"{BASE}/shipments/999/load", json={"quantity": 1}, headers=world.officer),
        404,
        "shipment_id",
    )
    _refused(
        api.post(f"{BASE}/shipments", json=_shipment(world, consignee_site_id=999), headers=world.officer),
        404,
        "consignee_site_id",
    )
    _refused(
        api.post(f"{BASE}/shipments", json=_shipment(world, device_id="TRK-404"), headers=world.officer),
        404,
        "device_id",
    )
    _refused(
        api.post(
            f"{BASE}/zones",
            json={
                "kind": "restricted",
                "category": "school",
                "name": "s",
                "area_id": "C9",
                "geometry": SCHOOL,
            },
            headers=world.admin,
        ),
        404,
        "area_id",
    )


def test_registering_the_same_un_number_twice_is_409(api: TestClient, world: World) -> None:
    body = {"un_number": "1203", "name": "petrol again", "hazard_class": "3"}
    _refused(api.post(f"{BASE}/products", json=body, headers=world.admin), 409, "un_number", "conflict")
