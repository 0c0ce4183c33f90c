"""A lost person's photo searched across the recent face sightings of every camera, under a case.

The photo (a guardian's or an officer's) is described in the reader pool with enrolment's checks
(one clear face). Its descriptor is compared exactly with every face sighting of the last hours
(`face_index.SightingStore`: blocks by time, a matrix-vector product each), kept in memory here
and topped up from the sightings table at most every `REFRESH_S`. Candidates are those of the
case's areas within the distance asked, most alike first, each with place, time and camera; in
time order they are the probable path. Only under an open case the caller works, with a purpose;
audited with every candidate. Unmatched faces are kept only `recognition_unmatched_face_hours`:
nothing older can be found, by design.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry
from safecity.core.clock import Clock
from safecity.recognition.enrol import EnrolmentRefused
from safecity.recognition.errors import HitNotFound
from safecity.recognition.face_index import SightingHit, SightingStore
from safecity.recognition.images import ImageFiles, inspect_image
from safecity.recognition.models import FaceSighting
from safecity.recognition.pool import ReaderPool
from safecity.recognition.reading import describe_photos
from safecity.recognition.shown import ShownImages
from safecity.security import AccessDenied, Principal, Security
from safecity.security.cases import justify

REFRESH_S = 5.0
MAX_CANDIDATES = 50


@dataclass(frozen=True, slots=True)
class Candidate:
    """A face sighting like the photo: where, when, how alike (distance: lower is more alike)."""

    sighting_id: int
    distance: float
    ts: datetime
    device: str
    area: str | None
    lat: float | None
    lon: float | None
    image_id: str


@dataclass(frozen=True, slots=True)
class LostAnswer:
    """The candidates, most alike first, and the window searched."""

    case_id: str
    since: datetime
    until: datetime
    searched: int  # sightings in the window, of every area
    candidates: list[Candidate]


class RecentFaces:
    """The face sightings of the last hours in memory, topped up from the table as they arrive."""

    def __init__(self, sessions: sessionmaker[Session], *, keep_hours: float) -> None:
        self._sessions = sessions
        self._keep = timedelta(hours=keep_hours)
        self._store = SightingStore()
        self._last_id = 0
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def refresh(self, now: datetime) -> SightingStore:
        """Load sightings added since the last call (at most every REFRESH_S), forget old ones."""
        with self._lock:
            if time.monotonic() - self._loaded_at < REFRESH_S:
                return self._store
            since = now - self._keep
            with self._sessions() as session:
                rows = session.execute(
                    select(FaceSighting.id, FaceSighting.embedding, FaceSighting.ts, FaceSighting.device)
                    .where(FaceSighting.id > self._last_id, FaceSighting.ts >= since)
                    .order_by(FaceSighting.id)
                ).all()
            if rows:
                self._store.add(
                    np.array([r[0] for r in rows], np.int64),
                    np.stack([np.frombuffer(r[1], np.float32) for r in rows]),
                    np.array([int(r[2].timestamp()) for r in rows], np.int64),
                    [r[3] for r in rows],
                )
                self._last_id = max(self._last_id, int(rows[-1][0]))
            self._store.drop_before(int(since.timestamp()))
            self._loaded_at = time.monotonic()
            return self._store


class LostPersonSearch:
    """The lost-person search use case."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        security: Security,
        clock: Clock,
        files: ImageFiles,
        pool: ReaderPool,
        shown: ShownImages,
        *,
        keep_hours: float,
        max_bytes: int,
        max_pixels: int,
    ) -> None:
        self._sessions = sessions
        self._security = security
        self._clock = clock
        self._files = files
        self._pool = pool
        self._shown = shown
        self.keep_hours = keep_hours
        self._max_bytes = max_bytes
        self._max_pixels = max_pixels
        self.recent = RecentFaces(sessions, keep_hours=keep_hours)

    def _areas(self, who: Principal, case_id: str | None, purpose: str | None) -> tuple[str, set[str]]:
        tree = self._security.areas.tree()
        with self._sessions() as session:
            case = justify(
                session, who, case_id=case_id, purpose=purpose, start=None, end=None, area_id=None, tree=tree
            )
        return case.id, {a for a in tree.expand([case.area_id]) if who.reaches(a)}

    async def search(
        self,
        who: Principal,
        photos: list[bytes],
        *,
        case_id: str | None,
        purpose: str | None,
        hours: float,
        max_distance: float,
        resource: str,
    ) -> LostAnswer:
        """Sightings of the case's areas in the last `hours` like the photo, most alike first; audited."""
        case, areas = await asyncio.to_thread(self._areas, who, case_id, purpose)
        if not 0 < hours <= self.keep_hours:
            raise EnrolmentRefused(
                f"hours: 0 to {self.keep_hours:g} (unmatched faces are kept no longer)", field="hours"
            )
        if not photos or len(photos) > 3:
            raise EnrolmentRefused("photos: give 1 to 3 photos of the person", field="photos")
        infos = [
            inspect_image(p, max_bytes=self._max_bytes, max_pixels=self._max_pixels, field=f"photos[{i}]")
            for i, p in enumerate(photos)
        ]
        relatives = [f"lost/{time.time_ns()}-{i}.{info.extension}" for i, info in enumerate(infos)]
        for relative, data in zip(relatives, photos, strict=True):
            await asyncio.to_thread(self._files.write, relative, data)
        try:
            described = await self._pool.run(describe_photos, [str(self._files.path(r)) for r in relatives])
        finally:
            for relative in relatives:  # the photo is the guardian's: nothing of it is kept
                self._files.remove(relative)
        if described.refused is not None:
            _, message, field = described.refused
            raise EnrolmentRefused(message, field=field)
        now = self._clock.now()
        since = now - timedelta(hours=hours)
        store = await asyncio.to_thread(self.recent.refresh, now)
        query = np.frombuffer(described.embedding, np.float32)
        hits = store.search(
            query,
            since_s=int(since.timestamp()),
            until_s=int(now.timestamp()),
            k=MAX_CANDIDATES * 4,
            max_distance=max_distance,
        )
        candidates = await asyncio.to_thread(self._candidates, hits, areas)
        self._security.record(
            who.actor,
            AuditEntry(
                "faces.lost_search",
                resource,
                case_id=case,
                purpose=purpose,
                subjects=[f"face_sighting:{c.sighting_id}" for c in candidates],
                result_count=len(candidates),
                detail={"hours": hours, "max_distance": max_distance, "photos": len(photos)},
            ),
        )
        return LostAnswer(case, since, now, len(store), candidates)

    def _candidates(self, hits: list[SightingHit], areas: set[str]) -> list[Candidate]:
        distance = {h.id: h.distance for h in hits}
        if not distance:
            return []
        with self._sessions() as session:
            rows = session.scalars(select(FaceSighting).where(FaceSighting.id.in_(list(distance)))).all()
        found = [
            Candidate(
                r.id,
                round(distance[r.id], 4),
                r.ts.astimezone(UTC),
                r.device,
                r.area,
                r.lat,
                r.lon,
                r.image_id,
            )
            for r in rows
            if r.area in areas
        ]
        found.sort(key=lambda c: c.distance)
        return found[:MAX_CANDIDATES]

    async def candidate_image(
        self, who: Principal, sighting_id: int, *, case_id: str | None, purpose: str | None, resource: str
    ) -> bytes:
        """A candidate's camera image, every other face mosaicked; under the case, audited."""
        case, areas = await asyncio.to_thread(self._areas, who, case_id, purpose)

        def find() -> FaceSighting:
            with self._sessions() as session:
                row = session.get(FaceSighting, sighting_id)
                if row is None:
                    raise HitNotFound(f"there is no face sighting {sighting_id}", field="sighting_id")
                if row.area not in areas:
                    raise AccessDenied(
                        "outside_case_area",
                        f"face sighting {sighting_id} lies outside case {case}'s areas",
                        field="sighting_id",
                    )
                session.expunge(row)
                return row

        row = await asyncio.to_thread(find)
        data = await self._shown.for_review(row.image_id, list(row.box))
        self._security.record(
            who.actor,
            AuditEntry(
                "faces.lost_image",
                resource,
                case_id=case,
                purpose=purpose,
                subjects=[f"face_sighting:{sighting_id}"],
                detail={"image": row.image_id},
            ),
        )
        return data


__all__ = ["Candidate", "LostAnswer", "LostPersonSearch", "RecentFaces"]
