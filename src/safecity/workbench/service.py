"""The workbench's questions as use cases: justify by a case, bound, run on the engine, audit.

Collision and companions are the most intrusive questions the platform answers, so each runs
inside an open case the caller is assigned to, with a purpose: every window must lie inside
the case's time window and near its area, the answer keeps only sightings read in the case's
area (and the caller's), and the question, its windows and the subjects it named are audited.
A refused question is audited by whoever catches the AccessDenied (the HTTP edge).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import polars as pl
from shapely.geometry import shape
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, subject
from safecity.core.geo import BBox
from safecity.core.ids import normalise_plate
from safecity.core.kinds import KIND_SPECS, SubjectKind
from safecity.lake import Lake
from safecity.security import (
    PSEUDONYMISED_SUBJECT_KINDS,
    AccessDenied,
    Permission,
    Principal,
    Pseudonymizer,
    Security,
)
from safecity.security.cases import Justified, justify
from safecity.security.linkage import lake_subjects
from safecity.workbench.collision import TRACEABLE, CollisionResult, check_question, collision
from safecity.workbench.companions import CompanionsResult, companions
from safecity.workbench.engine import Engine
from safecity.workbench.errors import QueryRefused
from safecity.workbench.forged import province_prefixes
from safecity.workbench.forged_search import (
    PLATE_READ_COLUMNS,
    ForgedPlatesAnswer,
    forged_plates,
    forged_reads_expr,
    per_plate_expr,
    registry_table,
)
from safecity.workbench.plates import impossible_travel_expr
from safecity.workbench.vehicle_facts import NAME as VEHICLE_REGISTRY
from safecity.workbench.vehicle_facts import VehicleRegistryFacts
from safecity.workbench.vehicle_models import RegistrationStatus
from safecity.workbench.vehicle_vocabulary import OBSERVED_FIELDS, ObservedField
from safecity.workbench.windows import Window
from safecity.workbench.workspace import Workspaces

MAX_PLATE_SPAN = timedelta(days=31)
MAX_PLATE_PAIRS = 1_000
NEAR_AREA_M = 1_000.0  # a window may reach this far beyond the case's area (a street on its edge)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CollisionAnswer:
    """A collision's page of subjects under the case that justified it."""

    case_id: str
    k: int
    windows: list[Window]
    result: CollisionResult
    query_id: int  # the question as saved in the case's workspace


@dataclass(frozen=True, slots=True)
class CompanionsAnswer:
    """A target's companions under the case that justified it."""

    case_id: str
    subject_kind: str
    subject: str
    start: datetime
    end: datetime
    result: CompanionsResult
    query_id: int


@dataclass(frozen=True, slots=True)
class PlatePair:
    """Two consecutive reads of one plate too far apart for the time between them."""

    plate: str
    distance_m: float
    seconds: int
    kmh: float
    first: dict[str, Any]  # event_id, device, ts, lat, lon, area
    second: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ClonedPlatesAnswer:
    """The impossible pairs of a period under the case that justified the search."""

    case_id: str
    start: datetime
    end: datetime
    pairs: list[PlatePair]
    query_id: int


class Workbench:
    """The analyses over the whole pool, for investigators, one use case per question."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        security: Security,
        lake: Lake,
        pseudonyms: Pseudonymizer,
        engine: Engine,
        workspaces: Workspaces,
        *,
        vehicles: VehicleRegistryFacts | None = None,
    ) -> None:
        self._sessions = session_factory
        self._security = security
        self._lake = lake
        self._pseudonyms = pseudonyms
        self.engine = engine
        self._workspaces = workspaces
        # The rules' copy of the vehicle registry (RegistryChanged keeps it current); a
        # workbench built without one reads its own, once.
        self._vehicles = vehicles or VehicleRegistryFacts(session_factory)

    @classmethod
    def build(cls, platform: Any) -> Workbench:
        """Built with the platform's parts (a `core.capabilities.Service` builder)."""
        from safecity.workbench.settings import WorkbenchSettings

        settings = platform.settings.section(WorkbenchSettings)
        engine = Engine(settings.analysis_engine, spark_master=settings.spark_master)
        return cls(
            platform.session_factory,
            platform.security,
            platform.lake,
            platform.pseudonyms,
            engine,
            platform.service(Workspaces),
            # The rules' copy of the registry when it is installed (one copy, forgotten on change).
            vehicles=platform.facts.source(VEHICLE_REGISTRY)
            if VEHICLE_REGISTRY in platform.facts.sources
            else None,
        )

    def collide(
        self,
        who: Principal,
        windows: Sequence[Window],
        *,
        k: int,
        kinds: Sequence[str] | None = None,
        offset: int = 0,
        limit: int = 100,
        case_id: str | None,
        purpose: str | None,
        resource: str,
    ) -> CollisionAnswer:
        """The subjects seen in at least k of the windows, ranked, with evidence per window."""
        self._require(who)
        checked = check_question(windows, k, kinds)
        case, areas = self._justify(
            who,
            case_id,
            purpose,
            start=min(w.start for w in checked),
            end=max(w.end for w in checked),
        )
        self._check_places(checked, case)
        kinds_of = _lake_kinds(kinds)

        def run(listed: list[list[Path]]) -> CollisionResult:
            with self.engine.session() as engine:
                return collision(
                    engine, listed, checked, k, areas=areas, kinds=kinds, offset=offset, limit=limit
                )

        result = _retry_listing(
            run, lambda: [self._lake.files(start=w.start, end=w.end, kinds=kinds_of) for w in checked]
        )
        self._security.record(
            who.actor,
            AuditEntry(
                "subjects.collide",
                resource,
                case_id=case.id,
                purpose=purpose,
                subjects=[subject(h.subject_kind, h.subject) for h in result.hits],
                result_count=result.total,
                detail={
                    "k": k,
                    "windows": [_described(w) for w in checked],
                    "engine": self.engine.kind.value,
                },
            ),
        )
        described = [_described(w) for w in checked]
        query_id = self._workspaces.save(
            case.id,
            kind="collision",
            title=f"Collision: {len(checked)} windows, seen in at least {k}: {result.total} subjects",
            params={
                "k": k,
                "kinds": list(kinds or []),
                "windows": described,
                "offset": offset,
                "limit": limit,
            },
            result=msgspec.to_builtins(result),
            result_count=result.total,
            by=who.actor.name,
        )
        return CollisionAnswer(case.id, k, checked, result, query_id)

    def companions(
        self,
        who: Principal,
        kind: SubjectKind,
        value: str,
        *,
        start: datetime,
        end: datetime,
        tolerance_s: int = 120,
        ring: int = 1,
        min_meetings: int = 2,
        min_places: int = 2,
        case_id: str | None,
        purpose: str | None,
        resource: str,
    ) -> CompanionsAnswer:
        """Subjects of any kind seen with this one near in time and place, ranked, with evidence."""
        self._require(who)
        if end <= start:
            raise QueryRefused("end must be after start", field="end")
        case, areas = self._justify(who, case_id, purpose, start=start, end=end)
        plain = value.strip().upper() if kind in (SubjectKind.TAG, SubjectKind.PLATE) else value.strip()
        if not plain:
            raise QueryRefused("name the subject whose companions you want", field="value")
        wanted = lake_subjects(self._pseudonyms, kind.value, plain)
        target = self._lake.path(subject_kind=kind.value, subject=wanted, start=start, end=end)
        target = target.filter(pl.col("area").is_in(areas))

        def run(listed: list[Path]) -> CompanionsResult:
            with self.engine.session() as engine:
                return companions(
                    engine,
                    listed,
                    target,
                    target_kind=kind.value,
                    target_values=wanted,
                    start=start,
                    end=end,
                    tolerance_s=tolerance_s,
                    ring=ring,
                    areas=areas,
                    min_meetings=min_meetings,
                    min_places=min_places,
                )

        result = _retry_listing(run, lambda: self._lake.files(start=start, end=end, kinds=_lake_kinds(None)))
        self._security.record(
            who.actor,
            AuditEntry(
                "subjects.companions",
                resource,
                case_id=case.id,
                purpose=purpose,
                subjects=[subject(kind.value, s) for s in wanted]
                + [subject(c.subject_kind, c.subject) for c in result.companions],
                result_count=len(result.companions),
                detail={
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "tolerance_s": tolerance_s,
                    "ring": ring,
                    "target_sightings": result.target_sightings,
                    "engine": self.engine.kind.value,
                },
            ),
        )
        shown = wanted[-1] if kind in PSEUDONYMISED_SUBJECT_KINDS else plain
        query_id = self._workspaces.save(
            case.id,
            kind="companions",
            title=f"Companions of {kind.value} {shown}: {len(result.companions)} found",
            params={
                "subject_kind": kind.value,
                "subject": shown,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "tolerance_s": tolerance_s,
                "ring": ring,
                "min_meetings": min_meetings,
                "min_places": min_places,
            },
            result=msgspec.to_builtins(result),
            result_count=len(result.companions),
            by=who.actor.name,
        )
        return CompanionsAnswer(case.id, kind.value, shown, start, end, result, query_id)

    def cloned_plates(
        self,
        who: Principal,
        *,
        start: datetime,
        end: datetime,
        max_kmh: float = 150.0,
        min_distance_m: float = 2_000.0,
        plates: Sequence[str] | None = None,
        case_id: str | None,
        purpose: str | None,
        resource: str,
    ) -> ClonedPlatesAnswer:
        """Plates read at two places too far apart for the time between: cloned (套牌) or forged."""
        self._require(who)
        _check_span(start, end)
        if not 0 < max_kmh <= 1000:
            raise QueryRefused("max_kmh must be more than 0 and at most 1000", field="max_kmh")
        case, areas = self._justify(who, case_id, purpose, start=start, end=end)
        wanted = _plates(plates)

        def run(listed: list[Path]) -> pl.DataFrame:
            with self.engine.session() as engine:
                expr = impossible_travel_expr(
                    engine.sightings(listed),
                    start=start,
                    end=end,
                    max_kmh=max_kmh,
                    min_distance_m=min_distance_m,
                    areas=areas,
                    plates=wanted,
                )
                return engine.frame(expr.limit(MAX_PLATE_PAIRS))

        def listing() -> list[Path]:
            return self._lake.files(start=start, end=end, kinds=["plate_read"])

        rows = _retry_listing(run, listing)
        pairs = [
            PlatePair(
                r["subject"],
                round(r["distance_m"], 1),
                int(r["seconds"]),
                round(r["kmh"], 1),
                {k: r[f"prev_{k}"] for k in ("event_id", "device", "ts", "lat", "lon", "area")},
                {k: r[k] for k in ("event_id", "device", "ts", "lat", "lon", "area")},
            )
            for r in rows.iter_rows(named=True)
        ]
        self._security.record(
            who.actor,
            AuditEntry(
                "subjects.cloned_plates",
                resource,
                case_id=case.id,
                purpose=purpose,
                subjects=sorted({subject("plate", p.plate) for p in pairs}),
                result_count=len(pairs),
                detail={"start": start.isoformat(), "end": end.isoformat(), "max_kmh": max_kmh},
            ),
        )
        query_id = self._workspaces.save(
            case.id,
            kind="cloned_plates",
            title=f"Cloned plates: {len({p.plate for p in pairs})} plates over {max_kmh:g} km/h",
            params={
                "start": start.isoformat(),
                "end": end.isoformat(),
                "max_kmh": max_kmh,
                "min_distance_m": min_distance_m,
                "plates": wanted or [],
            },
            result={"pairs": msgspec.to_builtins(pairs)},
            result_count=len(pairs),
            by=who.actor.name,
        )
        return ClonedPlatesAnswer(case.id, start, end, pairs, query_id)

    def forged_plates(
        self,
        who: Principal,
        *,
        start: datetime,
        end: datetime,
        fields: Sequence[ObservedField] = OBSERVED_FIELDS,
        provinces: Sequence[str] = (),
        min_confidence: float = 0.0,
        plates: Sequence[str] | None = None,
        case_id: str | None,
        purpose: str | None,
        resource: str,
    ) -> ForgedPlatesAnswer:
        """Plates read on a vehicle unlike their registration, or not registered as in use (假牌)."""
        self._require(who)
        _check_span(start, end)
        if not fields:
            raise QueryRefused("name at least one field to compare", field="fields")
        try:
            provinces = province_prefixes(provinces)
        except ValueError as exc:
            raise QueryRefused(str(exc), field="provinces") from None
        case, areas = self._justify(who, case_id, purpose, start=start, end=end)
        wanted = _plates(plates)
        registrations = self._vehicles.frame()
        held = registry_table(registrations, coarse_types=True)
        void = [RegistrationStatus.SCRAPPED.value, RegistrationStatus.DEREGISTERED.value]

        def run(listed: list[Path]) -> pl.DataFrame:
            with self.engine.session() as engine:
                expr = forged_reads_expr(
                    engine.sightings(listed, columns=PLATE_READ_COLUMNS),
                    engine.table_of(held),
                    start=start,
                    end=end,
                    areas=areas,
                    fields=fields,
                    provinces=provinces,
                    void_statuses=void,
                    min_confidence=min_confidence,
                    plates=wanted,
                    check_unregistered=not registrations.is_empty(),  # no registry imported yet
                )
                return engine.frame(per_plate_expr(expr))

        rows = _retry_listing(run, lambda: self._lake.files(start=start, end=end, kinds=["plate_read"]))
        found = forged_plates(rows, self._vehicles.of(rows["subject"].unique().to_list()))
        self._security.record(
            who.actor,
            AuditEntry(
                "subjects.forged_plates",
                resource,
                case_id=case.id,
                purpose=purpose,
                subjects=sorted(subject("plate", p.plate) for p in found),
                result_count=len(found),
                detail={"start": start.isoformat(), "end": end.isoformat(), "fields": list(fields)},
            ),
        )
        params: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat(), "fields": list(fields)}
        params |= {"provinces": list(provinces), "min_confidence": min_confidence, "plates": wanted or []}
        mismatched = sum(p.mismatch for p in found)
        query_id = self._workspaces.save(
            case.id,
            kind="forged_plates",
            title=f"Forged plates: {mismatched} on the wrong vehicle, {sum(p.unregistered for p in found)} "
            "not registered",
            params=params,
            result={"plates": msgspec.to_builtins(found)},
            result_count=len(found),
            by=who.actor.name,
        )
        return ForgedPlatesAnswer(case.id, start, end, found, query_id)

    def _require(self, who: Principal) -> None:
        if not who.can(Permission.SUBJECTS_TRACE):
            raise AccessDenied(
                "forbidden", f"your role ({who.role.value}) may not trace subjects", field="case_id"
            )

    def _justify(
        self, who: Principal, case_id: str | None, purpose: str | None, *, start: datetime, end: datetime
    ) -> tuple[Justified, list[str]]:
        """The case, and the areas whose sightings the answer may hold (the case's, within reach)."""
        tree = self._security.areas.tree()
        with self._sessions() as session:
            case = justify(
                session, who, case_id=case_id, purpose=purpose, start=start, end=end, area_id=None, tree=tree
            )
        areas = sorted(a for a in tree.expand([case.area_id]) if who.reaches(a))
        return case, areas

    def _check_places(self, windows: Sequence[Window], case: Justified) -> None:
        """Refuse a window whose place lies away from the case's area, naming it."""
        tree = self._security.areas.tree()
        inside = tree.expand([case.area_id])
        with self._sessions() as session:
            extent = _extent(session, inside)
            for i, window in enumerate(windows):
                if window.devices:
                    for device_id in window.devices:
                        device = registry.get_device(session, device_id=device_id)
                        if device is None:
                            raise QueryRefused(
                                f"there is no device {device_id!r}", field=f"windows[{i}].devices"
                            )
                        if device.area_id not in inside:
                            raise AccessDenied(
                                "outside_case_area",
                                f"device {device_id} stands in {device.area_id or 'no area'}, outside "
                                f"case {case.id}'s area {case.area_id}",
                                field=f"windows[{i}].devices",
                            )
                    continue
                box = window.bbox()
                if extent is not None and box is not None and not _near(box, extent, NEAR_AREA_M):
                    raise AccessDenied(
                        "outside_case_area",
                        f"window {i + 1} lies outside case {case.id}'s area {case.area_id}; "
                        "draw it inside the case's area",
                        field=f"windows[{i}]",
                    )


def _check_span(start: datetime, end: datetime) -> None:
    """A plate search's period: not inverted, and at most MAX_PLATE_SPAN long."""
    if end <= start:
        raise QueryRefused("end must be after start", field="end")
    if end - start > MAX_PLATE_SPAN:
        raise QueryRefused(
            f"search at most {MAX_PLATE_SPAN.days} days at a time, or name the plates", field="end"
        )


def _plates(plates: Sequence[str] | None) -> list[str] | None:
    """Plates as typed, normalised (None: every plate)."""
    return sorted({normalise_plate(p) for p in plates or [] if p.strip()}) or None


def _retry_listing(run: Callable[[T], Any], listing: Callable[[], T]) -> Any:
    """Run on the lake's files; once more on a fresh listing if a compaction removed one meanwhile."""
    try:
        return run(listing())
    except Exception as exc:  # each engine words a vanished file its own way
        if (
            "No such file" not in str(exc)
            and "FileNotFound" not in type(exc).__name__
            and "not exist" not in str(exc)
        ):
            raise
        return run(listing())


def _lake_kinds(subject_kinds: Sequence[str] | None) -> list[str]:
    """The record kinds whose partitions can hold sightings of these subject kinds."""
    wanted = set(subject_kinds or TRACEABLE)
    return sorted(spec.kind.value for spec in KIND_SPECS.values() if spec.subject_kind.value in wanted)


def _extent(session: Session, area_ids: frozenset[str]) -> BBox | None:
    """The box around the boundaries of these areas (None when none has one on record)."""
    bounds = []
    for area_id in area_ids:
        area = registry.get_area(session, area_id=area_id)
        if area is not None and area.boundary:
            bounds.append(shape(area.boundary).bounds)  # (west, south, east, north)
    if not bounds:
        return None
    return BBox(
        min(b[1] for b in bounds),
        min(b[0] for b in bounds),
        max(b[3] for b in bounds),
        max(b[2] for b in bounds),
    )


def _near(box: BBox, extent: BBox, margin_m: float) -> bool:
    """Whether two boxes overlap once `extent` is widened by `margin_m`."""
    dlat = margin_m / 111_195.0
    dlon = dlat / max(math.cos(math.radians((extent.south + extent.north) / 2)), 1e-6)
    return not (
        box.north < extent.south - dlat
        or box.south > extent.north + dlat
        or box.east < extent.west - dlon
        or box.west > extent.east + dlon
    )


def _described(window: Window) -> dict[str, Any]:
    """A window as the audit record keeps it."""
    place: dict[str, Any]
    if window.devices:
        place = {"devices": list(window.devices)}
    elif window.center is not None:
        place = {"center": list(window.center), "radius_m": window.radius_m}
    else:
        place = {"polygon": [list(p) for p in window.polygon]}
    return {"start": window.start.isoformat(), "end": window.end.isoformat(), **place}


__all__ = [
    "ClonedPlatesAnswer",
    "CollisionAnswer",
    "CompanionsAnswer",
    "ForgedPlatesAnswer",
    "PlatePair",
    "Workbench",
]
