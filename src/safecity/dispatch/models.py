"""The command centre's tables: units, incidents with their timeline, and dispatch orders (派单).

* A **unit** is a patrol car, motorcycle, foot patrol or drone with its home station, department,
  shift, status, last known position (from its `unit_fix` sightings) and crew (the accounts
  signed on to it, whose handsets work its orders). `version` goes up with
  every status change: an assignment names the version it saw, so that of two dispatchers
  assigning the same unit at once one wins and the other is told (decision 0014).
* An **incident** is what happened, where and how urgent, from a 110 call, an officer's handset,
  an escalated alert or the API; `merged_into` points a duplicate at the incident it joined.
  Every step of its life is an **incident event** (its timeline).
* An **order** is one department's part of the response: a unit or a department desk, a task from
  the run card, a deadline, and the times of each status it went through, with the report back.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.store import Base, UtcDateTime


class UnitKind(StrEnum):
    CAR = "car"
    MOTORCYCLE = "motorcycle"
    FOOT = "foot"
    DRONE = "drone"


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RETURNING = "returning"
    OFF_DUTY = "off_duty"


class IncidentStatus(StrEnum):
    OPEN = "open"  # taken, nobody sent yet
    DISPATCHED = "dispatched"  # orders out
    ON_SCENE = "on_scene"  # a unit has arrived
    CLOSED = "closed"
    MERGED = "merged"  # a duplicate, joined to another incident


class IncidentSource(StrEnum):
    CALL = "call"  # a 110 call taken at the centre
    HANDSET = "handset"  # an officer's report from the street
    ALERT = "alert"  # a warning of a rule, escalated
    API = "api"  # another system


class OrderStatus(StrEnum):
    ISSUED = "issued"
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    REPORTED = "reported"  # done: the report back is in
    CANCELLED = "cancelled"


OPEN_ORDERS = (
    OrderStatus.ISSUED.value,
    OrderStatus.ACCEPTED.value,
    OrderStatus.EN_ROUTE.value,
    OrderStatus.ON_SCENE.value,
)


class Unit(Base):
    """A unit the centre can send."""

    __tablename__ = "dispatch_units"
    __table_args__ = (Index("ix_dispatch_units_area_status", "area_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # its call sign
    kind: Mapped[str] = mapped_column(String(16))
    department: Mapped[str] = mapped_column(String(32))
    station_id: Mapped[str] = mapped_column(String(32))  # home station (an area of the registry)
    area_id: Mapped[str] = mapped_column(String(32))  # the district it covers, for reach and coverage
    home_lat: Mapped[float] = mapped_column(Float)  # the station, or a drone's launch site
    home_lon: Mapped[float] = mapped_column(Float)
    shift_start_min: Mapped[int] = mapped_column(Integer)  # local minutes after midnight
    shift_end_min: Mapped[int] = mapped_column(Integer)  # before start: the shift runs past midnight
    speed_kmh: Mapped[float | None] = mapped_column(Float)  # drones: air speed (vehicles: the road's)
    endurance_min: Mapped[float | None] = mapped_column(Float)  # drones: flight time on a charge
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)  # its tracker (unit_fix)
    status: Mapped[str] = mapped_column(String(16), default=UnitStatus.OFF_DUTY)
    status_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("dispatch_incidents.id"))
    last_lat: Mapped[float | None] = mapped_column(Float)
    last_lon: Mapped[float | None] = mapped_column(Float)
    last_fix_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    position_flag: Mapped[str | None] = mapped_column(String(64))  # why its last fix is not trusted
    crew: Mapped[list[str]] = mapped_column(JSON, default=list)  # accounts signed on (their handsets)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Incident(Base):
    """Something the centre responds to."""

    __tablename__ = "dispatch_incidents"
    __table_args__ = (
        Index("ix_dispatch_incidents_area_status", "area_id", "status"),
        Index("ix_dispatch_incidents_reported", "reported_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer)  # 1 most urgent .. 3
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.OPEN)
    source: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(200), default="")
    area_id: Mapped[str] = mapped_column(String(32))  # the station area it falls in
    description: Mapped[str] = mapped_column(Text, default="")
    caller_name: Mapped[str] = mapped_column(String(64), default="")
    caller_phone: Mapped[str] = mapped_column(String(32), default="")  # shown masked but to FULL_IDENTIFIERS
    alert_id: Mapped[str | None] = mapped_column(String(64), index=True)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the call, the report, the alert
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the first order
    arrived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the first unit on scene
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(Text, default="")
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("dispatch_incidents.id"))


class IncidentEvent(Base):
    """One step of an incident's timeline."""

    __tablename__ = "dispatch_incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("dispatch_incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(String(32))  # created, merged, order_issued, order_<status>, ...
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Order(Base):
    """One department's part of the response to an incident."""

    __tablename__ = "dispatch_orders"
    __table_args__ = (Index("ix_dispatch_orders_status_deadline", "status", "deadline_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("dispatch_incidents.id"), index=True)
    department: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("dispatch_units.id"), index=True)
    desk: Mapped[str | None] = mapped_column(String(32))  # a department desk instead of a unit
    task: Mapped[str] = mapped_column(Text)
    deadline_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.ISSUED)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    issued_by: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    en_route_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    on_scene_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    report: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    eta_s: Mapped[float | None] = mapped_column(Float)  # the road ETA when it was issued


__all__ = [
    "Incident",
    "IncidentEvent",
    "IncidentSource",
    "IncidentStatus",
    "Order",
    "OPEN_ORDERS",
    "OrderStatus",
    "Unit",
    "UnitKind",
    "UnitStatus",
]
