"""Residents' vehicles: the plates a compound's gate cameras know, registered by the community's
staff or by a resident for themselves, and what the rules know of them (`facts.source("vehicles")`).

A plate read at a community's gate camera (`plate_read` from a `plate_camera` in the community)
that belongs to no vehicle of the community's compounds is a visitor's; one that keeps coming
back night after night is somebody living there unregistered (places.gate).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.context import Context
from safecity.core.errors import AccessDenied
from safecity.core.ids import is_valid_plate
from safecity.places.errors import PlaceConflict, PlaceNotFound, PlacesError
from safecity.places.events import PLACES, places_changed
from safecity.places.models import Building, Compound, Flat, Tenancy, Vehicle
from safecity.store import transaction


class VehicleIn(BaseModel):
    """Register a resident's vehicle at a compound."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    compound_id: str = Field(max_length=32, description="The compound whose gates let it in.")
    plate: str = Field(min_length=7, max_length=8, description="GA 36 plate without separators (浙C12345).")

    @field_validator("plate")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class VehicleOut(BaseModel):
    """A registered vehicle."""

    id: int
    compound_id: str
    plate: str
    registered_at: datetime


class Vehicles:
    """The vehicle use cases of one platform."""

    def __init__(
        self, session_factory: sessionmaker[Session], recorder: Recorder, *, now: Callable[[], datetime]
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now

    def register(self, ctx: Context, body: VehicleIn, *, resource: str) -> VehicleOut:
        """A vehicle of a compound the caller guards, or the caller's own where they live."""
        if not is_valid_plate(body.plate):
            raise PlacesError(f"{body.plate!r} is not a GA 36 plate such as 浙C12345", field="plate")
        with transaction(self._sessions) as session:
            compound = session.get(Compound, body.compound_id)
            if compound is None:
                raise PlaceNotFound("compound", body.compound_id)
            owner = _resident_in(session, ctx, compound.id) if ctx.role == "citizen" else None
            if ctx.role != "citizen":
                ctx.require_area(compound.community_id, what=f"compound {compound.id}")
            taken = session.scalar(
                select(Vehicle.id).where(Vehicle.compound_id == compound.id, Vehicle.plate == body.plate)
            )
            if taken is not None:
                raise PlaceConflict(f"{body.plate} is registered at {compound.id} already", field="plate")
            vehicle = Vehicle(
                compound_id=compound.id, plate=body.plate, person_id=owner, registered_at=self._now()
            )
            session.add(vehicle)
            session.flush()
            places_changed(session)
            out = VehicleOut.model_validate(vehicle, from_attributes=True)
        self._recorder.record(
            ctx, AuditEntry("vehicles.register", resource, status=201, detail={"vehicle": out.id})
        )
        return out

    def vehicles(self, ctx: Context, *, compound_id: str | None = None, resource: str) -> list[VehicleOut]:
        """Vehicles of the caller's compounds (a resident: their own), by plate; the read is audited."""
        with self._sessions() as session:
            stmt = select(Vehicle).join(Compound, Compound.id == Vehicle.compound_id).order_by(Vehicle.plate)
            if compound_id is not None:
                stmt = stmt.where(Vehicle.compound_id == compound_id)
            if ctx.role == "citizen":
                stmt = stmt.where(Vehicle.person_id == ctx.person_id)
            elif not ctx.city_wide:
                stmt = stmt.where(Compound.community_id.in_(sorted(ctx.areas)))
            found = list(session.scalars(stmt.limit(2000)))
            out = [VehicleOut.model_validate(v, from_attributes=True) for v in found]
            owners = sorted({v.person_id for v in found if v.person_id is not None})
        # Residents' plates: a read of personal data (which car is whose is in the registry), kept
        # in the trail and shown to each resident in their own access log.
        entry = AuditEntry(
            "vehicles.list",
            resource,
            subjects=[subject("person", p) for p in owners],
            result_count=len(out),
            detail={"count": len(out)},
        )
        self._recorder.record(ctx, entry)
        return out


def _resident_in(session: Session, ctx: Context, compound_id: str) -> int:
    """The caller's person, if they hold an open tenancy in the compound (refused otherwise)."""
    if ctx.person_id is None:
        raise AccessDenied("forbidden", "link your account to yourself first", field="compound_id")
    lives = session.scalar(
        select(Tenancy.id)
        .join(Flat, Flat.id == Tenancy.flat_id)
        .join(Building, Building.id == Flat.building_id)
        .where(
            Tenancy.person_id == ctx.person_id,
            Tenancy.checked_out_at.is_(None),
            Building.compound_id == compound_id,
        )
        .limit(1)
    )
    if lives is None:
        raise AccessDenied("forbidden", f"you have no home in compound {compound_id}", field="compound_id")
    return ctx.person_id


class VehicleFacts:
    """(community, plate) of every registered vehicle, loaded once and again after places change."""

    depends_on = frozenset({PLACES})

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._lock = threading.Lock()
        self._frame: pl.DataFrame | None = None

    def invalidate(self) -> None:
        """Forget the vehicles (one was registered or a place changed)."""
        with self._lock:
            self._frame = None

    def registered(self) -> pl.DataFrame:
        """Columns `area` (the compound's community) and `subject` (the plate), one row each."""
        with self._lock:
            if self._frame is None:
                with self._factory() as session:
                    rows = session.execute(
                        select(Compound.community_id, Vehicle.plate)
                        .join(Compound, Compound.id == Vehicle.compound_id)
                        .distinct()
                    ).all()
                self._frame = pl.DataFrame(
                    [tuple(r) for r in rows], schema={"area": pl.String, "subject": pl.String}, orient="row"
                )
            return self._frame


__all__ = ["VehicleFacts", "VehicleIn", "VehicleOut", "Vehicles"]
