"""API request and response models of the registry (never the tables themselves)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from safecity.core.ids import DEVICE_ID_PATTERN
from safecity.core.masking import mask_id_number, mask_phone

if TYPE_CHECKING:
    from safecity.registry.models import EBike, Person


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BikeIn(_In):
    """Register an e-bike: the tag fitted, the frame, and the owner's identity card."""

    tag_id: str = Field(min_length=8, max_length=16, description="RFID tag id, hexadecimal.")
    frame_number: str = Field(min_length=1, max_length=32)
    model: str = Field(min_length=1, max_length=64)
    colour: str = Field(min_length=1, max_length=32)
    owner_id_number: str = Field(min_length=18, max_length=18, description="GB 11643 identity number.")
    owner_name: str = Field(min_length=1, max_length=64)
    owner_phone: str | None = Field(None, pattern=r"^\d{11}$")


class PersonOut(BaseModel):
    """A person as a caller may see them: numbers masked unless their role needs them in full."""

    id: int
    name: str
    id_number: str
    phone: str | None
    home_area_id: str | None
    masked: bool


class BikeOut(BaseModel):
    """A registered bike; its owner only when the request names a case and purpose."""

    id: int
    tag_id: str
    frame_number: str
    model: str
    colour: str
    status: str
    registered_at: datetime
    owner: PersonOut | None = None
    owner_withheld: str | None = Field(
        None,
        description=(
            "Why the owner is not shown although the request named a case: `outside_case_area` "
            "(they live outside the case's area), `outside_area` (outside the caller's areas) or "
            "`home_area_unknown` (no home area on record, so no case can cover them)."
        ),
    )


def person_view(person: Person, *, full: bool) -> PersonOut:
    """A person as shown: identity and phone numbers in full only when `full` (a role that needs them)."""
    return PersonOut(
        id=person.id,
        name=person.name,
        id_number=person.id_number if full else mask_id_number(person.id_number) or "",
        phone=person.phone if full else mask_phone(person.phone),
        home_area_id=person.home_area_id,
        masked=not full,
    )


def bike_view(bike: EBike, *, owner: PersonOut | None = None, owner_withheld: str | None = None) -> BikeOut:
    """A bike as shown, with its owner only when one is given (a justified, audited read)."""
    return BikeOut(
        id=bike.id,
        tag_id=bike.tag_id,
        frame_number=bike.frame_number,
        model=bike.model,
        colour=bike.colour,
        status=bike.status,
        registered_at=bike.registered_at,
        owner=owner,
        owner_withheld=owner_withheld,
    )


class StolenIn(_In):
    """Report a bike stolen."""

    reported_by: str = Field(min_length=1, max_length=128, description="Who reported: owner or officer.")
    basis: str = Field(min_length=1, max_length=2000, description="Case or report number, statement.")
    owner: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Officer answerable for the entry; default: the caller.",
    )
    owner_station_id: str | None = Field(None, max_length=32)
    valid_days: int = Field(180, ge=1, le=3650)


class CloseEntryIn(_In):
    """Close a watchlist entry: the bike was recovered, or the report withdrawn."""

    status: str = Field("recovered", pattern="^(recovered|withdrawn)$")
    note: str = Field("", max_length=2000)


class EntryOut(BaseModel):
    """A watchlist entry."""

    id: int
    list_kind: str
    subject_kind: str
    subject: str
    ebike_id: int | None
    reported_by: str
    reported_at: datetime
    basis: str
    owner: str
    owner_station_id: str | None = Field(
        description="The station answerable for the entry (null: a city-wide entry)."
    )
    expires_at: datetime
    status: str
    closed_at: datetime | None
    closed_by: str | None


class DeviceIn(_In):
    """Register a field device."""

    id: str = Field(pattern=DEVICE_ID_PATTERN, description="1 to 64 of A-Z a-z 0-9 _ . : -")
    kind: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=128)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    area_id: str | None = Field(None, max_length=32)


class DeviceOut(BaseModel):
    """A device (never its secret)."""

    id: str
    kind: str
    name: str
    lat: float | None
    lon: float | None
    area_id: str | None
    status: str


class DeviceSecretOut(BaseModel):
    """A device's new secret: shown once, never stored."""

    device: DeviceOut
    secret: str


class AreaOut(BaseModel):
    """A district, station area or community."""

    id: str
    kind: str
    name: str
    parent_id: str | None
    station_id: str | None
    lat: float | None
    lon: float | None
