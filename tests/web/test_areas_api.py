"""A third party's city: its areas imported from GeoJSON, devices placed by position, alarms routed there.

Before this, a city not made by the generator had no way to load its districts, police stations
and communities, so every alarm went to the fallback station (issue 9, "the device contract").
"""

from __future__ import annotations

import base64
import time
from typing import Any

from fastapi.testclient import TestClient

from safecity.platform import Platform
from tests.web.conftest import admin, ndjson, read, register_device

# A small city around (28.0, 120.7): district D9 holds station area S9, which holds community C9.
SQUARE = [[120.69, 27.99], [120.71, 27.99], [120.71, 28.01], [120.69, 28.01], [120.69, 27.99]]
BIG = [[120.6, 27.9], [120.8, 27.9], [120.8, 28.1], [120.6, 28.1], [120.6, 27.9]]


def _area(
    area_id: str, kind: str, parent: str | None, ring: list[list[float]] | None, **extra: Any
) -> dict[str, Any]:
    geometry = {"type": "Polygon", "coordinates": [ring]} if ring else None
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {
            "id": area_id,
            "kind": kind,
            "name": f"{kind} {area_id}",
            "parent_id": parent,
            **extra,
        },
    }


CITY = {
    "type": "FeatureCollection",
    "features": [
        _area("C9", "community", "S9", SQUARE),
        _area("S9", "station", "D9", BIG, lat=28.005, lon=120.705),
        _area("D9", "district", None, BIG),
    ],
}


def test_a_city_imported_from_geojson_routes_its_alarms_to_its_own_station(
    api: TestClient, platform: Platform
) -> None:
    answer = api.post("/api/v1/areas/import", json=CITY, headers=admin(api))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"created": 3, "updated": 0, "devices_placed": 0}
    areas = {a["id"]: a for a in api.get("/api/v1/areas").json()}
    assert (areas["C9"]["parent_id"], areas["C9"]["station_id"]) == ("S9", "S9")

    secret = register_device(api)  # at (28.0, 120.7) with no area: inside C9
    [device] = api.get("/api/v1/devices", headers=admin(api)).json()
    assert device["area_id"] == "C9"

    bike = api.post(
        "/api/v1/bikes",
        json={
            "tag_id": "00A1B2C3D4",
            "frame_number": "F-9",
            "model": "Yadea",
            "colour": "red",
            "owner_id_number": "11010519491231002X",
            "owner_name": "Zhang Wei",
            "owner_area_id": "C9",
        },
    ).json()
    assert (
        api.post(
            f"/api/v1/bikes/{bike['id']}/stolen", json={"reported_by": "owner", "basis": "r-9"}
        ).status_code
        == 201
    )
    token = base64.b64encode(f"BS-000123:{secret}".encode()).decode()
    event = read(1, ts="2026-11-22T08:00:01Z")  # read after the theft was listed
    basic = {"Authorization": f"Basic {token}"}
    stored = api.post("/api/v1/ingest", content=ndjson([event]), headers=basic)
    assert stored.status_code == 200, stored.text
    deadline = time.monotonic() + 10
    alerts: list[dict[str, Any]] = []
    while not alerts and time.monotonic() < deadline:
        alerts = api.get("/api/v1/alerts").json()["items"]
        time.sleep(0.05)
    assert [(a["station_id"], a["area_id"]) for a in alerts] == [("S9", "C9")]

    drawn = api.get("/api/v1/city.geojson")
    assert drawn.status_code == 200
    layers = {f["properties"]["layer"] for f in drawn.json()["features"]}
    assert layers == {"district", "station_area", "community", "police_station", "base_station"}


def test_an_import_with_problems_names_each_and_imports_nothing(api: TestClient) -> None:
    bowtie = [[120.69, 27.99], [120.71, 28.01], [120.71, 27.99], [120.69, 28.01], [120.69, 27.99]]
    bad = {
        "type": "FeatureCollection",
        "features": [
            _area("D9", "district", None, BIG),
            _area("C8", "community", "NOWHERE", SQUARE),
            _area("C9", "community", "D9", bowtie),
            {"type": "Feature", "geometry": None, "properties": {"id": "x y", "kind": "city", "name": ""}},
        ],
    }
    answer = api.post("/api/v1/areas/import", json=bad, headers=admin(api))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == "features[2].geometry"
    for where in (
        "features[1].properties.parent_id",
        "features[2].geometry",
        "features[3].properties.id",
        "features[3].properties.kind",
        "features[3].properties.name",
    ):
        assert where in error["message"]
    assert "Self-intersection" in error["message"]
    assert api.get("/api/v1/areas").json() == []
    not_geojson = api.post("/api/v1/areas/import", json={"type": "Feature"}, headers=admin(api))
    assert (not_geojson.status_code, not_geojson.json()["error"]["field"]) == (422, "features")


def test_an_import_updates_areas_by_id_and_never_deletes(api: TestClient) -> None:
    assert api.post("/api/v1/areas/import", json=CITY, headers=admin(api)).status_code == 200
    renamed = {"type": "FeatureCollection", "features": [_area("C9", "community", "S9", SQUARE) | {}]}
    renamed["features"][0]["properties"]["name"] = "五马社区"
    answer = api.post("/api/v1/areas/import", json=renamed, headers=admin(api))
    assert answer.json() == {"created": 0, "updated": 1, "devices_placed": 0}
    names = {a["id"]: a["name"] for a in api.get("/api/v1/areas").json()}
    assert names == {"C9": "五马社区", "S9": "station S9", "D9": "district D9"}
