"""API request and response models of shops: registering one, its schedule, its armed state, its staff."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from safecity.core.clock import UtcTime
from safecity.places import shop_hours
from safecity.places.errors import PlacesError
from safecity.places.schemas import IdCardIn

HOURS_EXAMPLE = {"mon": ["08:30", "21:00"], "sat": ["10:00", "02:00"]}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _hours(value: dict[str, Any] | None) -> dict[str, list[str]] | None:
    """Checked and written the one way they are stored (open days in week order)."""
    if value is None:
        return None
    try:
        shop_hours.parse_hours(value)
    except PlacesError as exc:  # a validation error of the field, saying which day
        raise ValueError(f"{exc.field}: {exc.message}") from None
    return shop_hours.as_json(value)


class ScheduleIn(_In):
    """A shop's business hours and whether it arms itself outside them."""

    business_hours: dict[str, Any] | None = Field(
        None,
        description=(
            "Local opening hours per day (mon..sun) as [opening, closing] HH:MM; a day left out is "
            "closed; a closing time before the opening time is after midnight; [00:00, 00:00] is "
            "round the clock; null: no schedule."
        ),
        examples=[HOURS_EXAMPLE],
    )
    auto_arm: bool = Field(True, description="Arm at closing time and disarm at opening time.")

    _checked = field_validator("business_hours")(_hours)


class ShopIn(ScheduleIn):
    """Register a shop with anti-theft door control, and its owner."""

    name: str = Field(min_length=1, max_length=128, description="The shop's name, as on its sign.")
    community_id: str = Field(max_length=32, description="The community (an area) the shop lies in.")
    owner_id_number: str = Field(
        min_length=18, max_length=18, description="The owner's GB 11643 identity number."
    )
    owner_name: str = Field(min_length=1, max_length=64, description="The owner's name.")
    owner_phone: str | None = Field(
        None, pattern=r"^\d{11}$", description="The owner's mobile number: alarms are texted there."
    )
    owner_account: str | None = Field(
        None, max_length=64, description="Username of the shop-owner account that arms it from the app."
    )
    lat: float | None = Field(None, ge=-90, le=90, description="Its entrance (WGS 84).")
    lon: float | None = Field(None, ge=-180, le=180, description="Its entrance (WGS 84).")


class ShopOut(BaseModel):
    """A shop as its owner and the officers of its area see it."""

    id: int = Field(description="The shop's id.")
    name: str = Field(description="Its name.")
    community_id: str = Field(description="The community it lies in.")
    lat: float | None = Field(description="Its entrance (WGS 84).")
    lon: float | None = Field(description="Its entrance (WGS 84).")
    business_hours: dict[str, list[str]] | None = Field(description="Local opening hours per day.")
    auto_arm: bool = Field(description="Whether the schedule arms and disarms it.")
    armed: bool = Field(description="Whether it is armed now: a door opening raises an alarm.")
    armed_changed_at: datetime | None = Field(description="When it was last armed or disarmed.")
    armed_changed_by: str | None = Field(description="Who did it: an account, or `schedule`.")
    open_now: bool | None = Field(description="Within its business hours now (null: no hours given).")
    doors: list[str] = Field(description="Device ids of its door controllers.")


class ArmedOut(BaseModel):
    """The answer to arming or disarming: the shop as it is now, and whether anything changed."""

    shop: ShopOut = Field(description="The shop after the request.")
    changed: bool = Field(description="False when it was already in that state.")


class StaffIn(_In):
    """Add a staff member to a shop: their card as read (or typed), and until when it opens the doors."""

    card: IdCardIn = Field(
        description="The staff member's identity card (only `id_number` and `name` needed)."
    )
    until: UtcTime | None = Field(
        None, description="When their card stops opening the doors; null: until removed."
    )
    via: str = Field(
        "typed", pattern="^(id_card_reader|typed)$", description="How the card's data was taken."
    )


class StaffOut(BaseModel):
    """A staff member as the shop's owner and the officers of its area see them (number masked)."""

    id: int = Field(description="The staff entry's id.")
    shop_id: int = Field(description="The shop.")
    name: str = Field(description="The name as the owner gave it.")
    id_number: str = Field(description="The identity number, masked.")
    added_by: str = Field(description="Who added them.")
    added_at: datetime = Field(description="When.")
    until: datetime | None = Field(
        description="When their card stops opening the doors (null: until removed)."
    )
    removed_at: datetime | None = Field(description="When they were removed (null: still staff).")


__all__ = ["HOURS_EXAMPLE", "ArmedOut", "ScheduleIn", "ShopIn", "ShopOut", "StaffIn", "StaffOut"]
