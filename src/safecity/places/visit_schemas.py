"""API request and response models of the community officer's visit list (走访核查), and of the
landlord's question which tenants have not swiped for a while (what makes such visits).

A list answer holds the tasks grouped by place (a building, or a compound where the warning
named no building) and by flat, the groups ordered by priority, and a suggested walking round
over the same places in walking order.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

OUTCOMES = "^(confirmed|explained|no_one_home|false_alarm)$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutcomeIn(_In):
    """What the officer found at the door."""

    outcome: str = Field(
        pattern=OUTCOMES,
        description="`confirmed` (the warning was right), `explained` (true, and innocent), "
        "`no_one_home` (the task stays on the list) or `false_alarm` (the warning was wrong).",
    )
    note: str | None = Field(None, max_length=1000, description="What the officer saw, in their words.")


class VisitedIn(_In):
    """Mark a flat visited."""

    on: date | None = Field(None, description="The day of the visit (YYYY-MM-DD); default: today (UTC).")


class VisitOut(BaseModel):
    """One task of the visit list: the warning it came from and what the visit found."""

    id: int = Field(description="The task's id.")
    alert_id: str = Field(description="The warning (alert) it came from: its evidence explains it.")
    rule: str = Field(description="The rule that raised the warning.")
    title: str | None = Field(description="The warning's one line for people.")
    priority: int = Field(description="1 (critical) to 4 (low), from the warning's severity.")
    status: str = Field(description="`open` (to visit, also after no one was home) or `done`.")
    community_id: str = Field(description="The community whose officer visits.")
    compound_id: str | None = Field(description="The compound.")
    building_id: str | None = Field(description="The building, if the warning named one.")
    flat_id: int | None = Field(description="The flat, if the warning named one.")
    created_at: datetime = Field(description="When the task was made (when the warning was raised).")
    outcome: str | None = Field(description="The last outcome recorded, if any.")
    note: str | None = Field(description="The officer's note with it.")
    visited_at: datetime | None = Field(description="When that outcome was recorded.")
    visited_by: str | None = Field(description="Who recorded it.")


class FlatTasks(BaseModel):
    """A flat's tasks (or, with no flat, the tasks about the building as a whole)."""

    flat_id: int | None
    number: str | None = Field(description="The flat's number; null for building-wide tasks.")
    capacity: int | None
    visited_on: date | None = Field(description="The officer's last visit to the flat.")
    tasks: list[VisitOut]


class PlaceTasks(BaseModel):
    """The tasks at one place: a building, or a compound where the warnings named no building."""

    key: str = Field(description="`building:<id>` or `compound:<id>`: what the round's stops name.")
    compound_id: str | None
    compound_name: str | None
    building_id: str | None
    building_name: str | None
    lat: float | None
    lon: float | None
    priority: int = Field(description="The highest priority (lowest number) of its tasks.")
    flats: list[FlatTasks]


class RoundStop(BaseModel):
    """A place of the suggested walking round, in walking order."""

    key: str
    order: int = Field(description="1 for the first place to walk to.")
    lat: float | None
    lon: float | None
    distance_m: float | None = Field(description="From the previous point; null where unknown.")


class WalkingRound(BaseModel):
    """The suggested round: nearest place first, then the nearest unvisited one from there."""

    start: list[float] | None = Field(
        description="[lat, lon] walked from: the officer or the community centre."
    )
    start_from: str = Field(description="`officer`, `community` or `first_place`.")
    stops: list[RoundStop]
    total_m: float = Field(description="The walk's length over the places with a position.")


class VisitListOut(BaseModel):
    """The visit list: places by priority, their flats and tasks, and a round through them."""

    places: list[PlaceTasks]
    round: WalkingRound
    open_tasks: int
    shown_tasks: int


class FlatVisitedOut(BaseModel):
    """A flat marked visited."""

    flat_id: int
    visited_on: date


class RulePrecision(BaseModel):
    """How the visits of one rule's warnings turned out."""

    rule: str
    confirmed: int
    explained: int
    no_one_home: int = Field(description="Tasks whose last visit found no one home (still open).")
    false_alarm: int
    open: int = Field(description="Tasks not visited yet.")
    precision: float | None = Field(
        description="confirmed / (confirmed + false_alarm); null until one of them is recorded."
    )


class QuietTenantOut(BaseModel):
    """An open tenant whose card has opened none of their compound's doors for a while."""

    tenancy_id: int
    flat_id: int
    flat_number: str
    name: str
    id_number: str = Field(description="Masked: 330302********1234.")
    starts_at: datetime = Field(description="Moved in.")
    last_swipe_at: datetime | None = Field(
        description="The last swipe at a door of their compound in the last 60 days; null if none."
    )
    quiet_days: int = Field(description="Whole days since that swipe (or since moving in, if none).")


__all__ = [
    "QuietTenantOut",
    "FlatTasks",
    "FlatVisitedOut",
    "OutcomeIn",
    "PlaceTasks",
    "RoundStop",
    "RulePrecision",
    "VisitListOut",
    "VisitOut",
    "VisitedIn",
    "WalkingRound",
]
