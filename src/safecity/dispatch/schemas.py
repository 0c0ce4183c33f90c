"""Requests and answers of the dispatch use cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from safecity.core.ids import SUBJECT_FORMAT_HINTS, is_valid_subject
from safecity.core.kinds import SubjectKind
from safecity.dispatch.models import IncidentSource, OrderStatus, UnitKind, UnitStatus
from safecity.dispatch.runcards import CARDS, DEPARTMENTS


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _hhmm(value: str) -> int:
    hours, _, minutes = value.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
        raise ValueError(f"{value!r} is not a time of day such as 08:00")
    return int(hours) * 60 + int(minutes)


class UnitIn(_In):
    """A unit to register: call sign, kind, department, home station and shift."""

    id: str = Field(
        min_length=2,
        max_length=32,
        description="call sign: 2 to 32 of A-Z a-z 0-9 _ - (its unit_fix subject), e.g. P-S0101-1",
    )
    kind: UnitKind
    department: str
    station_id: str = Field(min_length=1, max_length=32)
    area_id: str = Field(min_length=1, max_length=32, description="the district it covers")
    home_lat: float = Field(ge=-90, le=90)
    home_lon: float = Field(ge=-180, le=180)
    shift_start: str = Field("00:00", description="local time, HH:MM")
    shift_end: str = Field("24:00", description="local time, HH:MM; before the start: past midnight")
    speed_kmh: float | None = Field(None, gt=0, le=200, description="drones: air speed")
    endurance_min: float | None = Field(None, gt=0, le=600, description="drones: flight time")
    device_id: str | None = Field(None, max_length=64, description="its tracker (unit_fix sightings)")

    @field_validator("id")
    @classmethod
    def _call_sign(cls, value: str) -> str:
        if not is_valid_subject(SubjectKind.UNIT, value):
            raise ValueError(f"{value!r} is not a call sign: {SUBJECT_FORMAT_HINTS[SubjectKind.UNIT]}")
        return value

    @field_validator("department")
    @classmethod
    def _department(cls, value: str) -> str:
        if value not in DEPARTMENTS:
            raise ValueError(
                f"unknown department {value!r}; the departments are {', '.join(sorted(DEPARTMENTS))}"
            )
        return value

    @field_validator("shift_start", "shift_end")
    @classmethod
    def _time_of_day(cls, value: str, info: ValidationInfo) -> str:
        if not (value == "24:00" and info.field_name == "shift_end"):
            _hhmm(value)
        return value

    def shift_minutes(self) -> tuple[int, int]:
        """(start, end) in local minutes after midnight (24:00 is 1440)."""
        end = 1440 if self.shift_end == "24:00" else _hhmm(self.shift_end)
        return _hhmm(self.shift_start), end


class UnitOut(BaseModel):
    id: str
    kind: str
    department: str
    station_id: str
    area_id: str
    status: str
    status_at: datetime
    version: int
    incident_id: int | None
    lat: float | None
    lon: float | None
    fix_at: datetime | None
    position_flag: str | None
    home_lat: float
    home_lon: float
    shift: str
    crew: list[str]
    device_id: str | None
    speed_kmh: float | None = Field(None, description="drones: air speed")
    endurance_min: float | None = Field(None, description="drones: flight time")


class StatusIn(_In):
    status: UnitStatus
    version: int | None = Field(None, description="the version seen: refused if it changed meanwhile")


class IncidentIn(_In):
    """An incident: from a 110 call, a handset report or another system."""

    kind: str
    priority: int | None = Field(None, ge=1, le=3, description="1 most urgent; default: the run card's")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str = Field("", max_length=200)
    description: str = Field("", max_length=4000)
    caller_name: str = Field("", max_length=64)
    caller_phone: str = Field("", max_length=32)
    reported_at: AwareDatetime | None = Field(None, description="when the call came in (default: now)")
    source: IncidentSource = IncidentSource.CALL

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in CARDS:
            raise ValueError(f"unknown incident type {value!r}; the types are {', '.join(sorted(CARDS))}")
        return value


class IncidentOut(BaseModel):
    id: int
    kind: str
    label: str
    priority: int
    status: str
    source: str
    lat: float
    lon: float
    address: str
    area_id: str
    description: str
    caller_name: str
    caller_phone: str  # masked but for the roles that see identifiers in full
    alert_id: str | None
    reported_at: datetime
    dispatched_at: datetime | None
    arrived_at: datetime | None
    closed_at: datetime | None
    merged_into: int | None
    possible_duplicates: list[int] = Field(default_factory=list)


class OrderOut(BaseModel):
    id: int
    incident_id: int
    department: str
    unit_id: str | None
    desk: str | None
    task: str
    status: str
    deadline_at: datetime
    late: bool
    issued_at: datetime
    accepted_at: datetime | None
    en_route_at: datetime | None
    on_scene_at: datetime | None
    reported_at: datetime | None
    report: str
    notes: list[Any]
    eta_s: float | None


class OrderUpdateIn(_In):
    status: OrderStatus
    note: str = Field("", max_length=2000)
    report: str = Field("", max_length=4000, description="the report back (with status reported)")


class Candidate(BaseModel):
    """A unit that could go, with its ETA and how it would get there."""

    unit_id: str
    kind: str
    department: str
    eta_s: float
    distance_m: float
    by_air: bool
    route: list[tuple[float, float]] = Field(default_factory=list)
    district: str | None = Field(None, description="The district the unit covers")
    coverage_now: float | None = Field(
        None, description="Its district's 5-minute coverage of past incidents now"
    )
    coverage_without: float | None = Field(None, description="The same once this unit has left")


class TimelineEntry(BaseModel):
    at: datetime
    actor: str
    what: str
    detail: dict[str, Any]


__all__ = [
    "Candidate",
    "IncidentIn",
    "IncidentOut",
    "OrderOut",
    "OrderUpdateIn",
    "StatusIn",
    "TimelineEntry",
    "UnitIn",
    "UnitOut",
]
