"""Generating a city: determinism, counts, valid identifiers, a drawable map, reopening."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.core.ids import is_valid_id_number, is_valid_subject
from safecity.core.kinds import SubjectKind
from safecity.dispatch.roads import RoadData
from safecity.sim import City, CityMismatch, ensure_city, generate_city
from safecity.sim.city import GEOJSON_FILE, META_FILE, ROADS_FILE, TABLES
from safecity.sim.layout import split_rect
from safecity.sim.roadnet import canals
from safecity.sim.scale import SCALES


def _files(folder: Path) -> dict[str, bytes]:
    names = [META_FILE, GEOJSON_FILE, *(f"{t}.parquet" for t in TABLES)]
    return {name: (folder / name).read_bytes() for name in names}


def test_same_seed_and_scale_give_byte_identical_files(tmp_path: Path) -> None:
    generate_city(seed=5, scale="tiny", out_dir=tmp_path / "a")
    generate_city(seed=5, scale="tiny", out_dir=tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    # The road file is a zip with times in it: the same network, not the same bytes.
    a, b = (RoadData.load(tmp_path / side / ROADS_FILE) for side in ("a", "b"))
    assert a.nodes == b.nodes > 0 and a.restrictions == b.restrictions
    assert all(
        (getattr(a, f) == getattr(b, f)).all() for f in ("seg_from", "seg_to", "seg_class", "node_lat")
    )


def test_a_city_generated_before_the_road_network_gets_it_when_opened(tmp_path: Path) -> None:
    generate_city(seed=5, scale="tiny", out_dir=tmp_path)
    (tmp_path / ROADS_FILE).unlink()
    ensure_city(tmp_path, seed=5, scale="tiny")
    assert RoadData.load(tmp_path / ROADS_FILE).segments > 0


def test_another_seed_gives_another_city(tmp_path: Path, tiny_city: City) -> None:
    other = generate_city(seed=6, scale="tiny", out_dir=tmp_path)
    assert other.table("bikes")["tag_id"].to_list() != tiny_city.table("bikes")["tag_id"].to_list()


def test_tiny_city_has_the_counts_of_its_scale(tiny_city: City) -> None:
    scale = SCALES["tiny"]
    expected = {
        "districts": scale.districts,
        "stations": scale.stations,
        "communities": scale.communities,
        "base_stations": scale.base_stations,
        "police_stations": scale.stations,
        "bikes": scale.bikes,
        "people": scale.people,
    }
    assert {k: tiny_city.counts[k] for k in expected} == expected
    areas = tiny_city.table("areas")
    assert areas.height == scale.districts + scale.stations + scale.communities
    assert tiny_city.table("devices").height == scale.base_stations
    assert tiny_city.table("bikes").height == tiny_city.table("routines").height == scale.bikes
    assert tiny_city.table("people").height == scale.people


def test_city_metadata_names_seed_scale_and_a_box_around_wenzhou(tiny_city: City) -> None:
    meta = json.loads((tiny_city.out_dir / META_FILE).read_text(encoding="utf-8"))
    south, west, north, east = meta["bbox"]
    assert meta["seed"] == 11
    assert meta["scale"]["name"] == "tiny"
    assert south < 27.99 < north
    assert west < 120.70 < east


def test_area_ids_and_hierarchy_follow_the_registry_conventions(tiny_city: City) -> None:
    areas = tiny_city.table("areas")
    by_id = {row["id"]: row for row in areas.iter_rows(named=True)}
    for row in by_id.values():
        if row["kind"] == "district":
            assert re.fullmatch(r"D\d{2}", row["id"])
            assert row["parent_id"] is None
        elif row["kind"] == "station":
            assert re.fullmatch(r"S\d{4}", row["id"])
            assert row["station_id"] == row["id"]
            assert by_id[row["parent_id"]]["kind"] == "district"
            assert row["name"].endswith("派出所")
        else:
            assert re.fullmatch(r"C\d{6}", row["id"])
            assert row["station_id"] == row["parent_id"]
            assert by_id[row["parent_id"]]["kind"] == "station"
            assert row["id"][1:5] == row["station_id"][1:]
    assert len({row["name"] for row in by_id.values()}) == len(by_id)


def test_every_identity_number_is_valid_unique_and_from_wenzhou(tiny_city: City) -> None:
    people = tiny_city.table("people")
    numbers = people["id_number"].to_list()
    assert all(is_valid_id_number(n) for n in numbers)
    assert len(set(numbers)) == len(numbers)
    assert all(n.startswith("3303") for n in numbers)
    births = [date(int(n[6:10]), int(n[10:12]), int(n[12:14])) for n in numbers]
    assert all(date(1940, 1, 1) <= b <= date(2010, 1, 1) for b in births)
    # The sequence code is odd for men (GB 11643).
    assert all((int(n[16]) % 2 == 1) == male for n, male in zip(numbers, people["male"], strict=True))


def test_every_tag_plate_and_device_id_is_a_valid_subject(tiny_city: City) -> None:
    bikes = tiny_city.table("bikes")
    tags = bikes["tag_id"].to_list()
    assert all(re.fullmatch(r"[0-9A-F]{10}", t) and is_valid_subject(SubjectKind.TAG, t) for t in tags)
    assert all(is_valid_subject(SubjectKind.PLATE, p) for p in bikes["plate"])
    devices = tiny_city.table("devices")["id"].to_list()
    assert all(re.fullmatch(r"BS-\d{6}", d) and is_valid_subject(SubjectKind.DEVICE, d) for d in devices)
    for column in ("tag_id", "plate", "frame_number"):
        assert bikes[column].n_unique() == bikes.height


def test_bikes_have_owners_and_routines_with_plausible_habits(tiny_city: City) -> None:
    bikes, people, routines = (tiny_city.table(t) for t in ("bikes", "people", "routines"))
    assert set(bikes["owner_id"]) <= set(people["person_id"])
    assert set(routines["purpose"]) <= {"work", "school", "market", "delivery"}
    assert routines["speed_kmh"].min() >= 12
    assert routines["speed_kmh"].max() <= 25
    assert (routines["depart_am_s"] < routines["depart_pm_s"]).all()
    assert ((routines["home_x"] != routines["dest_x"]) | (routines["home_y"] != routines["dest_y"])).all()


def _ring_is_closed_and_counter_clockwise(ring: list[list[float]]) -> bool:
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False))
    return len(ring) >= 4 and ring[0] == ring[-1] and area2 > 0


def test_geojson_is_a_feature_collection_the_map_can_draw(tiny_city: City) -> None:
    fc = json.loads(tiny_city.geojson_path.read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection"
    south, west, north, east = tiny_city.meta["bbox"]
    layers: dict[str, int] = {}
    for feature in fc["features"]:
        assert feature["type"] == "Feature"
        props, geometry = feature["properties"], feature["geometry"]
        assert props["layer"]
        assert props["id"]
        assert props["name"]
        layers[props["layer"]] = layers.get(props["layer"], 0) + 1
        if geometry["type"] == "Polygon":
            assert all(_ring_is_closed_and_counter_clockwise(ring) for ring in geometry["coordinates"])
            points = [p for ring in geometry["coordinates"] for p in ring]
        elif geometry["type"] == "LineString":
            points = geometry["coordinates"]
            assert len(points) >= 2
        else:
            assert geometry["type"] == "Point"
            points = [geometry["coordinates"]]
        assert all(
            west - 1e-6 <= lon <= east + 1e-6 and south - 1e-6 <= lat <= north + 1e-6 for lon, lat in points
        )
    counts = tiny_city.counts
    assert layers["district"] == counts["districts"]
    assert layers["community"] == counts["communities"]
    assert layers["base_station"] == counts["base_stations"]
    assert layers["police_station"] == counts["police_stations"]
    assert layers["road"] == counts["roads"]
    assert layers["water"] == 2  # the canals, each with its bridges
    assert layers["bridge"] == sum(len(c.bridges) for c in canals(tiny_city.grid)) > 2


def test_each_base_station_stands_inside_its_community(tiny_city: City) -> None:
    areas = {row["id"]: json.loads(row["boundary"]) for row in tiny_city.table("areas").iter_rows(named=True)}
    devices = tiny_city.table("devices")
    for row in devices.iter_rows(named=True):
        ring = areas[row["area_id"]]["coordinates"][0]
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        assert min(lons) <= row["lon"] <= max(lons)
        assert min(lats) <= row["lat"] <= max(lats)
    assert devices["area_id"].n_unique() == tiny_city.counts["communities"]


def test_ensure_city_generates_once_then_reopens(city_dir: Path) -> None:
    first = ensure_city(city_dir, seed=3, scale="tiny")
    stamp = (city_dir / "bikes.parquet").stat().st_mtime_ns
    again = ensure_city(city_dir, seed=3, scale="tiny")
    assert again.meta == first.meta
    assert (city_dir / "bikes.parquet").stat().st_mtime_ns == stamp


def test_ensure_city_refuses_a_folder_holding_another_city(city_dir: Path) -> None:
    ensure_city(city_dir, seed=3, scale="tiny")
    with pytest.raises(CityMismatch, match="seed 3"):
        ensure_city(city_dir, seed=4, scale="tiny")


def test_unknown_scale_and_missing_city_are_explained(city_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown city scale 'huge'"):
        generate_city(seed=1, scale="huge", out_dir=city_dir)
    with pytest.raises(FileNotFoundError, match=r"city\.json is missing"):
        City.open(city_dir)


@settings(max_examples=60, deadline=None)
@given(w=st.integers(1, 12), h=st.integers(1, 12), data=st.data())
def test_split_rect_tiles_the_rectangle_exactly(w: int, h: int, data: st.DataObject) -> None:
    parts = data.draw(st.integers(1, w * h))
    rects = split_rect((0, 0, w, h), parts, np.random.default_rng(data.draw(st.integers(0, 2**32))))
    cover = np.zeros((w, h), dtype=int)
    for x0, y0, x1, y1 in rects:
        assert x0 < x1
        assert y0 < y1
        cover[x0:x1, y0:y1] += 1
    assert len(rects) == parts
    assert (cover == 1).all()
