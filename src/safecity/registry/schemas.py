"""API request and response models of the registry (never the tables themselves)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from safecity.core.ids import DEVICE_ID_PATTERN
from safecity.core.masking import mask_id_number, mask_phone
from safecity.registry.bikes import BikeRegistration
from safecity.registry.models import DeviceKind, TerminalProtocol
from safecity.registry.terminals import MAX_OFFSET_MINUTES, MIN_OFFSET_MINUTES
from safecity.registry.watchlists import DEFAULT_WATCH_DAYS, MAX_WATCH_DAYS

if TYPE_CHECKING:
    from safecity.registry.models import EBike, Person


_DEVICE_KINDS = ", ".join(f"`{kind.value}`" for kind in DeviceKind)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BikeIn(_In):
    """Register an e-bike: the tag fitted, the frame, and the owner's identity card."""

    tag_id: str = Field(
        min_length=8,
        max_length=16,
        description="RFID tag id fitted to the bike: 8 to 16 hexadecimal digits (taken upper-case).",
    )
    frame_number: str = Field(min_length=1, max_length=32, description="Frame number stamped on the bike.")
    model: str = Field(min_length=1, max_length=64, description="Make and model, e.g. `Yadea G5`.")
    colour: str = Field(min_length=1, max_length=32, description="Colour, as people would describe it.")
    owner_id_number: str = Field(
        min_length=18,
        max_length=18,
        description="Owner's GB 11643 identity number (check digit verified). A new owner is created; "
        "one already registered must confirm the bike is theirs first (see `owner_pending`).",
    )
    owner_name: str = Field(min_length=1, max_length=64, description="Owner's name as on the identity card.")
    owner_phone: str | None = Field(
        None, pattern=r"^\d{11}$", description="Owner's 11-digit mobile number, for theft notices by SMS."
    )
    owner_area_id: str | None = Field(
        None,
        max_length=32,
        description="Where a new owner lives (a community or other area in the registrar's reach); "
        "default: the registrar's own area when their account has one. It bounds which cases may "
        "reveal them. Ignored for an owner already in the registry.",
    )

    def registration(self) -> BikeRegistration:
        """The registry's registration of this request (the owner's area travels beside it)."""
        return BikeRegistration(**self.model_dump(exclude={"owner_area_id"}))


class PersonOut(BaseModel):
    """A person as a caller may see them: numbers masked unless their role needs them in full."""

    id: int = Field(description="The person's registry id.")
    name: str = Field(description="Name.")
    id_number: str = Field(description="GB 11643 identity number, masked unless `masked` is false.")
    phone: str | None = Field(description="Mobile number, masked unless `masked` is false.")
    home_area_id: str | None = Field(description="Area (community) of their home, if known.")
    masked: bool = Field(description="Whether the numbers are masked (the caller's role does not see them).")


class BikeOut(BaseModel):
    """A registered bike; its owner only when the request names a case and purpose."""

    id: int = Field(description="The bike's registry id (used in `/bikes/{bike_id}/stolen`).")
    tag_id: str = Field(description="RFID tag id.")
    frame_number: str = Field(description="Frame number.")
    model: str = Field(description="Make and model.")
    colour: str = Field(description="Colour.")
    status: str = Field(description="`registered`, `stolen` (listed) or `deregistered`.")
    registered_at: datetime = Field(description="When it was registered.")
    owner: PersonOut | None = Field(
        None, description="The owner: only when registering, or when the request names a case and purpose."
    )
    owner_withheld: str | None = Field(
        None,
        description=(
            "Why the owner is not shown although the request named a case: `outside_case_area` "
            "(they live outside the case's area), `outside_area` (outside the caller's areas) or "
            "`home_area_unknown` (no home area on record, so no case can cover them)."
        ),
    )
    owner_pending: str | None = Field(
        None,
        description=(
            "Set when the owner named at registration is already in the registry: the bike is theirs "
            "only once they confirm. `code_sent`: a code went to their phone on record; they give it to "
            "the registrar (`POST /api/v1/bikes/{bike_id}/owner`). `in_person`: no phone on record; "
            "they confirm at a police station with their identity card."
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


def bike_view(
    bike: EBike,
    *,
    owner: PersonOut | None = None,
    owner_withheld: str | None = None,
    owner_pending: str | None = None,
) -> BikeOut:
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
        owner_pending=owner_pending,
    )


class OwnerCodeIn(_In):
    """The code a person received by SMS, confirming a claim about them."""

    code: str = Field(pattern=r"^\s*\d{6}\s*$", description="The six-digit code from the text message.")


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
    owner_station_id: str | None = Field(
        None,
        max_length=32,
        description=(
            "Station the entry belongs to (who sees it in their watchlist); default: the owner's"
            " station if the writer reaches it, else the writer's own (city-wide for a city-wide writer)."
        ),
    )
    valid_days: int = Field(
        DEFAULT_WATCH_DAYS,
        ge=1,
        le=MAX_WATCH_DAYS,
        description="Days the entry matches before it lapses (unless closed before).",
    )


class WantedPersonIn(_In):
    """List a registered person as wanted: any door their identity card opens (or tries) raises a warning."""

    id_number: str = Field(
        min_length=18,
        max_length=18,
        description="The person's GB 11643 identity number (check digit verified). Used only to find "
        "them in the registry: the entry keeps their card's pseudonym, never the number.",
    )
    basis: str = Field(
        min_length=1, max_length=2000, description="On what basis: case number, warrant (required)."
    )
    valid_days: int = Field(
        DEFAULT_WATCH_DAYS,
        ge=1,
        le=MAX_WATCH_DAYS,
        description="Days the entry matches before it lapses (unless closed before).",
    )
    owner_station_id: str | None = Field(
        None,
        max_length=32,
        description="Station the entry belongs to, in the caller's reach; default: the caller's own station.",
    )


class WantedPlateIn(_In):
    """Put a plate on a vehicle list: checkpoint and road cameras reading it then hit."""

    plate: str = Field(
        min_length=3, max_length=16, description="The plate, GA 36 (浙C12345; separators allowed)."
    )
    list_kind: str = Field(
        pattern="^(wanted_vehicle|stolen_vehicle|suspicious_vehicle|forged_plate)$",
        description="The list: `wanted_vehicle`, `stolen_vehicle`, `suspicious_vehicle` or `forged_plate`; "
        "each list's hit policy (alert or log, priority, distance) is the recognition capability's.",
    )
    basis: str = Field(
        min_length=1, max_length=2000, description="On what basis: case or report number (required)."
    )
    valid_days: int = Field(
        DEFAULT_WATCH_DAYS,
        ge=1,
        le=MAX_WATCH_DAYS,
        description="Days the entry matches before it lapses (unless closed before): its expiry.",
    )
    owner_station_id: str | None = Field(
        None,
        max_length=32,
        description="Station the entry belongs to, in the caller's reach; default: the caller's own station.",
    )


class CloseEntryIn(_In):
    """Close a watchlist entry: the bike was recovered, or the report withdrawn."""

    status: str = Field(
        "recovered", pattern="^(recovered|withdrawn)$", description="`recovered` or `withdrawn`."
    )
    note: str = Field("", max_length=2000, description="Free text kept with the entry.")


class EntryOut(BaseModel):
    """A watchlist entry."""

    id: int = Field(description="The entry's id (used to close it).")
    list_kind: str = Field(
        description="Why the subject is listed: `stolen_bike`, `wanted_person`, or a vehicle list "
        "(`wanted_vehicle`, `stolen_vehicle`, `suspicious_vehicle`, `forged_plate`)."
    )
    subject_kind: str = Field(
        description="What is listed: `tag` for a bike, `id_card` for a person, `plate` for a vehicle."
    )
    subject: str = Field(
        description="The listed subject: the bike's tag id, or the person's card pseudonym "
        "(never the number)."
    )
    ebike_id: int | None = Field(description="The bike listed, if the entry is about one.")
    reported_by: str = Field(description="Who reported it.")
    reported_at: datetime = Field(description="When: reads from this time on raise alarms.")
    basis: str = Field(description="Case or report number, statement.")
    owner: str = Field(description="Officer answerable for the entry.")
    owner_station_id: str | None = Field(
        description="The station (or, for a writer above station level, their area) answerable for the "
        "entry; null: a city-wide entry."
    )
    expires_at: datetime = Field(description="When it stops matching unless closed before.")
    status: str = Field(description="`active` (matching), `recovered` or `withdrawn`.")
    closed_at: datetime | None = Field(description="When it was closed.")
    closed_by: str | None = Field(description="Who closed it.")


class DeviceIn(_In):
    """Register a field device."""

    id: str = Field(
        pattern=DEVICE_ID_PATTERN,
        description="1 to 64 of A-Z a-z 0-9 _ . : -; the user name it authenticates with (HTTP Basic, MQTT).",
    )
    kind: str = Field(
        min_length=1,
        max_length=32,
        description=f"What the device is: {_DEVICE_KINDS} (docs/ingest.md section 9).",
    )
    name: str = Field(min_length=1, max_length=128, description="A name people recognise it by.")
    lat: float | None = Field(
        None, ge=-90, le=90, description="Where a fixed device stands (WGS 84): its events' position."
    )
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude, with `lat`.")
    area_id: str | None = Field(
        None,
        max_length=32,
        description="Area (community) it stands in: its events' area, and so the station its alerts go to.",
    )


class DeviceOut(BaseModel):
    """A device (never its secret)."""

    id: str = Field(description="The device id.")
    kind: str = Field(description="What the device is (docs/ingest.md section 9).")
    name: str = Field(description="Its name.")
    lat: float | None = Field(description="Registered latitude.")
    lon: float | None = Field(description="Registered longitude.")
    area_id: str | None = Field(description="Area (community) it stands in.")
    status: str = Field(description="`active`, or `disabled` (revoked: it cannot send).")


class DeviceSecretOut(BaseModel):
    """A device's new secret: shown once, never stored."""

    device: DeviceOut = Field(description="The device.")
    secret: str = Field(description="Its secret, the HTTP Basic password: shown only this once.")


class TerminalIn(_In):
    """Bind a tracker's own id (GT06 IMEI, JT/T 808 terminal phone number) to a registered tracker."""

    protocol: TerminalProtocol = Field(description="`gt06` or `jt808`: the protocol the terminal speaks.")
    terminal: str = Field(
        max_length=32,
        description="GT06: the 15-digit IMEI. JT/T 808: the terminal phone number as the terminal sends "
        "it, 12 digits (2013 edition) or 20 (2019), leading zeros kept.",
    )
    utc_offset_minutes: int = Field(
        0,
        ge=MIN_OFFSET_MINUTES,
        le=MAX_OFFSET_MINUTES,
        description="For terminals that send local time without a zone: its offset from UTC "
        "(480 for Beijing time); 0 for terminals that send UTC.",
    )

    @field_validator("terminal")
    @classmethod
    def _terminal_of_its_protocol(cls, terminal: str, info: ValidationInfo) -> str:
        protocol = info.data.get("protocol")  # absent when it was refused itself
        if not terminal.isascii() or not terminal.isdigit():
            raise ValueError("terminal must be digits only")
        if protocol == TerminalProtocol.GT06 and len(terminal) != 15:
            raise ValueError(f"a gt06 terminal is its 15-digit IMEI, not {len(terminal)} digits")
        if protocol == TerminalProtocol.JT808 and len(terminal) not in (12, 20):
            raise ValueError(
                f"a jt808 terminal is its phone number as sent, 12 digits (2013) or 20 (2019), not "
                f"{len(terminal)} (an 11-digit mobile number is sent with a leading 0)"
            )
        return terminal


class TerminalOut(BaseModel):
    """A terminal bound to a tracker."""

    device_id: str = Field(description="The tracker the terminal is bound to.")
    protocol: str = Field(description="`gt06` or `jt808`.")
    terminal: str = Field(description="The terminal's own id (IMEI or phone number).")
    utc_offset_minutes: int = Field(description="Offset turning the terminal's local times into UTC.")
    registered_at: datetime = Field(description="When it was bound.")


class AreaOut(BaseModel):
    """A district, station area or community."""

    id: str = Field(description="The area id.")
    kind: str = Field(description="`district`, `station` or `community`.")
    name: str = Field(description="Its name.")
    parent_id: str | None = Field(description="The area it lies in (a community's station area).")
    station_id: str | None = Field(
        description="The station answerable for it (alerts raised in it go there)."
    )
    lat: float | None = Field(description="Latitude of a station's building, or of the area's centre.")
    lon: float | None = Field(description="Longitude, likewise.")


class AreaImportOut(BaseModel):
    """What an import of areas did."""

    created: int = Field(description="Areas that were new.")
    updated: int = Field(description="Areas already registered, now as the file gives them.")
    devices_placed: int = Field(description="Devices without an area given the area holding their position.")
