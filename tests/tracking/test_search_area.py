"""The missing-person search area: rings from lost-person statistics, cut to how far one could go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from safecity.core.geo import distance_m
from safecity.tracking.search_area import DEMENTIA, bearing_deg, search_area

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_a_report_minutes_after_the_last_fix_gives_a_small_area() -> None:
    area = search_area([T0], [28.0], [120.6], now=T0 + timedelta(minutes=5))
    assert area.reach_m == pytest.approx(1.4 * 300 + 50)
    assert [r.radius_m for r in area.rings] == [pytest.approx(470.0)] * 3
    assert area.speed_mps is None and area.heading_deg is None


def test_a_report_the_next_morning_gives_the_statistical_rings() -> None:
    area = search_area([T0], [28.0], [120.6], now=T0 + timedelta(hours=12))
    assert [(r.share, r.radius_m) for r in area.rings] == list(DEMENTIA)
    assert area.elapsed_s == 12 * 3600


def test_a_wearer_on_a_bus_could_have_gone_further_than_a_walk() -> None:
    # Three fixes a minute apart, 600 m apart each, heading north: 10 m/s.
    lats = [28.0, 28.0 + 600 / 111_195, 28.0 + 1200 / 111_195]
    ts = [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    area = search_area(ts, lats, [120.6] * 3, now=ts[-1] + timedelta(minutes=10))
    assert area.speed_mps == pytest.approx(10.0, rel=0.01)
    assert area.heading_deg == pytest.approx(0.0, abs=0.5)
    assert area.reach_m == pytest.approx(10.0 * 600 + 50, rel=0.01)
    assert area.rings[0].radius_m == 800.0  # the statistics are tighter than the reach
    assert (area.lat, area.lon) == (lats[-1], 120.6)


def test_standing_still_has_no_heading_and_old_fixes_do_not_count() -> None:
    ts = [T0 - timedelta(hours=2), T0, T0 + timedelta(minutes=10)]
    lats = [27.9, 28.0, 28.0 + 5 / 111_195]  # the first is two hours older: not recent
    area = search_area(ts, lats, [120.6] * 3, now=T0 + timedelta(minutes=20))
    assert area.speed_mps is not None and area.speed_mps < 0.3
    assert area.heading_deg is None


def test_bearing_points_east_and_the_answer_is_plain_json() -> None:
    assert bearing_deg(28.0, 120.0, 28.0, 120.1) == pytest.approx(90.0, abs=0.1)
    assert distance_m(28.0, 120.0, 28.0, 120.1) > 9_000
    shown = search_area([T0], [28.0], [120.6], now=T0 + timedelta(hours=1)).as_dict()
    assert shown["last_fix_at"] == T0.isoformat() and shown["rings"][0] == {"share": 0.5, "radius_m": 800}


def test_no_fix_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least one fix"):
        search_area([], [], [], now=T0)


def test_a_slow_walk_that_keeps_going_has_a_heading() -> None:
    # 111 m every ten minutes, north: slow, but a direction all the same (220 m net in 20 minutes).
    ts = [T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)]
    lats = [28.0, 28.001, 28.002]
    area = search_area(ts, lats, [120.6] * 3, now=ts[-1] + timedelta(minutes=30))
    assert area.heading_deg == pytest.approx(0.0, abs=0.5)
