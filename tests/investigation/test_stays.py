"""Stays and moves on a path: every stay's sightings lie within the radius of its first, last long
enough, and a path that never pauses has none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from safecity.core.geo import distance_m
from safecity.investigation.stays import stays

T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def _point(minutes: float, lat: float, lon: float, device: str = "D1") -> dict[str, object]:
    return {"ts": T0 + timedelta(minutes=minutes), "lat": lat, "lon": lon, "device": device}


def test_a_night_at_home_then_a_drive_then_a_long_stop() -> None:
    path = [
        _point(0, 30.0, 120.0, "HOME"),
        _point(20, 30.0003, 120.0002, "HOME"),
        _point(45, 30.0001, 120.0001, "HOME"),  # 45 minutes at home
        _point(50, 30.02, 120.02, "ROAD"),  # a move
        _point(55, 30.05, 120.05, "SHOP"),
        _point(58, 30.0501, 120.0502, "SHOP"),  # 3 minutes: too short to be a stay
        _point(70, 30.10, 120.10, "MALL"),
        {"ts": T0 + timedelta(minutes=80), "lat": None, "lon": None, "device": "PHONE"},  # no position
        _point(95, 30.1005, 120.1003, "MALL"),
    ]
    found = stays(path)
    assert [(s.device, s.minutes, s.sightings) for s in found] == [("HOME", 45.0, 3), ("MALL", 25.0, 2)]


def test_the_same_place_in_the_morning_and_at_night_is_no_stay_in_between() -> None:
    path = [
        _point(0, 30.0, 120.0),
        _point(5, 30.0, 120.0),
        _point(600, 30.0, 120.0),
        _point(612, 30.0, 120.0),
    ]
    assert [(s.start, s.minutes) for s in stays(path)] == [(T0 + timedelta(minutes=600), 12.0)]


@given(
    st.lists(
        st.tuples(st.floats(0.01, 30), st.floats(-0.01, 0.01), st.floats(-0.01, 0.01)),
        min_size=1,
        max_size=40,
    ),
    st.floats(50, 1_000),
    st.floats(1, 60),
)
def test_every_stay_is_within_its_radius_and_lasts_long_enough(
    steps: list[tuple[float, float, float]], radius_m: float, min_minutes: float
) -> None:
    minutes, points = 0.0, []
    for gap, dlat, dlon in steps:
        minutes += gap
        points.append(_point(minutes, 30.0 + dlat, 120.0 + dlon))
    found = stays(points, radius_m=radius_m, min_minutes=min_minutes)
    for stay in found:
        inside = [p for p in points if stay.start <= p["ts"] <= stay.end]  # type: ignore[operator]
        assert len(inside) >= stay.sightings
        assert stay.minutes >= min_minutes
        assert all(
            distance_m(stay.lat, stay.lon, p["lat"], p["lon"]) <= radius_m for p in inside[: stay.sightings]
        )  # type: ignore[arg-type]
    assert [s.start for s in found] == sorted(s.start for s in found)
