"""The road network on small hand-made maps: one-way streets, turn restrictions, cut-off pieces,
snapping and its refusals, time bands and routes."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from safecity.dispatch.network import RoadNetwork, Unsnappable
from safecity.dispatch.roads import Band, Restriction, RoadClass, RoadData, Speeds
from tests.dispatch.roadkit import BAND, place, position, roads

# A 3 x 3 block of junctions, 100 m apart:   6 - 7 - 8
#                                            |   |   |
#                                            3 - 4 - 5
#                                            |   |   |
#                                            0 - 1 - 2
SQUARE = [position(i, j) for j in range(3) for i in range(3)]
ROWS = [
    (0, 1, 10, False),
    (1, 2, 11, False),
    (3, 4, 12, False),
    (4, 5, 13, False),
    (6, 7, 14, False),
    (7, 8, 15, False),
]
COLS = [
    (0, 3, 20, False),
    (3, 6, 21, False),
    (1, 4, 22, False),
    (4, 7, 23, False),
    (2, 5, 24, False),
    (5, 8, 25, False),
]


def segment(data: RoadData, a: int, b: int) -> int:
    found = np.flatnonzero((data.seg_from == a) & (data.seg_to == b))
    assert len(found) == 1, (a, b)
    return int(found[0])


def seconds_between(net: RoadNetwork, a: tuple[int, int], b: tuple[int, int]) -> float:
    """Seconds from the start of segment a to the start of segment b."""
    d = net.data
    return net.eta(place(net, segment(d, *a), 0.0), place(net, segment(d, *b), 0.0), BAND)


def test_a_one_way_street_is_driven_one_way_only() -> None:
    links = [*ROWS, *COLS]
    links[ROWS.index((3, 4, 12, False))] = (3, 4, 12, True)  # 3 -> 4 only
    net = RoadNetwork(roads(SQUARE, links))
    hop = 100.0 / (30 / 3.6)  # a residential block at night
    free = RoadNetwork(roads(SQUARE, [*ROWS, *COLS]))
    # 3 -> 4 is one block either way; 4 -> 3 must go round the block (4 -> 1 -> 0 -> 3 or via 7, 6).
    assert seconds_between(net, (3, 6), (4, 7)) == pytest.approx(hop, rel=1e-3)
    assert seconds_between(free, (4, 7), (3, 6)) == pytest.approx(hop, rel=1e-3)
    assert seconds_between(net, (4, 7), (3, 6)) == pytest.approx(3 * hop, rel=1e-3)
    with pytest.raises(AssertionError):
        segment(net.data, 4, 3)  # no such segment was made


def test_a_banned_left_turn_makes_the_journey_go_round() -> None:
    hop = 100.0 / (30 / 3.6)
    free = RoadNetwork(roads(SQUARE, [*ROWS, *COLS]))
    # Heading east on 3 -> 4, left (north) onto 4 -> 7 is one turn.
    assert seconds_between(free, (3, 4), (7, 8)) == pytest.approx(2 * hop, rel=1e-3)
    banned = RoadNetwork(roads(SQUARE, [*ROWS, *COLS], restrictions=(Restriction(12, 4, 23, only=False),)))
    assert banned.report.restrictions_applied == 1
    assert banned.report.split_junctions == 1
    # Now: on to 5, up to 8 (then 8 is where 7 -> 8 ends: 7 -> 8 starts at 7, so back to 7 first).
    slower = seconds_between(banned, (3, 4), (7, 8))
    assert slower > 2 * hop
    # Coming from the south (1 -> 4) the turn onto 4 -> 7 is straight on and still allowed.
    assert seconds_between(banned, (1, 4), (7, 8)) == pytest.approx(2 * hop, rel=1e-3)


def test_only_straight_on_forbids_every_other_way_out() -> None:
    free = RoadNetwork(roads(SQUARE, [*ROWS, *COLS]))
    net = RoadNetwork(roads(SQUARE, [*ROWS, *COLS], restrictions=(Restriction(12, 4, 13, only=True),)))
    hop = 100.0 / (30 / 3.6)
    d = net.data
    at_4 = place(net, segment(d, 3, 4), 1.0)  # arrived at 4 from the west
    south_of_4 = place(net, segment(d, 4, 1), 0.5)
    assert free.eta(at_4, south_of_4, BAND) == pytest.approx(0.5 * hop, rel=1e-3)
    # Turning right (south) is not allowed: on to 5, turn round there, back to 4 and south.
    assert net.eta(at_4, south_of_4, BAND) == pytest.approx(2.5 * hop, rel=1e-3)
    assert net.eta(at_4, place(net, segment(d, 4, 5), 0.5), BAND) == pytest.approx(0.5 * hop, rel=1e-3)


def test_a_piece_cut_off_from_the_rest_is_reported_and_never_snapped_to() -> None:
    far = [position(10, 10), position(11, 10)]
    data = roads([*SQUARE, *far], [*ROWS, *COLS, (9, 10, 30, False)])
    net = RoadNetwork(data)
    report = net.report
    assert report.components == 2
    assert report.cut_off_nodes == 2 and report.cut_off_segments == 2
    assert report.routable_nodes == 9
    # A point on the cut-off road snaps to the main piece instead, however far that is.
    with pytest.raises(Unsnappable) as refused:
        net.snap(*position(10.5, 10))
    assert refused.value.distance_m > 900
    assert "m from the nearest road" in str(refused.value)


def test_a_dead_end_one_way_street_is_cut_off_but_a_place_on_its_twin_is_reached() -> None:
    # 4 -> 9 is one-way into a node with no way out: 9 is a piece of its own.
    data = roads([*SQUARE, position(1, 3)], [*ROWS, *COLS, (7, 9, 40, True)])
    net = RoadNetwork(data)
    assert net.report.cut_off_nodes == 1
    assert net.report.components == 2
    spur = segment(data, 7, 9)
    assert not net._routable[spur]


def test_snapping_finds_the_nearest_point_on_a_road_and_refuses_points_at_sea() -> None:
    net = RoadNetwork(roads(SQUARE, [*ROWS, *COLS]))
    lat, lon = position(0.5, 0.2)  # 20 m north of the middle of 0 - 1
    spot = net.snap(lat, lon)
    assert spot.distance_m == pytest.approx(20.0, abs=0.5)
    assert {int(net.data.seg_from[spot.segment]), int(net.data.seg_to[spot.segment])} == {0, 1}
    assert spot.fraction == pytest.approx(0.5, abs=0.01)
    with pytest.raises(Unsnappable, match=r"is 1,[0-9]{3} m from the nearest road"):
        net.snap(*position(1, 13))
    assert net.snap(*position(1, 4.5), max_m=300.0).distance_m == pytest.approx(250.0, abs=1.0)


def test_travel_is_slower_at_peak_than_at_night_and_posted_limits_cap_the_class_speed() -> None:
    net = RoadNetwork(roads(SQUARE, [*ROWS, *COLS], road_class=RoadClass.PRIMARY))
    a, b = place(net, 0, 0.0), place(net, 5, 0.5)
    night, day, peak = (net.eta(a, b, band) for band in (Band.NIGHT, Band.DAY, Band.PEAK))
    assert night < day < peak
    speeds = Speeds()
    assert speeds.band_at(datetime(2026, 12, 7, 0, 30, tzinfo=UTC)) == Band.PEAK  # 08:30 in Wenzhou
    assert speeds.band_at(datetime(2026, 12, 7, 18, 0, tzinfo=UTC)) == Band.NIGHT  # 02:00
    with pytest.raises(ValueError, match="timezone-aware"):
        speeds.band_at(datetime(2026, 12, 7, 12, 0))
    secs = speeds.seconds(np.array([1000.0, 1000.0]), np.array([2, 2]), np.array([np.nan, 30.0]), Band.NIGHT)
    assert secs[0] == pytest.approx(1000 / (55 / 3.6))
    assert secs[1] == pytest.approx(1000 / (30 / 3.6))


def test_a_route_draws_the_roads_it_takes() -> None:
    net = RoadNetwork(roads(SQUARE, [*ROWS, *COLS]))
    origin, dest = net.snap(*position(0, 0.5)), net.snap(*position(2, 1.5))
    route = net.route(origin, dest, BAND)
    assert route is not None
    assert route.coords[0] == pytest.approx((origin.snapped_lat, origin.snapped_lon))
    assert route.coords[-1] == pytest.approx((dest.snapped_lat, dest.snapped_lon))
    assert route.metres == pytest.approx(300.0, rel=0.01)  # 50 up, 200 across, 50 up
    assert math.isclose(route.seconds, net.eta(origin, dest, BAND), rel_tol=1e-9)


def test_units_are_ranked_by_one_search_whatever_their_number() -> None:
    net = RoadNetwork(roads(SQUARE, [*ROWS, *COLS]))
    incident = net.snap(*position(2, 2))
    reach = net.times_to(incident, BAND)
    units = [net.snap(*position(x, y)) for x, y in [(0, 0), (2, 1.5), (1, 2)]]
    etas = net.etas(
        incident, reach, np.array([u.segment for u in units]), np.array([u.fraction for u in units]), BAND
    )
    assert list(np.argsort(etas)) == [1, 2, 0]
    for unit, eta in zip(units, etas, strict=True):
        assert eta == pytest.approx(net.eta(unit, incident, BAND))


def test_bad_road_data_is_refused_with_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="names a node that does not exist"):
        roads(SQUARE[:2], [(0, 5, 1, False)], lengths=[10.0])
    with pytest.raises(ValueError, match="positive length"):
        roads(SQUARE[:2], [(0, 1, 1, False)], lengths=[0.0])
