"""API request and response models of missing-person reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from safecity.core.clock import UtcTime


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MissingIn(_In):
    """A wearer reported missing: what the reporter knows."""

    circumstances: str = Field(
        min_length=1,
        max_length=2000,
        description="What they wore, where they were going, what they said: what helps find them.",
    )
    last_seen_at: UtcTime | None = Field(
        None, description="When the reporter last saw them (left out: unknown); not in the future."
    )


class FoundIn(_In):
    """Where and when the wearer was found."""

    lat: float = Field(ge=-90, le=90, description="Where they were found (WGS 84).")
    lon: float = Field(ge=-180, le=180, description="Where they were found (WGS 84).")
    found_at: UtcTime | None = Field(None, description="When (left out: now); not before the report.")
    note: str = Field("", max_length=2000, description="Who found them, how they are.")


class WithdrawIn(_In):
    """A report taken back: they were not missing after all."""

    note: str = Field(min_length=1, max_length=2000, description="Why: home again, at a neighbour's, ...")


class FixOut(BaseModel):
    """One position of the wearer's locator."""

    ts: datetime
    lat: float
    lon: float


class FixesOut(BaseModel):
    """A wearer's fixes over a window, for the map and its time slider."""

    wearer_id: int
    start: datetime
    end: datetime
    fixes: list[FixOut] = Field(description="Oldest first.")
    truncated: bool = Field(description="Thinned to at most 5,000 points, evenly, the last always kept.")


class MissingOut(BaseModel):
    """A report with what the platform knows now: the last fix, the path of the day, the search area."""

    id: int
    wearer_id: int
    status: str
    area_id: str
    reported_at: datetime
    reported_by: str
    circumstances: str
    last_seen_at: datetime | None
    alert_id: str | None
    last_fix: FixOut | None = Field(description="The locator's last position (none if it never reported).")
    path: list[FixOut] = Field(description="Positions from 24 h before the report until now, oldest first.")
    path_truncated: bool = Field(False, description="The path was thinned to its most telling points.")
    search_area: dict[str, Any] | None = Field(
        description="Rings around the last fix (share found within, radius), reach and direction of travel."
    )
    reported_search_area: dict[str, Any] | None = Field(description="The search area as shown at the report.")
    found_at: datetime | None = None
    found_lat: float | None = None
    found_lon: float | None = None
    closed_by: str | None = None
    outcome_note: str = ""
    minutes_to_found: float | None = Field(None, description="From the report to found.")


class MissingSummary(BaseModel):
    """A report in a list."""

    id: int
    wearer_id: int
    status: str
    area_id: str
    reported_at: datetime
    found_at: datetime | None
    minutes_to_found: float | None


class MissingStats(BaseModel):
    """How quickly the caller's area finds missing wearers."""

    reports: int
    open: int
    found: int
    withdrawn: int
    median_minutes_to_found: float | None
    p90_minutes_to_found: float | None
    longest_minutes_to_found: float | None


__all__ = [
    "FixOut",
    "FixesOut",
    "FoundIn",
    "MissingIn",
    "MissingOut",
    "MissingStats",
    "MissingSummary",
    "WithdrawIn",
]
