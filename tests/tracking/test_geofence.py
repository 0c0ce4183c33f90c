"""Safe zones, hysteresis and route deviation against shapely and hand-made tracks."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from safecity.core.geo import distance_m
from safecity.tracking import (
    CircleZone,
    DailyWindow,
    Hysteresis,
    InvalidGeometry,
    PolygonZone,
    Route,
    RouteIndex,
    RouteWatch,
    SafeZones,
    SafeZoneWatch,
)
from safecity.tracking.plane import M_PER_DEG, east_scale

LAT, LON = 28.0, 120.65  # Wenzhou
DEG_PER_M = 1 / M_PER_DEG
seeds = st.integers(0, 2**32 - 1)


def ms(text: str) -> int:
    """Epoch milliseconds of an ISO UTC time."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def star(rng: np.random.Generator, vertices: int, size_deg: float = 0.01) -> tuple[tuple[float, float], ...]:
    """A star-shaped ring around Wenzhou: simple, and concave whenever its radii vary."""
    # Angles spread round the centre (every gap under half a turn), so the ring never crosses itself.
    angles = (np.arange(vertices) + rng.uniform(0, 0.4, vertices)) * 2 * np.pi / vertices
    radii = rng.uniform(0.2, 1.0, vertices) * size_deg
    ring = [(LON + r * math.cos(a), LAT + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)]
    return (*ring, ring[0])


def plane(zones: SafeZones, k: int, lon: np.ndarray, lat: np.ndarray) -> shapely.Geometry:
    """Points in zone k's plane (an affine map of lon/lat, so inside-ness is the same)."""
    return shapely.points((lon - zones.lon0[k]) * zones.kx[k], (lat - zones.lat0[k]) * M_PER_DEG)


def zone_plane(zones: SafeZones, k: int, ring: tuple[tuple[float, float], ...]) -> shapely.Polygon:
    xy = np.asarray(ring)
    return shapely.Polygon(
        np.c_[(xy[:, 0] - zones.lon0[k]) * zones.kx[k], (xy[:, 1] - zones.lat0[k]) * M_PER_DEG]
    )


def fixes(n: int, subject: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, subject, dtype=np.int64), np.arange(n, dtype=np.int64) * 60_000


@settings(max_examples=60, deadline=None)
@given(seed=seeds, vertices=st.integers(3, 40))
def test_inside_and_distance_agree_with_shapely_on_concave_polygons(seed: int, vertices: int) -> None:
    rng = np.random.default_rng(seed)
    ring = star(rng, vertices)
    zones = SafeZones([[PolygonZone(ring)]], exact_within_m=5_000)
    lon = LON + rng.uniform(-0.012, 0.012, 2_000)
    lat = LAT + rng.uniform(-0.012, 0.012, 2_000)
    subject, ts = fixes(2_000)
    found = zones.distances(subject, ts, lat, lon)
    polygon, points = zone_plane(zones, 0, ring), plane(zones, 0, lon, lat)
    to_edge = shapely.distance(points, polygon.exterior)
    clear = to_edge > 1e-6  # on the edge itself, in or out is a matter of rounding
    assert np.array_equal(found.inside[clear], shapely.within(points, polygon)[clear])
    np.testing.assert_allclose(np.abs(found.distance_m), to_edge, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, vertices=st.integers(3, 40), exact_m=st.sampled_from([20.0, 100.0, 300.0]))
def test_distance_is_exact_near_the_edge_and_a_bound_on_the_right_side_beyond(
    seed: int, vertices: int, exact_m: float
) -> None:
    """The box and raster shortcuts never put a fix on the wrong side or nearer than it is."""
    rng = np.random.default_rng(seed)
    ring = star(rng, vertices, size_deg=0.02)
    zones = SafeZones([[PolygonZone(ring)]], exact_within_m=exact_m)
    lon, lat = LON + rng.uniform(-0.03, 0.03, 3_000), LAT + rng.uniform(-0.03, 0.03, 3_000)
    found = zones.distances(*fixes(3_000), lat, lon).distance_m
    polygon, points = zone_plane(zones, 0, ring), plane(zones, 0, lon, lat)
    truth = shapely.distance(points, polygon.exterior) * np.where(shapely.within(points, polygon), -1, 1)
    close = np.abs(truth) < exact_m
    np.testing.assert_allclose(found[close], truth[close], atol=1e-6)
    far = ~close
    assert np.all(np.sign(found[far]) == np.sign(truth[far]))
    assert np.all(np.abs(found[far]) >= exact_m - 1e-6)
    assert np.all(np.abs(found[far]) <= np.abs(truth[far]) + 1e-6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(seed=seeds)
def test_any_valid_random_polygon_agrees_with_shapely(seed: int) -> None:
    """Points in random order, not only star-shaped rings: those that make a simple polygon."""
    rng = np.random.default_rng(seed)
    pts = [(LON + x, LAT + y) for x, y in rng.uniform(-0.01, 0.01, (int(rng.integers(3, 7)), 2))]
    ring = (*pts, pts[0])
    assume(shapely.Polygon(ring).is_valid and shapely.Polygon(ring).area > 1e-9)
    zones = SafeZones([[PolygonZone(ring)]], exact_within_m=5_000)
    lon, lat = LON + rng.uniform(-0.011, 0.011, 1_000), LAT + rng.uniform(-0.011, 0.011, 1_000)
    found = zones.distances(*fixes(1_000), lat, lon)
    polygon, points = zone_plane(zones, 0, ring), plane(zones, 0, lon, lat)
    clear = shapely.distance(points, polygon.exterior) > 1e-6
    assert np.array_equal(found.inside[clear], shapely.within(points, polygon)[clear])


@settings(max_examples=40, deadline=None)
@given(seed=seeds, offset_m=st.sampled_from([0.0, 0.001, 0.5]))
def test_points_on_and_near_edges(seed: int, offset_m: float) -> None:
    """A centimetre inside is inside, a centimetre outside is outside; on the edge is at distance 0."""
    rng = np.random.default_rng(seed)
    ring = star(rng, 12)
    zones = SafeZones([[PolygonZone(ring)]])
    polygon = zone_plane(zones, 0, ring)
    xy = np.asarray(polygon.exterior.coords)
    t = rng.uniform(0.05, 0.95, len(xy) - 1)
    along = xy[:-1] + t[:, None] * (xy[1:] - xy[:-1])
    normal = (xy[1:] - xy[:-1])[:, ::-1] * [1, -1]
    normal /= np.linalg.norm(normal, axis=1)[:, None]
    for side in (1, -1):
        p = along + side * offset_m * normal
        lon, lat = zones.lon0[0] + p[:, 0] / zones.kx[0], zones.lat0[0] + p[:, 1] / M_PER_DEG
        found = zones.distances(*fixes(len(p)), lat, lon)
        points = shapely.points(p[:, 0], p[:, 1])
        near = shapely.distance(points, polygon.exterior)
        np.testing.assert_allclose(np.abs(found.distance_m), near, atol=1e-6)
        if offset_m:
            clear = near > offset_m / 2  # not nearer another edge (a sharp corner)
            assert np.array_equal(found.inside[clear], shapely.within(points, polygon)[clear])


def test_circle_distance_is_the_great_circle_one_within_a_tenth_of_a_percent() -> None:
    zones = SafeZones([[CircleZone(LAT, LON, 300.0)]])
    rng = np.random.default_rng(3)
    lat, lon = LAT + rng.uniform(-0.03, 0.03, 500), LON + rng.uniform(-0.03, 0.03, 500)
    found = zones.distances(*fixes(500), lat, lon)
    truth = np.array([distance_m(LAT, LON, a, b) for a, b in zip(lat, lon, strict=True)]) - 300
    np.testing.assert_allclose(found.distance_m, truth, rtol=1e-3, atol=0.5)


def test_a_fix_inside_any_zone_of_its_own_subject_is_inside() -> None:
    far = CircleZone(LAT + 0.1, LON, 100.0)
    home = CircleZone(LAT, LON, 100.0)
    zones = SafeZones([[far, home], [far]])
    found = zones.distances(np.array([0, 1]), np.zeros(2, dtype=np.int64), np.full(2, LAT), np.full(2, LON))
    assert found.inside.tolist() == [True, False]
    assert found.distance_m[0] == pytest.approx(-100)


def test_zones_apply_only_in_their_local_hours_including_across_midnight() -> None:
    day = CircleZone(LAT, LON, 100.0, (DailyWindow.parse("08:00-20:00"),))
    night = CircleZone(LAT, LON, 100.0, (DailyWindow.parse("22:00-06:00"),))
    zones = SafeZones([[day], [night]])
    # Local time is UTC+8: 01:00Z is 09:00 local, 15:00Z is 23:00 local, 21:30Z is 05:30 local,
    # 22:30Z is 06:30 local.
    times = np.array(
        [ms(t) for t in ("2026-12-07T01:00", "2026-12-07T15:00", "2026-12-07T21:30", "2026-12-07T22:30")]
    )
    at_home = np.full(4, LAT), np.full(4, LON)
    assert zones.distances(np.zeros(4, dtype=np.int64), times, *at_home).watched.tolist() == [
        True,
        False,
        False,
        False,
    ]
    assert zones.distances(np.ones(4, dtype=np.int64), times, *at_home).watched.tolist() == [
        False,
        True,
        True,
        False,
    ]
    assert zones.distances(np.ones(4, dtype=np.int64), times, *at_home).inside.tolist() == [
        False,
        True,
        True,
        False,
    ]


@given(start=st.integers(0, 1439), end=st.integers(1, 1440), minute=st.integers(0, 1439))
def test_a_window_covers_the_minutes_of_its_mask(start: int, end: int, minute: int) -> None:
    window = DailyWindow(start, end)
    assert window.covers(minute) == window.minutes()[minute]
    assert window.covers(start)


@pytest.mark.parametrize(
    ("text", "message"),
    [("8-20", "not a time of day"), ("08:00", "not a window"), ("24:00-06:00", "cannot start at 24:00")],
)
def test_bad_windows_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidGeometry, match=message):
        DailyWindow.parse(text)


def jitter_track() -> tuple[np.ndarray, np.ndarray]:
    """Metres east of a 100 m circle's centre: in, jitter on the edge, well out, jitter, back in."""
    east = np.r_[
        np.full(5, 50.0), 95, 105, 98, 110, 99, 104, np.full(5, 200.0), 105, 95, 103, 97, np.full(5, 40.0)
    ]
    return np.full(len(east), LAT), LON + east / east_scale(LAT)


@pytest.mark.parametrize("cuts", [(), (7,), (3, 12, 17), tuple(range(1, 26))])
def test_jittering_track_raises_one_exit_and_one_return(cuts: tuple[int, ...]) -> None:
    lat, lon = jitter_track()
    watch = SafeZoneWatch(SafeZones([[CircleZone(LAT, LON, 100.0)]]), exit_margin_m=50, enter_margin_m=20)
    subject, ts = fixes(len(lat))
    found = []
    for part in np.split(np.arange(len(lat)), cuts):  # however the track is cut into batches
        got = watch.step(subject[part], ts[part], lat[part], lon[part])
        found += [(int(part[f]), bool(w)) for f, w in zip(got.fix, got.went_out, strict=True)]
    assert found == [(11, True), (20, False)]


def test_transitions_name_the_fix_as_the_batch_gave_it_whatever_its_order() -> None:
    lat, lon = jitter_track()
    subject, ts = fixes(len(lat))
    shuffled = np.random.default_rng(7).permutation(len(lat))
    watch = SafeZoneWatch(SafeZones([[CircleZone(LAT, LON, 100.0)]]), exit_margin_m=50, enter_margin_m=20)
    got = watch.step(subject[shuffled], ts[shuffled], lat[shuffled], lon[shuffled])
    assert shuffled[got.fix].tolist() == [11, 20]
    assert got.ts_ms.tolist() == [ts[11], ts[20]]


def test_slow_drift_out_exits_after_n_outside_fixes_in_a_row() -> None:
    east = np.array([90.0, 101, 102, 99, 101, 103, 104, 105])  # never past the 50 m margin
    watch = SafeZoneWatch(SafeZones([[CircleZone(LAT, LON, 100.0)]]), exit_margin_m=50, exit_after_fixes=3)
    got = watch.step(*fixes(8), np.full(8, LAT), LON + east / east_scale(LAT))
    assert got.fix.tolist() == [6]
    assert got.went_out.tolist() == [True]


def test_fixes_out_of_hours_neither_leave_nor_break_a_run() -> None:
    hysteresis = Hysteresis(1, exit_margin_m=50, enter_margin_m=20, exit_after_fixes=3)
    value = np.array([10.0, 10.0, 500.0, 10.0])
    watched = np.array([True, True, False, True])
    got = hysteresis.step(*fixes(4), value, watched)
    assert got.fix.tolist() == [3]


def test_subjects_are_judged_apart_in_one_unsorted_batch() -> None:
    hysteresis = Hysteresis(2, exit_margin_m=10, enter_margin_m=10)
    subject = np.array([1, 0, 1, 0, 1])
    ts = np.array([3, 2, 1, 1, 2], dtype=np.int64)
    value = np.array([-50.0, 50.0, 50.0, 5.0, -50.0])
    got = hysteresis.step(subject, ts, value)
    assert list(zip(got.subject.tolist(), got.fix.tolist(), got.went_out.tolist(), strict=True)) == [
        (0, 1, True),
        (1, 2, True),
        (1, 4, False),
    ]


def test_a_reset_subject_starts_in_again() -> None:
    hysteresis = Hysteresis(2, exit_margin_m=10, enter_margin_m=10)
    hysteresis.step(np.array([0, 1]), np.zeros(2, dtype=np.int64), np.array([50.0, 50.0]))
    hysteresis.reset(np.array([0]))
    got = hysteresis.step(np.array([0, 1]), np.ones(2, dtype=np.int64), np.array([50.0, 50.0]))
    assert got.subject.tolist() == [0]  # out again: a new exit; subject 1 was out already


def test_empty_batches_raise_nothing() -> None:
    none, nowhere = np.zeros(0, dtype=np.int64), np.zeros(0)
    zones = SafeZoneWatch(SafeZones([[CircleZone(LAT, LON, 100.0)]]))
    route = RouteWatch(RouteIndex([Route(((LON, LAT), (LON + 0.01, LAT)))]), 1)
    assert len(zones.step(none, none, nowhere, nowhere)) == 0
    assert len(route.step(none, none, none, nowhere, nowhere)) == 0


def test_watch_margins_must_be_inside_the_exact_distance() -> None:
    with pytest.raises(ValueError, match="smaller than the zones' exact_within_m"):
        SafeZoneWatch(SafeZones([[CircleZone(LAT, LON, 100.0)]], exact_within_m=40), exit_margin_m=50)
    with pytest.raises(ValueError, match="reach past"):
        RouteWatch(RouteIndex([Route(((LON, LAT), (LON + 0.01, LAT)))], reach_m=220), 1, exit_margin_m=50)


def aeqd(lat0: float, lon0: float, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthal equidistant plane around (lat0, lon0): great-circle distance and bearing kept."""
    p0, p, dl = math.radians(lat0), np.radians(lat), np.radians(lon - lon0)
    d = np.array([distance_m(lat0, lon0, a, b) for a, b in zip(lat, lon, strict=True)])
    bearing = np.arctan2(
        np.sin(dl) * np.cos(p), math.cos(p0) * np.sin(p) - math.sin(p0) * np.cos(p) * np.cos(dl)
    )
    return d * np.sin(bearing), d * np.cos(bearing)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, points=st.integers(2, 400))
def test_route_distance_matches_shapely_in_a_local_projection(seed: int, points: int) -> None:
    rng = np.random.default_rng(seed)
    path = np.cumsum(rng.normal(0, 150, (points, 2)), axis=0)  # metres, a random walk of ~150 m steps
    lon, lat = LON + path[:, 0] / east_scale(LAT), LAT + path[:, 1] * DEG_PER_M
    route = Route(tuple(zip(lon.tolist(), lat.tolist(), strict=True)), off_route_m=100)
    index = RouteIndex([route])
    flon = rng.uniform(lon.min() - 0.01, lon.max() + 0.01, 500)
    flat = rng.uniform(lat.min() - 0.01, lat.max() + 0.01, 500)
    found = index.distances(np.zeros(500, dtype=np.int64), flat, flon)
    line = shapely.LineString(np.c_[aeqd(LAT, LON, lat, lon)])
    truth = shapely.distance(shapely.points(*aeqd(LAT, LON, flat, flon)), line)
    np.testing.assert_allclose(found, truth, rtol=2e-3, atol=0.5)


def test_route_distance_beyond_reach_is_a_lower_bound_when_not_asked_exact() -> None:
    route = Route(((LON, LAT), (LON + 0.05, LAT)), off_route_m=200)
    index = RouteIndex([route])
    north = np.array([0.0, 100, 299, 301, 5_000, 50_000])
    lat, lon = LAT + north * DEG_PER_M, np.full(len(north), LON + 0.02)
    exact = index.distances(np.zeros(len(north), dtype=np.int64), lat, lon)
    bound = index.distances(np.zeros(len(north), dtype=np.int64), lat, lon, exact=False)
    np.testing.assert_allclose(exact, north, rtol=1e-3, atol=1e-6)
    assert index.reach_m == 300
    np.testing.assert_allclose(bound, np.minimum(exact, 300), rtol=1e-9)


def test_off_route_jitter_raises_one_warning_and_one_return() -> None:
    route = Route(((LON, LAT), (LON + 0.05, LAT)), off_route_m=200)
    north = np.r_[0, 10, 190, 210, 195, 205, 400, 500, 205, 195, 210, 100, 0]  # metres off the line
    lat, lon = LAT + north * DEG_PER_M, np.linspace(LON, LON + 0.04, len(north))
    watch = RouteWatch(RouteIndex([route]), 1, exit_margin_m=50, enter_margin_m=50, exit_after_fixes=3)
    vehicle, ts = fixes(len(north))
    got = watch.step(vehicle, np.zeros(len(north), dtype=np.int64), ts, lat, lon)
    # 210 and 205 are single outside fixes between inside ones; 400 is past the margin; 100 is
    # more than the margin back inside.
    assert got.fix.tolist() == [6, 11]
    assert got.went_out.tolist() == [True, False]


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        (((120.0, 28.0), (120.1, 28.0), (120.1, 28.1)), "not closed"),
        (((120.0, 28.0), (120.1, 28.0), (120.0, 28.0)), "at least 3 distinct points"),
        (((120.0, 28.0), (120.1, 28.1), (120.1, 28.0), (120.0, 28.1), (120.0, 28.0)), "Self-intersection"),
        (((120.0, 28.0), (120.1, 28.0), (120.2, 28.0), (120.0, 28.0)), "not valid|no area"),
        (((120.0, 28.0), (190.0, 28.0), (120.0, 28.1), (120.0, 28.0)), "not a longitude/latitude"),
        (((-179.9, 0.0), (179.9, 0.0), (179.9, 1.0), (-179.9, 0.0)), "antimeridian"),
    ],
)
def test_invalid_polygons_are_refused_with_what_is_wrong(
    ring: tuple[tuple[float, float], ...], message: str
) -> None:
    with pytest.raises(InvalidGeometry, match=message) as refused:
        PolygonZone(ring)
    assert refused.value.field is not None
    assert refused.value.code == "invalid_geometry"


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (((120.0, 28.0),), "at least 2 distinct points"),
        (((120.0, 28.0), (120.0, 28.0)), "at least 2 distinct points"),
        (((120.0, 28.0), (120.0, 95.0)), "not a longitude/latitude"),
    ],
)
def test_invalid_routes_are_refused_with_what_is_wrong(
    points: tuple[tuple[float, float], ...], message: str
) -> None:
    with pytest.raises(InvalidGeometry, match=message):
        Route(points)


def test_a_circle_needs_a_positive_radius() -> None:
    with pytest.raises(InvalidGeometry, match="radius must be positive"):
        CircleZone(LAT, LON, 0.0)
