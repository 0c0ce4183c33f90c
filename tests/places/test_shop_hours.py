"""Business hours as a policy: parsing names what is wrong, and the schedule's last boundary agrees with
whether the shop is open (property-tested over any week of hours and any moment)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.places.shop_hours import DAYS, as_json, is_open, last_boundary, parse_hours

WENZHOU = ZoneInfo("Asia/Shanghai")
SUNDAY_4PM = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # 16:00 in Wenzhou


def test_a_night_market_closes_after_midnight() -> None:
    hours = parse_hours({"sat": ["18:00", "02:00"]})
    saturday_11pm = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert is_open(hours, saturday_11pm, WENZHOU)
    assert is_open(hours, saturday_11pm + timedelta(hours=2, minutes=59), WENZHOU)  # Sunday 01:59
    assert not is_open(hours, saturday_11pm + timedelta(hours=3), WENZHOU)  # Sunday 02:00
    assert last_boundary(hours, saturday_11pm + timedelta(hours=4), WENZHOU) == (
        datetime(2026, 11, 22, 2, 0, tzinfo=WENZHOU),
        True,
    )
    assert as_json(hours) == {"sat": ["18:00", "02:00"]}


def test_a_shop_open_round_the_clock_on_consecutive_days_is_never_armed_at_midnight() -> None:
    hours = parse_hours({"sat": ["00:00", "24:00"], "sun": ["00:00", "24:00"]})
    sunday_midnight = datetime(2026, 11, 22, 0, 0, tzinfo=WENZHOU)
    assert last_boundary(hours, sunday_midnight + timedelta(minutes=1), WENZHOU) == (sunday_midnight, False)


def test_no_hours_say_nothing() -> None:
    assert last_boundary(parse_hours({}), SUNDAY_4PM, WENZHOU) is None
    assert not is_open(parse_hours({"mon": None}), SUNDAY_4PM, WENZHOU)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"funday": ["09:00", "17:00"]}, "unknown days"),
        ({"mon": ["9:00", "17:00"]}, "mon\\[0\\]"),
        ({"mon": ["09:00", "24:01"]}, "mon\\[1\\]"),
        ({"mon": ["24:00", "08:00"]}, "cannot open at 24:00"),
        ({"mon": ["09:00"]}, "two HH:MM"),
        ({"mon": ["09:00", "09:00"]}, "same time"),
    ],
)
def test_bad_hours_name_the_day_and_the_problem(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(raw)


clock = st.integers(0, 24 * 60 - 1).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")
week = st.dictionaries(
    st.sampled_from(DAYS),
    st.tuples(clock, clock).filter(lambda span: span[0] != span[1]).map(list),
    max_size=7,
)
moment = st.integers(0, 60 * 24 * 60).map(lambda m: SUNDAY_4PM + timedelta(minutes=m))


@settings(max_examples=300, deadline=None)
@given(raw=week, at=moment)
def test_the_last_boundary_agrees_with_being_open(raw: dict[str, list[str]], at: datetime) -> None:
    hours = parse_hours(raw)
    last = last_boundary(hours, at, WENZHOU)
    if not hours:
        assert last is None
        return
    assert last is not None
    when, arms = last
    assert when <= at
    # Between the boundary and now nothing changed: the state it set is the state now.
    assert arms == (not is_open(hours, at, WENZHOU))
    assert parse_hours(as_json(hours)) == hours
