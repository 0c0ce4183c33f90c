"""A shop's business hours as a policy: when it is open, and the last time its schedule armed or disarmed it.

Hours are written as the owner says them, one opening a day, in the city's local time
(places.schedule, whose weekly windows they become): `{"mon": ["08:30", "21:00"], "sat":
["10:00", "02:00"]}`. A day left out (or null) is closed all day; a closing time at or before
the opening time is after midnight (a night market); `"24:00"` closes at midnight and
`["00:00", "00:00"]` is open round the clock. Outside its hours an auto-armed shop is armed.

The schedule never fights its owner: it acts only at a boundary (opening or closing) that
came after the last change, so an owner who disarms to stay late keeps the shop disarmed
until the next opening or closing time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from safecity.places.errors import PlacesError
from safecity.places.schedule import DAYS, LOCAL_TZ, WeeklyHours

FIELD = "business_hours"
_WEEK = timedelta(days=7)


def parse_hours(raw: dict[str, Any]) -> WeeklyHours:
    """Business hours from their JSON form; PlacesError names the day (`business_hours.mon`) at fault."""
    windows: dict[str, list[Any]] = {}
    for day, span in raw.items():
        if day not in DAYS:
            raise PlacesError(f"{day!r} is not a day ({', '.join(DAYS)})", field=f"{FIELD}.{day}")
        if span is None:
            continue  # closed that day, said explicitly
        if not isinstance(span, list | tuple) or len(span) != 2:
            raise PlacesError("give [opening, closing] as two HH:MM times, or null", field=f"{FIELD}.{day}")
        windows[day] = [list(span)]
    return WeeklyHours.parse(windows, field=FIELD)


def as_json(raw: dict[str, Any]) -> dict[str, list[str]]:
    """The stored (and shown) form of checked hours: open days only, in week order."""
    return {day: list(raw[day]) for day in DAYS if raw.get(day)}


def is_open(hours: WeeklyHours, at: datetime) -> bool:
    """Whether the shop is within its business hours at `at` (aware)."""
    return hours.covers(at)


def last_boundary(hours: WeeklyHours, at: datetime) -> tuple[datetime, bool] | None:
    """The latest opening or closing at or before `at`, and whether it arms (a closing) or disarms.

    None when the shop has no hours (the schedule has nothing to say). Windows are minutes from
    Monday 00:00 local and may run into the next week, so this week's and last week's are looked at.
    """
    if hours.empty:
        return None
    local = at.astimezone(LOCAL_TZ)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    boundaries = []
    for week in (monday - _WEEK, monday):
        for start, end in hours.windows:
            boundaries += [(week + timedelta(minutes=start), False), (week + timedelta(minutes=end), True)]
    past = [b for b in boundaries if b[0] <= at]
    # An opening at the very minute another window closes wins (open without a break).
    when, arms = max(past, key=lambda b: (b[0], not b[1]))
    # A closing inside another window (overlapping hours) leaves the shop open.
    return (when, False) if arms and hours.covers(when) else (when, arms)


__all__ = ["FIELD", "as_json", "is_open", "last_boundary", "parse_hours"]
