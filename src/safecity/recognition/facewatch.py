"""Faces against the watch lists: every face the readers find is kept as a sighting and matched
with the enrolled faces; a match becomes a review item, never an alert.

The enrolled faces of active fugitive and missing-person entries are held in a `FaceIndex`
(exact while small, IVF from `IVF_FROM` faces: decisions/0018), built again when the watchlist
the rules hold is reloaded (enrolling or closing an entry announces a watchlist change). Each
list has its own distance (`recognition_*_max_distance`); an enrolment may set a stricter one.

A camera that matched a face itself (`face_match` records) is treated the same way: the record's
subject is the enrolled reference; its hit waits for review like the readers' own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import structlog
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.bus import RECORDS, Bus
from safecity.core.clock import Clock
from safecity.core.kinds import RecordKind, SubjectKind
from safecity.recognition.face_index import FaceIndex, IndexSpec
from safecity.recognition.models import CapturedImage, FaceEnrolment, FaceReview, FaceSighting, ReviewStatus
from safecity.recognition.reading import ReadResult
from safecity.registry import FACE_LISTS
from safecity.store import transaction

log = structlog.get_logger(__name__)
FACE_HITS = Counter(
    "safecity_face_hits_total", "Face hits put before reviewers, by list and source", ["list", "source"]
)
FACES_SEEN = Counter("safecity_face_sightings_total", "Faces found in camera images")
IVF_FROM = 50_000  # below, an exact scan is as fast and needs no training (decisions/0018)
REVIEWED_SOURCE = "review"  # face_match records written when a reviewer confirms: never reviewed again


@dataclass(frozen=True, slots=True)
class Enrolled:
    """An enrolled face in force: its enrolment, watchlist entry, list and threshold."""

    enrolment_id: int
    entry_id: int
    list_kind: str
    reference: str
    max_distance: float


@dataclass(frozen=True, slots=True)
class FaceMatch:
    """An enrolled face near a sighting."""

    enrolled: Enrolled
    distance: float


class EnrolledFaces:
    """The enrolled faces of active entries as an index, rebuilt when the watchlist changes."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        watchlist: Callable[[datetime], pl.DataFrame],
        thresholds: dict[str, float],
    ) -> None:
        self._sessions = sessions
        self._watchlist = watchlist
        self._thresholds = thresholds
        self._frame: pl.DataFrame | None = None
        self._listed: dict[int, str] | None = None  # the face entries the index was built from
        self._index: FaceIndex | None = None
        self._enrolled: dict[int, Enrolled] = {}
        self._by_reference: dict[str, Enrolled] = {}

    def _ensure(self, now: datetime) -> None:
        frame = self._watchlist(now)
        if frame is self._frame and self._index is not None:
            return
        entries = frame.filter(
            (pl.col("subject_kind") == SubjectKind.FACE) & pl.col("list_kind").is_in(sorted(FACE_LISTS))
        )
        listed = {int(e): str(k) for e, k in entries.select("entry_id", "list_kind").iter_rows()}
        self._frame = frame
        # The watchlist is reloaded every few seconds: the index is built again only when the
        # face entries in force changed (an enrolment, a closed or lapsed entry).
        if listed == self._listed and self._index is not None:
            return
        self._listed = listed
        with self._sessions() as session:
            rows = list(
                session.scalars(select(FaceEnrolment).where(FaceEnrolment.entry_id.in_(list(listed))))
            )
        enrolled = {
            r.entry_id: Enrolled(
                r.id,
                r.entry_id,
                listed[r.entry_id],
                r.reference,
                min(r.max_distance or 1.0, self._thresholds[listed[r.entry_id]]),
            )
            for r in rows
        }
        vectors = np.stack([np.frombuffer(r.embedding, np.float32) for r in rows]) if rows else None
        # Identification needs the nearest face, not an exact top ten: a few lists suffice
        # (decisions/0018: the person is found at nprobe 32 of 1024).
        nlist = int(4 * np.sqrt(len(rows)))
        spec = (
            IndexSpec(nlist=0) if len(rows) < IVF_FROM else IndexSpec(nlist=nlist, nprobe=max(8, nlist // 32))
        )
        index = FaceIndex(spec, threads=1)
        if vectors is not None:
            if spec.nlist:
                index.train(vectors)
            index.add(np.array([r.entry_id for r in rows], np.int64), vectors)
        self._index, self._enrolled, self._frame = index, enrolled, frame
        self._by_reference = {e.reference: e for e in enrolled.values()}
        log.info("recognition.enrolled_faces_loaded", faces=len(rows))

    def match(self, embedding: np.ndarray, now: datetime) -> list[FaceMatch]:
        """Enrolled faces within their list's distance of one descriptor, nearest first."""
        self._ensure(now)
        assert self._index is not None
        if not len(self._index):
            return []
        widest = max((e.max_distance for e in self._enrolled.values()), default=0.0)
        hits = self._index.nearest(embedding, k=5, max_distance=widest)
        found = [FaceMatch(self._enrolled[h.id], h.distance) for h in hits if h.id in self._enrolled]
        return [m for m in found if m.distance <= m.enrolled.max_distance]

    def by_reference(self, reference: str, now: datetime) -> Enrolled | None:
        """The enrolled face in force under a reference (a camera's face_match subject)."""
        self._ensure(now)
        return self._by_reference.get(reference)


class FaceWatch:
    """Keeps each face the readers find and puts its matches before reviewers."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        enrolled: EnrolledFaces,
        locate: Callable[[str], tuple[float | None, float | None]],
        clock: Clock,
        *,
        unmatched_hours: float,
    ) -> None:
        self._sessions = sessions
        self._enrolled = enrolled
        self._locate = locate
        self._clock = clock
        self._keep = timedelta(hours=unmatched_hours)

    def take(self, image: CapturedImage, result: ReadResult) -> list[int]:
        """Keep the image's faces; return the ids of the review items their matches made."""
        now = self._clock.now()
        lat, lon = self._locate(image.device)
        reviews: list[FaceReview] = []
        with transaction(self._sessions) as session:
            for face in result.faces:
                embedding = np.frombuffer(face.embedding, np.float32)
                matches = self._enrolled.match(embedding, now)
                sighting = FaceSighting(
                    image_id=image.id,
                    device=image.device,
                    area=image.area,
                    ts=image.ts,
                    lat=lat,
                    lon=lon,
                    box=list(face.box),
                    embedding=face.embedding,
                    size_px=face.size_px,
                    sharpness=face.sharpness,
                    matched=bool(matches),
                    retain_until=None if matches else image.ts + self._keep,
                )
                session.add(sighting)
                session.flush()
                FACES_SEEN.inc()
                for match in matches:
                    reviews.append(
                        self._review(session, match, image, lat, lon, now, sighting_id=sighting.id)
                    )
            if reviews:
                # Evidence of a hit: kept with its review, not with the camera's routine images.
                row = session.get(CapturedImage, image.id)
                if row is not None:
                    row.retain_until = None
            session.flush()
            return [r.id for r in reviews]

    @staticmethod
    def _review(
        session: Session,
        match: FaceMatch,
        image: CapturedImage,
        lat: float | None,
        lon: float | None,
        now: datetime,
        *,
        sighting_id: int,
    ) -> FaceReview:
        review = FaceReview(
            sighting_id=sighting_id,
            entry_id=match.enrolled.entry_id,
            list_kind=match.enrolled.list_kind,
            reference=match.enrolled.reference,
            distance=match.distance,
            device=image.device,
            area=image.area,
            ts=image.ts,
            lat=lat,
            lon=lon,
            image_id=image.id,
            status=ReviewStatus.PENDING,
            created_at=now,
        )
        session.add(review)
        session.flush()
        FACE_HITS.labels(match.enrolled.list_kind, "reader").inc()
        return review


class CameraFaceMatches:
    """Follows the record stream: a camera's own `face_match` waits for review like the readers' hits."""

    GROUP = "recognition-face-matches"

    def __init__(
        self, bus: Bus, sessions: sessionmaker[Session], enrolled: EnrolledFaces, clock: Clock
    ) -> None:
        self._bus = bus
        self._sessions = sessions
        self._enrolled = enrolled
        self._clock = clock

    async def run(self) -> None:
        async for delivery in self._bus.subscribe(RECORDS, group=self.GROUP):
            batch = delivery.payload
            if (
                isinstance(batch, pl.DataFrame)
                and batch.height
                and batch["kind"].eq(RecordKind.FACE_MATCH).any()
            ):
                try:
                    await asyncio.to_thread(self.take, batch)
                except Exception:
                    log.exception("recognition.face_matches_failed")
                    continue
            await delivery.ack()

    def take(self, batch: pl.DataFrame) -> list[int]:
        """Review items for the batch's face matches (reviewed ones and unknown references skipped)."""
        now = self._clock.now()
        rows = batch.filter((pl.col("kind") == RecordKind.FACE_MATCH) & (pl.col("source") != REVIEWED_SOURCE))
        made: list[int] = []
        with transaction(self._sessions) as session:
            for row in rows.iter_rows(named=True):
                enrolled = self._enrolled.by_reference(row["subject"], now)
                if enrolled is None:
                    log.info(
                        "recognition.face_match_unlisted", reference=row["subject"], device=row["device"]
                    )
                    continue
                exists = session.scalar(
                    select(FaceReview.id).where(
                        FaceReview.event_id == row["event_id"], FaceReview.entry_id == enrolled.entry_id
                    )
                )
                if exists is not None:
                    continue
                attrs = _attrs(row["attrs"])
                review = FaceReview(
                    event_id=row["event_id"],
                    entry_id=enrolled.entry_id,
                    list_kind=enrolled.list_kind,
                    reference=enrolled.reference,
                    distance=None,
                    device=row["device"],
                    area=row["area"],
                    ts=row["ts"],
                    lat=row["lat"],
                    lon=row["lon"],
                    image_id=attrs.get("image") if isinstance(attrs.get("image"), str) else None,
                    status=ReviewStatus.PENDING,
                    created_at=now,
                )
                session.add(review)
                session.flush()
                FACE_HITS.labels(enrolled.list_kind, "camera").inc()
                made.append(review.id)
        return made


def _attrs(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


__all__ = ["REVIEWED_SOURCE", "CameraFaceMatches", "EnrolledFaces", "FaceMatch", "FaceWatch"]
