"""The catalogue of record kinds: every sighting and event kind the platform accepts.

A new sensor kind costs one entry here (and, if it has a new subject kind, a validator in
`ids`); ingest, the lake, trajectory and search are generic over this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    """Whether a record says where a subject was (sighting) or what a device reported (event)."""

    SIGHTING = "sighting"
    EVENT = "event"


class SubjectKind(StrEnum):
    """What a sighting's subject identifies."""

    TAG = "tag"  # e-bike RFID tag
    ID_CARD = "id_card"  # resident identity card (GB 11643 number)
    PLATE = "plate"  # vehicle licence plate (GA 36)
    FACE = "face"  # watchlist face identity reference from a recognition engine
    TRACKER = "tracker"  # wearable or vehicle tracker terminal id
    UNIT = "unit"  # police unit call sign
    PHONE = "phone"  # IMSI / phone identity seen by a sniffer or base station
    DEVICE = "device"  # the reporting device itself (events)


class RecordKind(StrEnum):
    """Every kind of record a device may send."""

    RFID_READ = "rfid_read"
    DOOR_SWIPE = "door_swipe"
    PLATE_READ = "plate_read"
    FACE_MATCH = "face_match"
    TRACKER_FIX = "tracker_fix"
    UNIT_FIX = "unit_fix"
    PHONE_SEEN = "phone_seen"
    ALARM = "alarm"
    HEARTBEAT = "heartbeat"
    COUNT = "count"
    REPORT = "report"
    INTERCOM = "intercom"


@dataclass(frozen=True, slots=True)
class KindSpec:
    """How one record kind is validated and stored."""

    kind: RecordKind
    category: Category
    subject_kind: SubjectKind
    subject_required: bool
    # Fixed devices (base stations, door controllers) are located by the registry; moving
    # ones (trackers, unit handsets) must send coordinates with every fix.
    location_from_device: bool
    # Identity numbers and phone identities are personal data: the lake keeps pseudonyms.
    personal: bool = False
    description: str = ""


KIND_SPECS: dict[RecordKind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            RecordKind.RFID_READ,
            Category.SIGHTING,
            SubjectKind.TAG,
            True,
            True,
            description="an RFID base station read an e-bike tag",
        ),
        KindSpec(
            RecordKind.DOOR_SWIPE,
            Category.SIGHTING,
            SubjectKind.ID_CARD,
            True,
            True,
            personal=True,
            description="an identity card was swiped at a door controller",
        ),
        KindSpec(
            RecordKind.PLATE_READ,
            Category.SIGHTING,
            SubjectKind.PLATE,
            True,
            True,
            description="a camera read a licence plate",
        ),
        KindSpec(
            RecordKind.FACE_MATCH,
            Category.SIGHTING,
            SubjectKind.FACE,
            True,
            True,
            personal=True,
            description="a face camera matched a watchlist face reference",
        ),
        KindSpec(
            RecordKind.TRACKER_FIX,
            Category.SIGHTING,
            SubjectKind.TRACKER,
            True,
            False,
            description="a wearable or vehicle tracker reported its position",
        ),
        KindSpec(
            RecordKind.UNIT_FIX,
            Category.SIGHTING,
            SubjectKind.UNIT,
            True,
            False,
            description="a police unit's handset reported its position",
        ),
        KindSpec(
            RecordKind.PHONE_SEEN,
            Category.SIGHTING,
            SubjectKind.PHONE,
            True,
            True,
            personal=True,
            description="a phone identity was seen by a sensor",
        ),
        KindSpec(
            RecordKind.ALARM,
            Category.EVENT,
            SubjectKind.DEVICE,
            False,
            True,
            description="a device raised an alarm (code says which)",
        ),
        KindSpec(
            RecordKind.HEARTBEAT,
            Category.EVENT,
            SubjectKind.DEVICE,
            False,
            True,
            description="a device reported that it is alive",
        ),
        KindSpec(
            RecordKind.COUNT,
            Category.EVENT,
            SubjectKind.DEVICE,
            False,
            True,
            description="a device reported a count (value) over a period",
        ),
        KindSpec(
            RecordKind.INTERCOM,
            Category.EVENT,
            SubjectKind.DEVICE,
            False,
            True,
            # A call may be forwarded to a resident's phone: the number is pseudonymised like an alarm's.
            personal=True,
            description="a building's intercom: a call to a flat, answered or not, the door opened from it",
        ),
        KindSpec(
            RecordKind.REPORT,
            Category.EVENT,
            SubjectKind.DEVICE,
            False,
            True,
            description="a person reported something from a handset",
        ),
    )
}

SIGHTING_KINDS: frozenset[str] = frozenset(
    k.value for k, s in KIND_SPECS.items() if s.category is Category.SIGHTING
)
ALL_KINDS: frozenset[str] = frozenset(k.value for k in KIND_SPECS)


def spec_for(kind: str) -> KindSpec | None:
    """Return the spec of a record kind, or None if the kind is unknown."""
    try:
        return KIND_SPECS[RecordKind(kind)]
    except ValueError:
        return None
