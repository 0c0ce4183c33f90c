"""A shop's business hours as a policy: when it is open, and the last time its schedule armed or disarmed it.

Hours are local (the city's time zone, Asia/Shanghai by default) and written as the owner says
them: `{"mon": ["08:30", "21:00"], "sat": ["10:00", "02:00"]}`. A day left out is closed all
day; a closing time at or before the opening time is after midnight (a night market);
`"24:00"` closes at midnight. Outside its hours an auto-armed shop is armed.

The schedule never fights its owner: it acts only at a boundary (opening or closing) that
came after the last change, so an owner who disarms to stay late keeps the shop disarmed
until the next opening or closing time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
MIDNIGHT = time(0, 0)


@dataclass(frozen=True, slots=True)
class Opening:
    """One day's opening: from `opens` to `closes` minutes after that day's midnight (may pass 1440)."""

    opens_min: int
    closes_min: int


BusinessHours = dict[str, Opening]


def _minutes(text: Any, where: str) -> int:
    if not isinstance(text, str) or not _CLOCK.match(text):
        raise ValueError(f"{where}: {text!r} is not a time of day as HH:MM (00:00 to 24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def parse_hours(raw: dict[str, Any]) -> BusinessHours:
    """Business hours from their JSON form; ValueError names the day and what is wrong."""
    unknown = sorted(set(raw) - set(DAYS))
    if unknown:
        raise ValueError(f"unknown days {unknown}; days are {', '.join(DAYS)}")
    hours: BusinessHours = {}
    for day, span in raw.items():
        if span is None:
            continue  # closed that day, said explicitly
        if not isinstance(span, list | tuple) or len(span) != 2:
            raise ValueError(f"{day}: give [opening, closing] as two HH:MM times, or null for closed")
        opens, closes = _minutes(span[0], f"{day}[0]"), _minutes(span[1], f"{day}[1]")
        if opens == 24 * 60:
            raise ValueError(f"{day}[0]: a shop cannot open at 24:00")
        if closes == opens:
            raise ValueError(
                f"{day}: opening and closing at the same time; leave the day out if it is closed"
            )
        # Closing at or before opening means after midnight, within 24 hours of opening.
        hours[day] = Opening(opens, closes if closes > opens else closes + 24 * 60)
    return hours


def as_json(hours: BusinessHours) -> dict[str, list[str]]:
    """The stored (and shown) form of parsed hours, days in week order."""

    def clock(minutes: int) -> str:
        minutes = minutes if minutes <= 24 * 60 else minutes - 24 * 60
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return {day: [clock(o.opens_min), clock(o.closes_min)] for day in DAYS if (o := hours.get(day))}


def _spans(hours: BusinessHours, around: date, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Opening spans (aware, UTC-comparable) of the days from a week before `around` to the day after."""
    spans = []
    for back in range(8, -2, -1):
        day = around - timedelta(days=back)
        opening = hours.get(DAYS[day.weekday()])
        if opening is None:
            continue
        midnight = datetime.combine(day, MIDNIGHT, tzinfo=tz)
        spans.append(
            (
                midnight + timedelta(minutes=opening.opens_min),
                midnight + timedelta(minutes=opening.closes_min),
            )
        )
    return spans


def is_open(hours: BusinessHours, at: datetime, tz: ZoneInfo) -> bool:
    """Whether the shop is within its business hours at `at` (aware)."""
    local = at.astimezone(tz)
    return any(start <= at < end for start, end in _spans(hours, local.date(), tz))


def last_boundary(hours: BusinessHours, at: datetime, tz: ZoneInfo) -> tuple[datetime, bool] | None:
    """The latest opening or closing at or before `at`, and whether it arms (closing) or disarms.

    None when the shop has no hours at all (the schedule has nothing to say). Looks back a week,
    which always holds a boundary when any day has hours.
    """
    boundaries = []
    for start, end in _spans(hours, at.astimezone(tz).date(), tz):
        boundaries += [(start, False), (end, True)]
    past = [b for b in boundaries if b[0] <= at]
    if not past:
        return None
    # Overlapping spans (a night running into the next opening) are open throughout: an arming
    # boundary inside another span does not arm.
    when, arms = max(past, key=lambda b: (b[0], not b[1]))
    if arms and is_open(hours, when, tz):
        return when, False
    return when, arms


__all__ = ["DAYS", "BusinessHours", "Opening", "as_json", "is_open", "last_boundary", "parse_hours"]
