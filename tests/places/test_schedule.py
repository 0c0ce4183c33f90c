"""Weekly local hours: windows past midnight, all-day, week wrap, and errors naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from safecity.places.errors import PlacesError
from safecity.places.schedule import LOCAL_TZ, WeeklyHours

# Monday 7 December 2026, 22:30 in Wenzhou is 14:30 UTC.
MON_2230 = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """Local time on the day `day` days after Monday 7 December 2026."""
    return datetime(2026, 12, 7 + day, hour, minute, tzinfo=LOCAL_TZ)


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    night = WeeklyHours.parse({"mon": [["22:00", "06:00"]]}, field="armed_hours")
    assert night.covers(MON_2230)
    assert night.covers(local(1, 5, 59))  # Tuesday early morning
    assert not night.covers(local(1, 6, 0))
    assert not night.covers(local(0, 21, 59))
    assert not night.covers(local(1, 22, 30))  # Tuesday night has no window


def test_sundays_night_runs_into_monday_and_all_day_windows() -> None:
    sunday = WeeklyHours.parse({"sun": [["20:00", "02:00"]]}, field="h")
    assert sunday.covers(local(0, 1, 0))  # Monday 01:00: Sunday's window, a week back
    assert not sunday.covers(local(0, 3, 0))
    always = WeeklyHours.parse({d: [["00:00", "24:00"]] for d in ("mon", "tue")}, field="h")
    assert always.covers(local(0, 0, 0)) and always.covers(local(1, 23, 59))
    assert not always.covers(local(2, 12, 0))
    assert WeeklyHours.parse(None, field="h").empty


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"monday": [["22:00", "06:00"]]}, "h.monday"),
        ({"mon": [["25:00", "06:00"]]}, "h.mon[0]"),
        ({"mon": [["22:00"]]}, "h.mon[0]"),
        ({"mon": "22:00-06:00"}, "h.mon"),
        ({"tue": [["08:00", "12:00"], ["24:00", "01:00"]]}, "h.tue[1]"),
        (["mon"], "h"),
    ],
)
def test_bad_hours_are_refused_naming_where(value: object, field: str) -> None:
    with pytest.raises(PlacesError) as caught:
        WeeklyHours.parse(value, field="h")  # type: ignore[arg-type]
    assert caught.value.field == field
