"""Places whose doors the platform knows: compounds, buildings, flats, landlords, tenancies, visitors,
doors, residents' vehicles, alarm zones, shops, and the community officer's visit list.

A compound (小区) lies in a community (an area of the registry); its buildings hold flats; a flat
is let by a landlord (its owner, or a sub-landlord managing it for the owner) to tenants, each
tenancy recorded with who registered it and when it ended. A door is a registered device (a door
controller) at a compound gate, a building entrance or a shop; whom it lets in follows from the
tenancies and visitor passes of the place it guards (places/access.py).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from safecity.store import Base, UtcDateTime

# Entity names of typed references (core.finding.Ref) to rows of this package.
COMPOUND = "compound"
FLAT = "flat"
TENANCY = "tenancy"
SHOP = "shop"


class FlatUse(StrEnum):
    """What a flat is let for."""

    RESIDENTIAL = "residential"
    DORMITORY = "dormitory"  # staff quarters: many beds by design
    SHOP = "shop"
    OFFICE = "office"


class LandlordKind(StrEnum):
    """Who lets the flats: the owner, or someone managing them for owners (二房东)."""

    OWNER = "owner"
    SUB_LANDLORD = "sub_landlord"


class Compound(Base):
    """A residential compound (小区), gated or an old one without a gatekeeper."""

    __tablename__ = "compounds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    community_id: Mapped[str] = mapped_column(ForeignKey("areas.id"), index=True)
    gated: Mapped[bool] = mapped_column(Boolean, default=False)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Building(Base):
    """A building of a compound (3号楼)."""

    __tablename__ = "buildings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    compound_id: Mapped[str] = mapped_column(ForeignKey("compounds.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)


class Landlord(Base):
    """Someone who lets flats: a person, with the landlord account they use the app with."""

    __tablename__ = "landlords"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    # The account of the landlord role that acts for them (security's accounts; no FK across packages).
    account_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16), default=LandlordKind.OWNER)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    registered_by: Mapped[str] = mapped_column(String(64))


class Flat(Base):
    """A flat of a building: how many people it holds, what it is let for, and who lets it."""

    __tablename__ = "flats"
    __table_args__ = (UniqueConstraint("building_id", "number", name="uq_flats_building_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[str] = mapped_column(ForeignKey("buildings.id"), index=True)
    number: Mapped[str] = mapped_column(String(16))  # "3-201"
    capacity: Mapped[int] = mapped_column(Integer)
    use: Mapped[str] = mapped_column(String(16), default=FlatUse.RESIDENTIAL)
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    landlord_id: Mapped[int | None] = mapped_column(ForeignKey("landlords.id"), index=True)
    visited_on: Mapped[date | None] = mapped_column(Date)  # the community officer's last visit


class Tenancy(Base):
    """A person living in a flat from a date, registered by someone, until checked out."""

    __tablename__ = "tenancies"
    __table_args__ = (Index("ix_tenancies_person_open", "person_id", "checked_out_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flat_id: Mapped[int] = mapped_column(ForeignKey("flats.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # The name as the registrar gave it: what the landlord's answers show (a typed number must not
    # tell them the registry's name for it). Empty for tenancies from before it was kept.
    name: Mapped[str] = mapped_column(String(64), default="", server_default="")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    planned_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    registered_by: Mapped[str] = mapped_column(String(64))
    registered_via: Mapped[str] = mapped_column(String(16))  # id_card_reader | typed | import
    checked_out_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    checked_out_by: Mapped[str | None] = mapped_column(String(64))


class IdentityCard(Base):
    """What a second-generation identity card's chip said when it was last read at a registration.

    Kept because rental registration (流动人口登记) records the card's own details (address of
    household registration, issuing authority, validity); the photo only if the reader sent one.
    """

    __tablename__ = "identity_cards"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    sex: Mapped[str | None] = mapped_column(String(8))
    ethnicity: Mapped[str | None] = mapped_column(String(16))
    birth_date: Mapped[date | None] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(String(256))
    issuing_authority: Mapped[str | None] = mapped_column(String(128))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)  # None: long-term (长期)
    photo: Mapped[bytes | None] = mapped_column(LargeBinary)
    read_at: Mapped[datetime] = mapped_column(UtcDateTime)
    read_by: Mapped[str] = mapped_column(String(64))


class VisitorPass(Base):
    """A visitor let in for a while: registered by a guard or by a resident, honoured by the doors."""

    __tablename__ = "visitor_passes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    compound_id: Mapped[str] = mapped_column(ForeignKey("compounds.id"), index=True)
    flat_id: Mapped[int | None] = mapped_column(ForeignKey("flats.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    # The name as the registrar gave it: what answers show (never the registry's name for the number).
    name: Mapped[str] = mapped_column(String(64), default="", server_default="")
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    registered_by: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Shop(Base):
    """A shop with anti-theft door control: its owner arms it, on a schedule or by hand."""

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    community_id: Mapped[str] = mapped_column(ForeignKey("areas.id"), index=True)
    owner_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    owner_account_id: Mapped[int | None] = mapped_column(Integer, index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # {"mon": ["08:30", "21:00"], ...}: local opening hours; outside them an auto-armed shop is armed.
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    auto_arm: Mapped[bool] = mapped_column(Boolean, default=True)
    armed: Mapped[bool] = mapped_column(Boolean, default=False)
    armed_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    armed_changed_by: Mapped[str | None] = mapped_column(String(64))


class ShopStaff(Base):
    """A staff member of a shop: their card opens its doors from being added until removed (or `until`)."""

    __tablename__ = "shop_staff"
    __table_args__ = (Index("ix_shop_staff_shop_open", "shop_id", "removed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    # The name as the owner gave it: what answers and alarms show (never the registry's name for the number).
    name: Mapped[str] = mapped_column(String(64))
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    until: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the card stops opening the doors then
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    removed_by: Mapped[str | None] = mapped_column(String(64))


class Door(Base):
    """A door controller: a registered device guarding a compound gate, a building, or a shop."""

    __tablename__ = "doors"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    compound_id: Mapped[str | None] = mapped_column(ForeignKey("compounds.id"), index=True)
    building_id: Mapped[str | None] = mapped_column(ForeignKey("buildings.id"), index=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))


class Vehicle(Base):
    """A resident's vehicle, whose plate the compound's gate camera lets through."""

    __tablename__ = "vehicles"
    __table_args__ = (UniqueConstraint("compound_id", "plate", name="uq_vehicles_compound_plate"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    compound_id: Mapped[str] = mapped_column(ForeignKey("compounds.id"), index=True)
    plate: Mapped[str] = mapped_column(String(16), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AlarmZone(Base):
    """An intrusion-alarm zone (an alarm panel's input) of a compound or a shop, armed on a schedule."""

    __tablename__ = "alarm_zones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    zone: Mapped[str] = mapped_column(String(32))  # the panel's input, as its alarms name it
    name: Mapped[str] = mapped_column(String(128))
    compound_id: Mapped[str | None] = mapped_column(ForeignKey("compounds.id"), index=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    # {"mon": [["22:00", "06:00"]], ...}: local hours when the zone is armed (perimeters at night).
    armed_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class VisitStatus(StrEnum):
    """Where a task of the visit list stands."""

    OPEN = "open"
    DONE = "done"


class VisitOutcome(StrEnum):
    """What the officer found at the door; it feeds the precision of the rule that raised the task."""

    CONFIRMED = "confirmed"
    EXPLAINED = "explained"
    NO_ONE_HOME = "no_one_home"
    FALSE_ALARM = "false_alarm"


class VisitTask(Base):
    """A housing warning, as a visit the community officer makes (走访核查)."""

    __tablename__ = "visit_tasks"
    __table_args__ = (Index("ix_visit_tasks_community_status", "community_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(26), unique=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("areas.id"))
    compound_id: Mapped[str | None] = mapped_column(ForeignKey("compounds.id"))
    building_id: Mapped[str | None] = mapped_column(ForeignKey("buildings.id"))
    flat_id: Mapped[int | None] = mapped_column(ForeignKey("flats.id"))
    rule: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(200))  # the warning's, for the list (migration 0018)
    priority: Mapped[int] = mapped_column(Integer)  # 1 highest
    status: Mapped[str] = mapped_column(String(16), default=VisitStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    visited_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    visited_by: Mapped[str | None] = mapped_column(String(64))


class DoorWhitelist(Base):
    """The list a door controller holds now: its version, the hash of its entries, the entries.

    Entries are what the controller stores (places/whitelist.py): keyed hashes of card numbers
    under this door's salt, never the numbers, with a visitor's validity.
    """

    __tablename__ = "door_whitelists"

    device_id: Mapped[str] = mapped_column(ForeignKey("doors.device_id"), primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))  # sha256 over the sorted entries
    entries: Mapped[list[Any]] = mapped_column(JSON)  # [[key, valid_from, valid_until], ...] sorted by key
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WhitelistDelta(Base):
    """What changed from one version of a door's list to the next, kept a while for catching up."""

    __tablename__ = "whitelist_deltas"
    __table_args__ = (UniqueConstraint("device_id", "version", name="uq_whitelist_deltas_device_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("doors.device_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)  # the version it makes; it applies to version - 1
    digest: Mapped[str] = mapped_column(String(64))  # of the list it makes
    added: Mapped[list[Any]] = mapped_column(JSON)  # entries set (new, or with a new validity)
    removed: Mapped[list[Any]] = mapped_column(JSON)  # keys taken off
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
