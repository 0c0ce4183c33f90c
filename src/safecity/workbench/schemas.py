"""What the workbench's questions take and give over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from safecity.core.clock import UtcTime
from safecity.core.kinds import SubjectKind
from safecity.security.schemas import CaseOut
from safecity.workbench.collision import CollisionHit
from safecity.workbench.companions import Companion
from safecity.workbench.forged_search import ForgedPlatesAnswer
from safecity.workbench.service import ClonedPlatesAnswer, CollisionAnswer, CompanionsAnswer
from safecity.workbench.vehicle_vocabulary import OBSERVED_FIELDS, ObservedField
from safecity.workbench.windows import MAX_DEVICES, MAX_VERTICES, Window
from safecity.workbench.workspace import PinKind, Workspace

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WindowIn(BaseModel):
    """A time range and a place: devices, a drawn polygon, or a center with a radius."""

    model_config = _STRICT

    start: UtcTime
    end: UtcTime
    devices: list[str] = Field(default_factory=list, max_length=MAX_DEVICES)
    polygon: list[tuple[float, float]] = Field(
        default_factory=list, max_length=MAX_VERTICES, description="(lat, lon) corners, not closed"
    )
    center: tuple[float, float] | None = Field(None, description="(lat, lon)")
    radius_m: float | None = None
    label: str = Field("", max_length=100)

    def window(self) -> Window:
        """The domain's window (checked by the use case)."""
        return Window(
            self.start,
            self.end,
            devices=tuple(self.devices),
            polygon=tuple(self.polygon),
            center=self.center,
            radius_m=self.radius_m,
            label=self.label,
        )


class Justification(BaseModel):
    """The case a question is asked under, and why."""

    model_config = _STRICT

    case_id: str | None = Field(None, max_length=32)
    purpose: str | None = Field(None, max_length=500)


class CollisionIn(Justification):
    """Subjects seen in at least k of the windows."""

    windows: list[WindowIn] = Field(max_length=50)
    k: int = Field(ge=1, le=50)
    kinds: list[str] | None = Field(None, max_length=10, description="subject kinds (default: all)")
    offset: int = Field(0, ge=0, le=100_000)
    limit: int = Field(100, ge=1, le=500)


class CollisionEvidenceOut(BaseModel):
    window: int
    event_id: str
    kind: str
    device: str | None
    ts: datetime
    lat: float | None
    lon: float | None
    area: str | None
    seen: int = Field(description="sightings of the subject in this window")


class HitOut(BaseModel):
    subject_kind: str
    subject: str
    windows: int
    sightings: int
    evidence: list[CollisionEvidenceOut]


class CollisionOut(BaseModel):
    case_id: str
    query_id: int = Field(description="the question as saved in the case's workspace")
    k: int
    windows: int
    total: int
    offset: int
    hits: list[HitOut]


def collision_out(answer: CollisionAnswer, offset: int) -> CollisionOut:
    """The HTTP shape of a collision answer."""
    return CollisionOut(
        case_id=answer.case_id,
        query_id=answer.query_id,
        k=answer.k,
        windows=len(answer.windows),
        total=answer.result.total,
        offset=offset,
        hits=[_hit(h) for h in answer.result.hits],
    )


def _hit(hit: CollisionHit) -> HitOut:
    return HitOut(
        subject_kind=hit.subject_kind,
        subject=hit.subject,
        windows=hit.windows,
        sightings=hit.sightings,
        evidence=[CollisionEvidenceOut.model_validate(e, from_attributes=True) for e in hit.evidence],
    )


class CompanionsIn(Justification):
    """Who was seen with a subject, near in time and place."""

    subject_kind: SubjectKind
    subject: str = Field(min_length=1, max_length=64)
    start: UtcTime
    end: UtcTime
    tolerance_s: int = Field(120, ge=1, le=3600, description="seconds either side of each sighting")
    ring: int = Field(
        1, ge=0, le=2, description="H3 cells around each sighting's cell that count as the same place"
    )
    min_meetings: int = Field(2, ge=1, le=1000)
    min_places: int = Field(2, ge=1, le=1000)


class MeetingOut(BaseModel):
    target_event_id: str
    target_ts: datetime
    event_id: str
    kind: str
    device: str | None
    ts: datetime
    lat: float | None
    lon: float | None


class CompanionOut(BaseModel):
    subject_kind: str
    subject: str
    places: int
    meetings: int
    first: datetime
    last: datetime
    evidence: list[MeetingOut]


class CompanionsOut(BaseModel):
    case_id: str
    query_id: int
    subject_kind: str
    subject: str
    start: datetime
    end: datetime
    target_sightings: int
    companions: list[CompanionOut]


def companions_out(answer: CompanionsAnswer) -> CompanionsOut:
    """The HTTP shape of a companions answer."""
    return CompanionsOut(
        case_id=answer.case_id,
        query_id=answer.query_id,
        subject_kind=answer.subject_kind,
        subject=answer.subject,
        start=answer.start,
        end=answer.end,
        target_sightings=answer.result.target_sightings,
        companions=[_companion(c) for c in answer.result.companions],
    )


def _companion(c: Companion) -> CompanionOut:
    return CompanionOut(
        subject_kind=c.subject_kind,
        subject=c.subject,
        places=c.places,
        meetings=c.meetings,
        first=c.first,
        last=c.last,
        evidence=[MeetingOut.model_validate(m, from_attributes=True) for m in c.evidence],
    )


class ClonedPlatesIn(Justification):
    """Plates read at two places too far apart for the time between."""

    start: UtcTime
    end: UtcTime
    max_kmh: float = Field(150.0, gt=0, le=1000, description="straight-line speed no car reaches in the city")
    min_distance_m: float = Field(
        2_000.0, ge=0, le=100_000, description="reads closer than this are not compared"
    )
    plates: list[str] = Field(
        default_factory=list, max_length=100, description="only these plates (default: all)"
    )


class PlateReadOut(BaseModel):
    event_id: str
    device: str | None
    ts: datetime
    lat: float | None
    lon: float | None
    area: str | None


class PlatePairOut(BaseModel):
    plate: str
    distance_m: float
    seconds: int
    kmh: float
    first: PlateReadOut
    second: PlateReadOut


class ClonedPlatesOut(BaseModel):
    case_id: str
    query_id: int
    start: datetime
    end: datetime
    pairs: list[PlatePairOut]


def cloned_plates_out(answer: ClonedPlatesAnswer) -> ClonedPlatesOut:
    """The HTTP shape of a cloned-plates answer."""
    return ClonedPlatesOut(
        case_id=answer.case_id,
        query_id=answer.query_id,
        start=answer.start,
        end=answer.end,
        pairs=[PlatePairOut.model_validate(p, from_attributes=True) for p in answer.pairs],
    )


class ForgedPlatesIn(Justification):
    """Plates read on a vehicle unlike their registration, or not in the vehicle registry."""

    start: UtcTime
    end: UtcTime
    fields: list[ObservedField] = Field(
        default_factory=lambda: list(OBSERVED_FIELDS),
        min_length=1,
        description="what the cameras' attrs say that is compared with the registration",
    )
    provinces: list[str] = Field(
        default_factory=list,
        max_length=40,
        description="only plates of these prefixes can be unregistered (浙, 浙C); default: every plate",
    )
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="reads the camera was less sure of are left out"
    )
    plates: list[str] = Field(
        default_factory=list, max_length=100, description="only these plates (default: all)"
    )


class ForgedReadOut(PlateReadOut):
    observed: dict[str, str | None]
    confidence: float | None


class ForgedPlateOut(BaseModel):
    plate: str
    mismatch: bool
    unregistered: bool
    differs: list[str]
    reads: int
    last_seen: datetime
    registration: dict[str, Any] | None
    evidence: list[ForgedReadOut]


class ForgedPlatesOut(BaseModel):
    case_id: str
    query_id: int
    start: datetime
    end: datetime
    plates: list[ForgedPlateOut]


def forged_plates_out(answer: ForgedPlatesAnswer) -> ForgedPlatesOut:
    """The HTTP shape of a forged-plates answer."""
    return ForgedPlatesOut(
        case_id=answer.case_id,
        query_id=answer.query_id,
        start=answer.start,
        end=answer.end,
        plates=[ForgedPlateOut.model_validate(p, from_attributes=True) for p in answer.plates],
    )


class PinIn(BaseModel):
    """Evidence to pin to a case."""

    model_config = _STRICT

    kind: PinKind
    ref: str = Field(
        min_length=1, max_length=128, description='"plate:浙C12345", an event id, an alert id, ...'
    )
    label: str = Field("", max_length=200)
    note: str = Field("", max_length=10_000)


class NoteIn(BaseModel):
    model_config = _STRICT

    text: str = Field(min_length=1, max_length=10_000)


class PinOut(BaseModel):
    id: int
    kind: str
    ref: str
    label: str
    note: str
    pinned_by: str
    pinned_at: datetime


class NoteOut(BaseModel):
    id: int
    text: str
    written_by: str
    written_at: datetime


class SavedQueryOut(BaseModel):
    id: int
    kind: str
    title: str
    params: dict[str, Any]
    result_count: int
    asked_by: str
    asked_at: datetime
    result: dict[str, Any] | None = None


class WorkspaceOut(BaseModel):
    case: CaseOut
    queries: list[SavedQueryOut]
    pins: list[PinOut]
    notes: list[NoteOut]


def workspace_out(found: Workspace) -> WorkspaceOut:
    """The HTTP shape of a workspace."""
    return WorkspaceOut(
        case=found.case,
        queries=[SavedQueryOut.model_validate(q, from_attributes=True) for q in found.queries],
        pins=[PinOut.model_validate(p, from_attributes=True) for p in found.pins],
        notes=[NoteOut.model_validate(n, from_attributes=True) for n in found.notes],
    )


__all__ = [
    "ClonedPlatesIn",
    "ClonedPlatesOut",
    "CollisionIn",
    "CollisionOut",
    "CompanionsIn",
    "CompanionsOut",
    "ForgedPlatesIn",
    "ForgedPlatesOut",
    "NoteIn",
    "NoteOut",
    "PinIn",
    "PinOut",
    "SavedQueryOut",
    "WorkspaceOut",
    "cloned_plates_out",
    "collision_out",
    "companions_out",
    "forged_plates_out",
    "workspace_out",
]
