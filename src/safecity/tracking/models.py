"""Elderly locators' tables: wearers, the trackers they wear, their guardians, consents and safe zones.

A wearer is a registry person who wears a locator (a registered `tracker` device), answered for by
an area's station. Guardians are registry people too (a son, a carer); a guardian signs in with
the citizen account linked to their person (security/linking.py). Nothing is watched without
consent: who gave it, on whose behalf, on what basis, and when it was withdrawn are kept. A safe
zone is a circle or a polygon ring in force all day or in daily windows (tracking.geofence).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.store import Base, UtcDateTime

# Entity name of typed references (core.finding.Ref) to a wearer.
WEARER = "wearer"


class WearerStatus(StrEnum):
    """Whether the platform watches the wearer."""

    ACTIVE = "active"
    ENDED = "ended"  # the locator was returned, the wearer moved or died: kept for the record


class ConsentCapacity(StrEnum):
    """In what capacity the consent was given."""

    SELF = "self"  # the wearer, while able to
    GUARDIAN = "guardian"  # a guardian (监护人) for a wearer who lost capacity
    LEGAL_REPRESENTATIVE = "legal_representative"  # appointed by a court or the civil affairs office


class ZoneShape(StrEnum):
    """The shape of a safe zone."""

    CIRCLE = "circle"
    POLYGON = "polygon"


class Wearer(Base):
    """A person who wears a locator, and the area whose station answers for them."""

    __tablename__ = "wearers"
    __table_args__ = (
        # A person is enrolled once at a time (two officers enrolling them at once: one wins).
        Index(
            "uq_wearers_active_person",
            "person_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    area_id: Mapped[str] = mapped_column(ForeignKey("areas.id"), index=True)
    notes: Mapped[str] = mapped_column(Text, default="")  # condition, habits: what helps find them
    status: Mapped[str] = mapped_column(String(16), default=WearerStatus.ACTIVE)
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    enrolled_by: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(64))


class WornTracker(Base):
    """A tracker device worn by a wearer, from `added_at` until `removed_at`."""

    __tablename__ = "worn_trackers"
    __table_args__ = (
        # A tracker is worn by one wearer at a time (ending a wearer sets removed_at on theirs).
        Index(
            "uq_worn_trackers_device_open",
            "device_id",
            unique=True,
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wearer_id: Mapped[int] = mapped_column(ForeignKey("wearers.id"), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Guardian(Base):
    """A guardian of a wearer: told of the wearer's warnings, and reads the wearer's record."""

    __tablename__ = "guardians"
    __table_args__ = (Index("ix_guardians_person_open", "person_id", "removed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wearer_id: Mapped[int] = mapped_column(ForeignKey("wearers.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    relation: Mapped[str] = mapped_column(String(32))  # son, daughter, spouse, carer, ...
    phone: Mapped[str] = mapped_column(String(20))  # where warnings are sent
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    added_by: Mapped[str] = mapped_column(String(64))
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    removed_by: Mapped[str | None] = mapped_column(String(64))


class Consent(Base):
    """A consent to watch a wearer: who gave it, in what capacity, on what basis, and its withdrawal."""

    __tablename__ = "wearer_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wearer_id: Mapped[int] = mapped_column(ForeignKey("wearers.id"), index=True)
    given_by_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    given_by_name: Mapped[str] = mapped_column(String(64))  # as given, like a tenant's name
    capacity: Mapped[str] = mapped_column(String(32))
    basis: Mapped[str] = mapped_column(Text)  # the signed form's number, the court order
    given_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))


class SafeZone(Base):
    """A safe zone of a wearer: a circle (centre, radius) or a polygon ring, optionally in daily windows."""

    __tablename__ = "safe_zones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wearer_id: Mapped[int] = mapped_column(ForeignKey("wearers.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    shape: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    radius_m: Mapped[float | None] = mapped_column(Float)
    ring: Mapped[list[Any] | None] = mapped_column(JSON)  # [[lon, lat], ...], closed
    hours: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ["HH:MM-HH:MM", ...]; empty: all day
    set_at: Mapped[datetime] = mapped_column(UtcDateTime)
    set_by: Mapped[str] = mapped_column(String(64))


__all__ = [
    "WEARER",
    "Consent",
    "ConsentCapacity",
    "Guardian",
    "SafeZone",
    "Wearer",
    "WearerStatus",
    "WornTracker",
    "ZoneShape",
]
