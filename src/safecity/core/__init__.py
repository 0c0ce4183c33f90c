"""Pure domain core: record kinds and schemas, identifiers, geography, time and findings.

Imports nothing else from safecity; everything else may import it.
"""

from safecity.core.clock import Clock, ManualClock, SystemClock, utc
from safecity.core.finding import (
    AlertFollower,
    Evidence,
    Finding,
    PersonNotice,
    RaisedAlert,
    Ref,
    SubjectFacts,
)
from safecity.core.geo import BBox, cell_expr, cell_of, distance_m
from safecity.core.ids import (
    is_valid_id_number,
    is_valid_plate,
    is_valid_subject,
    normalise_plate,
    subject_valid_expr,
)
from safecity.core.kinds import (
    ALL_KINDS,
    KIND_SPECS,
    SIGHTING_KINDS,
    Category,
    KindSpec,
    RecordKind,
    SubjectKind,
    spec_for,
)
from safecity.core.record import RECORD_SCHEMA, UTC_MS, WIRE_VERSION, WireEvent, empty_records, new_id

__all__ = [
    "ALL_KINDS",
    "KIND_SPECS",
    "RECORD_SCHEMA",
    "SIGHTING_KINDS",
    "UTC_MS",
    "WIRE_VERSION",
    "BBox",
    "Category",
    "Clock",
    "AlertFollower",
    "Evidence",
    "Finding",
    "PersonNotice",
    "RaisedAlert",
    "Ref",
    "SubjectFacts",
    "KindSpec",
    "ManualClock",
    "RecordKind",
    "SubjectKind",
    "SystemClock",
    "WireEvent",
    "cell_expr",
    "cell_of",
    "distance_m",
    "empty_records",
    "is_valid_id_number",
    "is_valid_plate",
    "is_valid_subject",
    "new_id",
    "normalise_plate",
    "spec_for",
    "subject_valid_expr",
    "utc",
]
