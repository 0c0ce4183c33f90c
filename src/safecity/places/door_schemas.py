"""API request and response models of door controllers: registering a door, the online check."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.core.clock import UtcTime

DEVICE_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
EVENT_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DoorIn(_In):
    """Put a door controller at a compound's gate, a building's entrance or a shop (exactly one)."""

    device_id: str = Field(
        pattern=DEVICE_ID, description="The controller's device id; registered as a door_controller if new."
    )
    name: str = Field(min_length=1, max_length=128, description="Which door, as people say it (东门).")
    compound_id: str | None = Field(None, max_length=32, description="A compound's gate.")
    building_id: str | None = Field(None, max_length=32, description="A building's entrance.")
    shop_id: int | None = Field(None, ge=1, description="A shop's door.")
    lat: float | None = Field(None, ge=-90, le=90, description="Where it is; default: the place's position.")
    lon: float | None = Field(
        None, ge=-180, le=180, description="Where it is; default: the place's position."
    )

    @model_validator(mode="after")
    def _one_place(self) -> DoorIn:
        named = [f for f in ("compound_id", "building_id", "shop_id") if getattr(self, f) is not None]
        if len(named) != 1:
            raise ValueError("name exactly one of compound_id (a gate), building_id or shop_id")
        return self


class DoorOut(BaseModel):
    """A door controller and the place it guards."""

    device_id: str
    name: str
    compound_id: str | None
    building_id: str | None
    shop_id: int | None
    secret: str | None = Field(
        None, description="The new device's secret, shown only this once (null: the device existed)."
    )


class CheckIn(_In):
    """A controller asks whether to open for a card (and the answer is recorded as the swipe)."""

    id: str = Field(
        pattern=EVENT_ID,
        description="The swipe's event id, stable across retries: a retry is not recorded twice.",
    )
    card: str = Field(min_length=18, max_length=18, description="The 18-character identity number read.")
    ts: UtcTime = Field(description="When the card was swiped (RFC 3339 with an offset).")


class CheckOut(BaseModel):
    """Open or not, and why (the reasons of docs/doors.md), with the list version decided on."""

    granted: bool
    reason: str = Field(description="listed, visitor, not_listed or expired.")
    wl_version: int = Field(description="The door's whitelist version the answer was decided on.")
    recorded: bool = Field(description="The swipe was stored (false: its id was seen before).")


class RekeyedOut(BaseModel):
    """A door under a new salt: the version its controller must take whole."""

    device_id: str
    version: int = Field(description="The new version; controllers take it as a full list.")


__all__ = ["CheckIn", "CheckOut", "DoorIn", "DoorOut", "RekeyedOut"]
