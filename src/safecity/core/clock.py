"""Time: an injectable clock so that rules, alerts and tests never read the wall clock directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol

from pydantic import AfterValidator, AwareDatetime


class Clock(Protocol):
    """Anything that can tell the current UTC time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests and simulated time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """Return the clock's current time."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self._now += delta

    def set(self, when: datetime) -> None:
        """Jump to a given time."""
        self._now = when.astimezone(UTC)


def utc(value: datetime) -> datetime:
    """Return `value` as timezone-aware UTC; naive datetimes are refused, never guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no timezone")
    return value.astimezone(UTC)


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:00-23:59 is a valid time whose UTC is past year 9999: a 422, not a 500.
        raise ValueError("out of range once converted to UTC (years 1 to 9999)") from None


UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A time a client gives (in a schema): with its zone, and held as UTC."""


class AcceleratedClock:
    """Simulated time running `speedup` times faster than the wall clock from `start`.

    The demo runs the platform on this clock so that a simulated city at 30x speed produces
    event times the platform accepts as current, and a planted theft's alarm lands minutes
    (not hours) after it happens.
    """

    def __init__(self, start: datetime, speedup: float) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self._start = utc(start)
        self._speedup = speedup
        self._wall0 = datetime.now(UTC)

    def now(self) -> datetime:
        """The simulated now."""
        return self._start + (datetime.now(UTC) - self._wall0) * self._speedup
