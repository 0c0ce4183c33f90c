"""API request and response models of places: compounds, buildings, flats, landlords, tenancies.

`IdCardIn` is the shape an identity-card reader posts (a phone's NFC reader app, or a desk
reader): the fields of a second-generation card's chip, as docs/places.md documents them.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from safecity.core.clock import UtcTime

PLACE_ID = r"^[A-Za-z0-9_.:-]{1,32}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CompoundIn(_In):
    """Register a compound (小区) in a community."""

    id: str = Field(pattern=PLACE_ID, description="The compound's id, 1-32 of A-Z a-z 0-9 _ . : -.")
    name: str = Field(min_length=1, max_length=128, description="Its name, as people say it.")
    community_id: str = Field(max_length=32, description="The community (an area) it lies in.")
    gated: bool = Field(False, description="Whether it has a gate with a gatekeeper.")
    lat: float | None = Field(None, ge=-90, le=90, description="Its centre (WGS 84).")
    lon: float | None = Field(None, ge=-180, le=180, description="Its centre (WGS 84).")


class BuildingIn(_In):
    """Register a building of a compound."""

    id: str = Field(pattern=PLACE_ID, description="The building's id.")
    compound_id: str = Field(max_length=32, description="The compound it belongs to.")
    name: str = Field(min_length=1, max_length=64, description="Its name or number (3号楼).")
    lat: float | None = Field(None, ge=-90, le=90, description="Its entrance (WGS 84).")
    lon: float | None = Field(None, ge=-180, le=180, description="Its entrance (WGS 84).")


class FlatIn(_In):
    """Register a flat of a building."""

    building_id: str = Field(max_length=32, description="The building it is in.")
    number: str = Field(min_length=1, max_length=16, description="Its number (3-201).")
    capacity: int = Field(ge=1, le=500, description="How many people may live in it.")
    use: str = Field(
        "residential", pattern="^(residential|dormitory|shop|office)$", description="What it is let for."
    )
    landlord_id: int | None = Field(None, ge=1, description="The landlord who lets it (see /landlords).")


class LandlordIn(_In):
    """Register a landlord: a person, and the landlord account they use the app with."""

    id_number: str = Field(
        min_length=18, max_length=18, description="The landlord's GB 11643 identity number."
    )
    name: str = Field(min_length=1, max_length=64, description="The landlord's name.")
    phone: str | None = Field(None, pattern=r"^\d{11}$", description="The landlord's mobile number.")
    kind: str = Field(
        "owner", pattern="^(owner|sub_landlord)$", description="Owner, or sub-landlord (二房东)."
    )
    account: str | None = Field(
        None, max_length=64, description="Username of the landlord-role account that acts for them."
    )


def _date(value: object) -> object:
    """A card date as the chip gives it (YYYYMMDD) or as ISO 8601 (YYYY-MM-DD)."""
    if isinstance(value, str) and re.fullmatch(r"\d{8}", value.strip()):
        text = value.strip()
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return value


class IdCardIn(_In):
    """What an identity-card reader returns from a second-generation card's chip (or typed in)."""

    id_number: str = Field(
        min_length=18, max_length=18, description="公民身份号码: 18 characters, check digit verified."
    )
    name: str = Field(min_length=1, max_length=64, description="姓名.")
    sex: str | None = Field(None, pattern="^(男|女|M|F)$", description="性别: 男 or 女 (M or F).")
    ethnicity: str | None = Field(None, max_length=16, description="民族, e.g. 汉.")
    birth_date: date | None = Field(None, description="出生: YYYY-MM-DD or YYYYMMDD; must match the number.")
    address: str | None = Field(
        None, max_length=256, description="住址: the address of household registration."
    )
    issuing_authority: str | None = Field(None, max_length=128, description="签发机关.")
    valid_from: date | None = Field(None, description="有效期限 start: YYYY-MM-DD or YYYYMMDD.")
    valid_until: date | None = Field(None, description="有效期限 end; null or 长期 for a long-term card.")
    photo: str | None = Field(
        None, max_length=90_000, description="The chip's photo, base64 JPEG (optional; at most 64 KiB)."
    )

    _dates = field_validator("birth_date", "valid_from", mode="before")(_date)

    @field_validator("valid_until", mode="before")
    @classmethod
    def _long_term(cls, value: object) -> object:
        return None if value in ("长期", "long-term", "") else _date(value)

    @field_validator("id_number")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class TenantIn(_In):
    """Register a tenant of a flat: their card as read (or typed), from when, and until when planned."""

    card: IdCardIn = Field(description="The tenant's identity card.")
    phone: str | None = Field(None, pattern=r"^\d{11}$", description="The tenant's mobile number.")
    starts_at: UtcTime | None = Field(None, description="Moving in; default: now.")
    planned_end: UtcTime | None = Field(None, description="Planned end of the tenancy, if known.")
    via: str = Field(
        "id_card_reader", pattern="^(id_card_reader|typed)$", description="How the card's data was taken."
    )


class CheckOutIn(_In):
    """End a tenancy."""

    at: UtcTime | None = Field(None, description="When the tenant moved out; default: now.")


class CompoundOut(BaseModel):
    """A compound."""

    id: str
    name: str
    community_id: str
    gated: bool
    lat: float | None
    lon: float | None


class BuildingOut(BaseModel):
    """A building."""

    id: str
    compound_id: str
    name: str
    lat: float | None
    lon: float | None


class LandlordOut(BaseModel):
    """A landlord (the person's name; numbers are not shown here)."""

    id: int
    name: str
    kind: str
    account: str | None


class FlatOut(BaseModel):
    """A flat with its occupancy."""

    id: int = Field(description="The flat's id.")
    building_id: str = Field(description="Its building.")
    compound_id: str = Field(description="Its compound.")
    compound_name: str = Field(description="Its compound's name (五马小区).")
    building_name: str = Field(description="Its building's name (3号楼).")
    number: str = Field(description="Its number.")
    capacity: int = Field(description="How many people may live in it.")
    use: str = Field(description="What it is let for.")
    landlord_id: int | None = Field(description="Who lets it.")
    tenants: int = Field(description="Tenancies open now.")
    over_capacity: bool = Field(description="More tenants than its capacity.")
    visited_on: date | None = Field(description="The community officer's last visit.")


class TenantOut(BaseModel):
    """A tenancy as its landlord or the community officer sees it: numbers masked."""

    tenancy_id: int
    flat_id: int
    person_id: int
    name: str
    id_number: str = Field(description="Masked: 330302********1234.")
    starts_at: datetime
    planned_end: datetime | None
    registered_by: str
    checked_out_at: datetime | None


class RegisteredOut(BaseModel):
    """A tenant registered: the tenancy, and what the registrar should know (never a refusal)."""

    tenant: TenantOut
    notices: list[str] = Field(
        description="What is unusual but allowed: the tenant holds another open tenancy; the flat is "
        "over its capacity. Each is also a warning for the community officer."
    )


class VisitorPassIn(_In):
    """Let a visitor through a compound's doors for a while (a guard, the officer, or a resident)."""

    compound_id: str = Field(max_length=32, description="The compound the visitor may enter.")
    flat_id: int | None = Field(
        None, ge=1, description="The flat visited; a resident's pass is for their own flat (default)."
    )
    id_number: str = Field(
        min_length=18, max_length=18, description="The visitor's GB 11643 identity number (their card)."
    )
    name: str = Field(min_length=1, max_length=64, description="The visitor's name, as on the card.")
    valid_from: UtcTime | None = Field(None, description="From when the doors let them in; default: now.")
    valid_until: UtcTime = Field(description="Until when; after valid_from, at most 7 days later.")

    @field_validator("id_number")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class VisitorPassOut(BaseModel):
    """A visitor pass: the visitor as the registrar named them, numbers masked."""

    id: int
    compound_id: str
    flat_id: int | None
    name: str = Field(description="The name the registrar gave.")
    id_number: str = Field(description="Masked: 330302********1234.")
    valid_from: datetime
    valid_until: datetime
    registered_by: str
    revoked_at: datetime | None


__all__ = [
    "BuildingIn",
    "BuildingOut",
    "CheckOutIn",
    "CompoundIn",
    "CompoundOut",
    "FlatIn",
    "FlatOut",
    "IdCardIn",
    "LandlordIn",
    "LandlordOut",
    "RegisteredOut",
    "TenantIn",
    "TenantOut",
    "VisitorPassIn",
    "VisitorPassOut",
]
