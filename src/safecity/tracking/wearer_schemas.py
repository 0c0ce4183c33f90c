"""API request and response models of wearers: enrolment, guardians, consents and safe zones.

Identity and phone numbers are answered masked; a safe zone is a circle (`lat`, `lon`,
`radius_m`) or a polygon (`ring`, closed, of `[lon, lat]` points), checked by the geometry kernels
(tracking.geofence) when it is set so that a bad one is refused naming the field.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.core.clock import UtcTime
from safecity.tracking.models import ConsentCapacity

ID_NUMBER = Field(min_length=18, max_length=18, description="GB 11643 identity number (18 characters).")
PHONE = r"^\d{11,15}$"
MAX_ZONES = 16
MAX_RING_POINTS = 1000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ConsentIn(_In):
    """A consent to watch a wearer, as given (on the signed form or before the officer)."""

    given_by_id_number: str = ID_NUMBER
    given_by_name: str = Field(min_length=1, max_length=64, description="Who gave it, as on their card.")
    capacity: ConsentCapacity = Field(description="`self`, `guardian` or `legal_representative`.")
    basis: str = Field(
        min_length=1, max_length=500, description="On what basis: the signed form's number, a court order."
    )
    given_at: UtcTime | None = Field(
        None, description="When it was given (left out: now); not in the future."
    )


class GuardianIn(_In):
    """A guardian of a wearer: told of the wearer's warnings; signs in with their linked citizen account."""

    id_number: str = ID_NUMBER
    name: str = Field(min_length=1, max_length=64, description="The guardian's name, as on their card.")
    relation: str = Field(min_length=1, max_length=32, description="Son, daughter, spouse, carer, ...")
    phone: str = Field(pattern=PHONE, description="Where warnings are sent (11 to 15 digits).")


class ZoneIn(_In):
    """A safe zone: a circle (`lat`, `lon`, `radius_m`) or a polygon (`ring`), in force during `hours`."""

    name: str = Field(min_length=1, max_length=64, description="What it is: home, the day centre, the park.")
    lat: float | None = Field(None, description="A circle's centre (WGS 84).")
    lon: float | None = Field(None, description="A circle's centre (WGS 84).")
    radius_m: float | None = Field(None, description="A circle's radius in metres.")
    ring: list[tuple[float, float]] | None = Field(
        None,
        max_length=MAX_RING_POINTS,
        description="A polygon as a closed ring of [lon, lat] points (the last repeats the first).",
    )
    hours: list[str] = Field(
        default_factory=list,
        max_length=8,
        description='Local daily windows "HH:MM-HH:MM" when the zone applies ("22:00-06:00" spans '
        "midnight); empty: all day.",
    )

    @model_validator(mode="after")
    def _one_shape(self) -> ZoneIn:
        circle = (self.lat, self.lon, self.radius_m)
        if self.ring is None and any(v is None for v in circle):
            raise ValueError("a zone is a circle (lat, lon and radius_m) or a polygon (ring)")
        if self.ring is not None and any(v is not None for v in circle):
            raise ValueError("a zone is a circle or a polygon, not both: give ring or lat/lon/radius_m")
        return self


class SafeZonesIn(_In):
    """A wearer's safe zones, replacing those set before (an empty list: none, so no zone warnings)."""

    zones: list[ZoneIn] = Field(max_length=MAX_ZONES, description=f"At most {MAX_ZONES} zones.")


class WearerIn(_In):
    """Enrol a wearer: the person, the trackers they wear, the area answerable, and the consent given."""

    id_number: str = ID_NUMBER
    name: str = Field(min_length=1, max_length=64, description="The wearer's name, as on their card.")
    phone: str | None = Field(None, pattern=PHONE, description="The wearer's own phone, if they carry one.")
    area_id: str = Field(max_length=32, description="The area (community or station) whose station answers.")
    device_ids: list[str] = Field(
        min_length=1, max_length=4, description="The registered `tracker` devices the wearer wears."
    )
    notes: str = Field("", max_length=1000, description="What helps find them: condition, habits, clothes.")
    consent: ConsentIn = Field(description="The consent to watch them; nothing is enrolled without it.")
    guardians: list[GuardianIn] = Field(default_factory=list, max_length=8)
    safe_zones: list[ZoneIn] = Field(default_factory=list, max_length=MAX_ZONES)


class GuardianOut(BaseModel):
    """A guardian of a wearer (numbers masked)."""

    id: int
    wearer_id: int
    person_id: int
    name: str
    relation: str
    phone: str
    added_at: datetime
    removed_at: datetime | None


class ConsentOut(BaseModel):
    """A consent recorded for a wearer."""

    id: int
    wearer_id: int
    given_by_name: str
    capacity: str
    basis: str
    given_at: datetime
    recorded_by: str
    recorded_at: datetime
    withdrawn_at: datetime | None


class SafeZoneOut(BaseModel):
    """A safe zone as stored."""

    id: int
    name: str
    shape: str
    lat: float | None
    lon: float | None
    radius_m: float | None
    ring: list[tuple[float, float]] | None
    hours: list[str]


class WarningOut(BaseModel):
    """An open warning about the wearer."""

    id: str
    rule: str
    rule_kind: str
    title: str
    severity: str
    status: str
    first_seen_at: datetime
    last_seen_at: datetime


class WearerOut(BaseModel):
    """A wearer (identity number masked)."""

    id: int
    person_id: int
    name: str
    id_number: str
    area_id: str
    device_ids: list[str]
    notes: str
    status: str
    consent_in_force: bool = Field(description="Whether a consent is recorded and not withdrawn.")
    enrolled_at: datetime
    enrolled_by: str


class WearerDetail(WearerOut):
    """A wearer with their guardians, consents, safe zones and open warnings."""

    guardians: list[GuardianOut]
    consents: list[ConsentOut]
    safe_zones: list[SafeZoneOut]
    open_warnings: list[WarningOut]


__all__ = [
    "ConsentIn",
    "ConsentOut",
    "GuardianIn",
    "GuardianOut",
    "SafeZoneOut",
    "SafeZonesIn",
    "WarningOut",
    "WearerDetail",
    "WearerIn",
    "WearerOut",
    "ZoneIn",
]
