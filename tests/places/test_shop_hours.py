"""Business hours as a policy: parsing names the day at fault, and the schedule's last boundary agrees
with whether the shop is open (property-tested over any week of hours and any moment)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.places.errors import PlacesError
from safecity.places.schedule import DAYS
from safecity.places.shop_hours import as_json, is_open, last_boundary, parse_hours

WENZHOU = ZoneInfo("Asia/Shanghai")
SUNDAY_4PM = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # 16:00 in Wenzhou


def test_a_night_market_closes_after_midnight() -> None:
    hours = parse_hours({"sat": ["18:00", "02:00"]})
    saturday_11pm = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert is_open(hours, saturday_11pm)
    assert is_open(hours, saturday_11pm + timedelta(hours=2, minutes=59))  # Sunday 01:59
    assert not is_open(hours, saturday_11pm + timedelta(hours=3))  # Sunday 02:00
    assert last_boundary(hours, saturday_11pm + timedelta(hours=4)) == (
        datetime(2026, 11, 22, 2, 0, tzinfo=WENZHOU),
        True,
    )


def test_sundays_night_runs_into_monday() -> None:
    hours = parse_hours({"sun": ["20:00", "03:00"]})
    monday_1am = datetime(2026, 11, 23, 1, 0, tzinfo=WENZHOU)
    assert is_open(hours, monday_1am)
    assert last_boundary(hours, monday_1am) == (datetime(2026, 11, 22, 20, 0, tzinfo=WENZHOU), False)


def test_a_shop_open_round_the_clock_on_consecutive_days_is_never_armed_at_midnight() -> None:
    hours = parse_hours({"sat": ["00:00", "24:00"], "sun": ["00:00", "00:00"]})
    sunday_midnight = datetime(2026, 11, 22, 0, 0, tzinfo=WENZHOU)
    assert last_boundary(hours, sunday_midnight + timedelta(minutes=1)) == (sunday_midnight, False)


def test_no_hours_say_nothing_and_are_stored_in_week_order() -> None:
    assert last_boundary(parse_hours({}), SUNDAY_4PM) is None
    assert not is_open(parse_hours({"mon": None}), SUNDAY_4PM)
    assert list(as_json({"sun": ["09:00", "17:00"], "mon": None, "tue": ["08:00", "18:00"]})) == [
        "tue",
        "sun",
    ]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"funday": ["09:00", "17:00"]}, "business_hours.funday"),
        ({"mon": ["9:00", "17:00"]}, "business_hours.mon[0]"),
        ({"mon": ["09:00", "24:01"]}, "business_hours.mon[0]"),
        ({"mon": ["24:00", "08:00"]}, "business_hours.mon[0]"),
        ({"mon": ["09:00"]}, "business_hours.mon"),
        ({"mon": "09:00-17:00"}, "business_hours.mon"),
    ],
)
def test_bad_hours_name_the_day(raw: dict[str, object], field: str) -> None:
    with pytest.raises(PlacesError) as refused:
        parse_hours(raw)
    assert refused.value.field == field


clock = st.integers(0, 24 * 60 - 1).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")
week = st.dictionaries(st.sampled_from(DAYS), st.tuples(clock, clock).map(list), max_size=7)
moment = st.integers(0, 60 * 24 * 60).map(lambda m: SUNDAY_4PM + timedelta(minutes=m))


@settings(max_examples=300, deadline=None)
@given(raw=week, at=moment)
def test_the_last_boundary_agrees_with_being_open(raw: dict[str, list[str]], at: datetime) -> None:
    hours = parse_hours(raw)
    last = last_boundary(hours, at)
    if not raw:
        assert last is None
        return
    assert last is not None
    when, arms = last
    assert when <= at
    # Between the boundary and now nothing changed: the state it set is the state now.
    assert arms == (not is_open(hours, at))
    assert parse_hours(as_json(raw)) == hours
