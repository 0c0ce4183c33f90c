"""Weekly local hours: when an alarm zone is armed, when a shop is open.

Written as people say them, in the city's local time (China Standard Time, UTC+8 all year: no
daylight saving, so a fixed offset is exact): `{"mon": [["22:00", "06:00"]], "sat": [...]}`.
A window whose end is at or before its start runs past midnight into the next day and belongs to
the day it starts on (Monday's 22:00-06:00 covers Tuesday 05:00). "24:00" ends a day. A day left
out has no window.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from safecity.places.errors import PlacesError

LOCAL_TZ = timezone(timedelta(hours=8), "CST")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_DAY_MIN = 24 * 60
_WEEK_MIN = 7 * _DAY_MIN


def _minutes(text: object, *, field: str) -> int:
    if not isinstance(text, str) or not _CLOCK.match(text):
        raise PlacesError(f"{text!r} is not a time of day HH:MM (00:00-24:00)", field=field)
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Windows of the week as (start, end) minutes from Monday 00:00 local; an end may pass Sunday."""

    windows: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, value: Mapping[str, Any] | None, *, field: str) -> WeeklyHours:
        """Read `{"mon": [["HH:MM", "HH:MM"], ...], ...}`, naming the field of anything wrong."""
        if value is None:
            return cls(())
        if not isinstance(value, Mapping):
            raise PlacesError('weekly hours are an object like {"mon": [["22:00", "06:00"]]}', field=field)
        windows: list[tuple[int, int]] = []
        for day, spans in value.items():
            if day not in DAYS:
                raise PlacesError(f"{day!r} is not a day ({', '.join(DAYS)})", field=f"{field}.{day}")
            if not isinstance(spans, list):
                raise PlacesError("a day's hours are a list of [start, end] pairs", field=f"{field}.{day}")
            for n, span in enumerate(spans):
                where = f"{field}.{day}[{n}]"
                if not isinstance(span, list | tuple) or len(span) != 2:
                    raise PlacesError("a window is a [start, end] pair", field=where)
                start, end = (_minutes(t, field=where) for t in span)
                if start == _DAY_MIN:
                    raise PlacesError("a window cannot start at 24:00", field=where)
                base = DAYS.index(day) * _DAY_MIN
                # An end at or before the start runs past midnight (22:00-06:00; 00:00-00:00 is all day).
                length = end - start if end > start else end + _DAY_MIN - start
                windows.append((base + start, base + start + length))
        return cls(tuple(sorted(windows)))

    def covers(self, when: datetime) -> bool:
        """Whether an aware time falls in one of the windows (local time)."""
        local = when.astimezone(LOCAL_TZ)
        minute = local.weekday() * _DAY_MIN + local.hour * 60 + local.minute
        # Sunday's windows past midnight end in next week's Monday: look a week back too.
        return any(s <= m < e for s, e in self.windows for m in (minute, minute + _WEEK_MIN))

    @property
    def empty(self) -> bool:
        """No window at all."""
        return not self.windows


__all__ = ["DAYS", "LOCAL_TZ", "WeeklyHours"]
