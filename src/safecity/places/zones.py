"""Intrusion-alarm zones: the inputs of an alarm panel at a compound (a perimeter fence, a bicycle
shed, a plant room) or a shop, each armed on a weekly schedule, and what the rules know of them.

A community officer (or an administrator) registers a zone of a panel in their areas; the panel
is a registered `alarm_panel` device and names the zone in its alarms (`attrs.zone`). A zone
without armed hours is armed all the time. `ZoneFacts` is the cached view the intrusion rule
reads (`facts.source("zones")`), forgotten when places change.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, Recorder
from safecity.core.context import Context
from safecity.places.errors import PlaceConflict, PlaceNotFound, PlacesError
from safecity.places.events import PLACES, places_changed
from safecity.places.models import AlarmZone, Compound, Shop
from safecity.places.schedule import WeeklyHours
from safecity.store import transaction

PANEL_KIND = "alarm_panel"


class AlarmZoneIn(BaseModel):
    """Register an input of an alarm panel as a zone of a compound or a shop."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device_id: str = Field(max_length=64, description="The alarm panel (a registered `alarm_panel` device).")
    zone: str = Field(min_length=1, max_length=32, description="The panel's input, as its alarms name it.")
    name: str = Field(min_length=1, max_length=128, description="What it guards (北侧围墙, 车棚).")
    compound_id: str | None = Field(None, max_length=32, description="The compound it guards.")
    shop_id: int | None = Field(None, ge=1, description="Or the shop it guards.")
    armed_hours: dict[str, Any] | None = Field(
        None,
        description='Local weekly hours when it is armed, e.g. {"mon": [["22:00", "06:00"]]}; '
        "a window ending before it starts runs past midnight; left out: armed all the time.",
    )

    @model_validator(mode="after")
    def _one_place(self) -> AlarmZoneIn:
        if (self.compound_id is None) == (self.shop_id is None):
            raise ValueError("name exactly one of compound_id and shop_id")
        return self


class AlarmZoneOut(BaseModel):
    """A registered zone."""

    id: int
    device_id: str
    zone: str
    name: str
    compound_id: str | None
    shop_id: int | None
    armed_hours: dict[str, Any] | None


class Zones:
    """The alarm-zone use cases of one platform."""

    def __init__(self, session_factory: sessionmaker[Session], recorder: Recorder) -> None:
        self._sessions = session_factory
        self._recorder = recorder

    def add(self, ctx: Context, body: AlarmZoneIn, *, resource: str) -> AlarmZoneOut:
        """Register a zone of a panel guarding a compound or shop of the caller's areas."""
        WeeklyHours.parse(body.armed_hours, field="armed_hours")
        with transaction(self._sessions) as session:
            community = _community_of(session, body)
            ctx.require_area(community, what=f"community {community}")
            device = registry.get_device(session, device_id=body.device_id)
            if device is None:
                raise PlaceNotFound("device", body.device_id)
            if device.kind != PANEL_KIND:
                raise PlacesError(
                    f"device {body.device_id} is a {device.kind}, not an alarm panel", field="device_id"
                )
            taken = session.scalar(
                select(AlarmZone.id).where(AlarmZone.device_id == body.device_id, AlarmZone.zone == body.zone)
            )
            if taken is not None:
                raise PlaceConflict(
                    f"zone {body.zone} of {body.device_id} is registered already", field="zone"
                )
            zone = AlarmZone(**body.model_dump())
            session.add(zone)
            session.flush()
            places_changed(session)
            out = AlarmZoneOut.model_validate(zone, from_attributes=True)
        self._recorder.record(
            ctx, AuditEntry("places.zone_add", resource, status=201, detail={"zone": out.id})
        )
        return out

    def zones(self, ctx: Context, *, compound_id: str | None = None) -> list[AlarmZoneOut]:
        """Zones of the caller's areas (of one compound, if given)."""
        with self._sessions() as session:
            rows = [(z, _community_of(session, z)) for z in session.scalars(_zones_stmt(compound_id))]
            return [
                AlarmZoneOut.model_validate(z, from_attributes=True)
                for z, community in rows
                if ctx.reaches(community)
            ]


def _zones_stmt(compound_id: str | None) -> Any:
    stmt = select(AlarmZone).order_by(AlarmZone.id)
    return stmt if compound_id is None else stmt.where(AlarmZone.compound_id == compound_id)


def _community_of(session: Session, place: AlarmZoneIn | AlarmZone) -> str:
    if place.compound_id is not None:
        compound = session.get(Compound, place.compound_id)
        if compound is None:
            raise PlaceNotFound("compound", place.compound_id)
        return compound.community_id
    shop = session.get(Shop, place.shop_id)
    if shop is None:
        raise PlaceNotFound("shop", place.shop_id)
    return shop.community_id


class ZoneFacts:
    """Every zone with its place and schedule, loaded once and again after places change."""

    depends_on = frozenset({PLACES})

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._lock = threading.Lock()
        self._frame: pl.DataFrame | None = None
        self._hours: dict[int, WeeklyHours] = {}

    def invalidate(self) -> None:
        """Forget the zones (one was added or a place changed)."""
        with self._lock:
            self._frame = None

    def frame(self) -> pl.DataFrame:
        """One row per zone: device, zone, zone_id, zone_name, compound_id, compound_name, shop_id."""
        with self._lock:
            if self._frame is None:
                self._frame, self._hours = self._load()
            return self._frame

    def armed(self, zone_id: int, at: datetime) -> bool:
        """Whether the zone was armed at that time (no hours: always)."""
        self.frame()
        hours = self._hours.get(zone_id)
        return hours is None or hours.empty or hours.covers(at)

    def _load(self) -> tuple[pl.DataFrame, dict[int, WeeklyHours]]:
        with self._factory() as session:
            rows = session.execute(
                select(AlarmZone, Compound.name).outerjoin(Compound, Compound.id == AlarmZone.compound_id)
            ).all()
        frame = pl.DataFrame(
            [
                (z.device_id, z.zone, z.id, z.name, z.compound_id, compound_name, z.shop_id)
                for z, compound_name in rows
            ],
            schema={
                "device": pl.String,
                "zone": pl.String,
                "zone_id": pl.Int64,
                "zone_name": pl.String,
                "compound_id": pl.String,
                "compound_name": pl.String,
                "shop_id": pl.Int64,
            },
            orient="row",
        )
        # Hours were checked when the zone was registered; one spoilt by hand is armed all the time.
        hours: dict[int, WeeklyHours] = {}
        for zone, _ in rows:
            try:
                hours[zone.id] = WeeklyHours.parse(zone.armed_hours, field="armed_hours")
            except PlacesError:
                continue
        return frame, hours


__all__ = ["PANEL_KIND", "AlarmZoneIn", "AlarmZoneOut", "ZoneFacts", "Zones"]
