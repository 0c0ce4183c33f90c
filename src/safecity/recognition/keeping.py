"""How recognition's data ages out: routine images and unmatched faces in hours, evidence with the
hits and reviews it explains, enrolled faces with their watchlist entry.

Two mechanisms, on purpose. Camera images and unmatched face sightings carry their own
`retain_until` (hours, from the settings) and `Housekeeping` deletes them every few minutes, row
and file: a face that matched nothing must not wait for the nightly retention run. The retention
policy's entries (`safecity retention apply`) then take the evidence: hits and reviews with
their sightings and images, enrolments whose entry is gone; and, as a backstop, any unmatched
sighting older than its period. Files whose row is gone are swept here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy import ColumnElement, column, delete, exists, or_, select, table
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import Clock
from safecity.recognition.images import ImageFiles
from safecity.recognition.models import (
    CapturedImage,
    CheckpointHit,
    FaceEnrolment,
    FaceReview,
    FaceSighting,
    ReviewStatus,
)
from safecity.store import transaction
from safecity.store.retention import Cutoff, Purgeable, RetentionEntry

log = structlog.get_logger(__name__)
ENROLMENT_DIR = "enrolment"


def _in_use() -> ColumnElement[bool]:
    """Images some hit or review still needs."""
    return or_(
        exists(select(CheckpointHit.id).where(CheckpointHit.image_id == CapturedImage.id)),
        exists(select(FaceReview.id).where(FaceReview.image_id == CapturedImage.id)),
    )


class Housekeeping:
    """Deletes what has outlived its hours, and files no row names."""

    def __init__(self, sessions: sessionmaker[Session], files: ImageFiles, clock: Clock) -> None:
        self._sessions = sessions
        self._files = files
        self._clock = clock

    def run(self) -> dict[str, int]:
        """One pass; how many of each were deleted."""
        now = self._clock.now()
        with transaction(self._sessions) as session:
            faces = session.execute(
                delete(FaceSighting).where(
                    FaceSighting.retain_until.is_not(None), FaceSighting.retain_until < now
                )
            ).rowcount  # type: ignore[attr-defined]
            images = self._expired_images(session, now)
        swept = self.sweep()
        if faces or images or swept:
            log.info("recognition.kept_no_longer", faces=faces, images=images, files=swept)
        return {"faces": int(faces or 0), "images": len(images), "files": swept}

    def _expired_images(self, session: Session, now: datetime) -> list[str]:
        rows = session.execute(
            select(CapturedImage.id, CapturedImage.path, CapturedImage.masked_path).where(
                CapturedImage.retain_until.is_not(None), CapturedImage.retain_until < now, ~_in_use()
            )
        ).all()
        ids = [r[0] for r in rows]
        if ids:
            session.execute(delete(FaceSighting).where(FaceSighting.image_id.in_(ids)))
            session.execute(delete(CapturedImage).where(CapturedImage.id.in_(ids)))
        for _, path, masked in rows:
            self._files.remove(path)
            if masked:
                self._files.remove(masked)
        return ids

    def sweep(self) -> int:
        """Delete image files (originals, masked copies, enrolment photos) that no row names."""
        with self._sessions() as session:
            kept = {p for p in session.scalars(select(CapturedImage.path)) if p}
            kept |= {p for p in session.scalars(select(CapturedImage.masked_path)) if p}
            for photos in session.scalars(select(FaceEnrolment.photos)):
                kept |= set(photos)
        days = [d for d in self._files.days() if d < f"{self._clock.now():%Y-%m-%d}"]
        # Review copies (`.review-<box>.jpg`) are caches: swept with the day, made again on demand.
        removed = self._files.sweep(kept, days=days)
        removed += self._files.sweep(kept, days=[f"{ENROLMENT_DIR}/{r}" for r in self._enrolment_folders()])
        return removed

    def _enrolment_folders(self) -> list[str]:
        root = self._files.path(ENROLMENT_DIR)
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


# --- the retention policy's entries ---------------------------------------------------------------


def _hits(cut: Cutoff) -> Sequence[Purgeable]:
    before = cut("checkpoint_hits")
    return [Purgeable("checkpoint_hits", CheckpointHit, CheckpointHit.ts < before)]


def _reviews(cut: Cutoff) -> Sequence[Purgeable]:
    before = cut("face_reviews")
    decided = FaceReview.status != ReviewStatus.PENDING
    return [
        Purgeable(
            "face_sightings",
            FaceSighting,
            FaceSighting.matched
            & FaceSighting.ts.__lt__(before)
            & ~exists(select(FaceReview.id).where(FaceReview.sighting_id == FaceSighting.id, ~decided)),
        ),
        Purgeable("face_reviews", FaceReview, decided & (FaceReview.ts < before)),
    ]


def _evidence_images(cut: Cutoff) -> Sequence[Purgeable]:
    # Images kept as evidence (retain_until None) once no hit or review needs them any more.
    return [
        Purgeable(
            "captured_images",
            CapturedImage,
            CapturedImage.retain_until.is_(None) & (CapturedImage.ts < cut("checkpoint_hits")) & ~_in_use(),
        )
    ]


def _unmatched(cut: Cutoff) -> Sequence[Purgeable]:
    return [
        Purgeable(
            "face_sightings",
            FaceSighting,
            ~FaceSighting.matched & (FaceSighting.ts < cut("unmatched_face_sightings")),
        )
    ]


# The registry's table by name only: its model is the registry's own (import contract).
_ENTRIES = table("watchlist_entries", column("id"))


def _enrolments(cut: Cutoff) -> Sequence[Purgeable]:
    gone = ~exists(select(_ENTRIES.c.id).where(_ENTRIES.c.id == FaceEnrolment.entry_id))
    return [Purgeable("face_enrolments", FaceEnrolment, gone)]


CHECKPOINT_HITS = RetentionEntry(
    name="checkpoint_hits",
    description="Checkpoint hits with their outcomes, and the images that are their evidence, "
    "counted from the read.",
    tables=("checkpoint_hits", "captured_images"),
    due=lambda cut: [*_hits(cut), *_evidence_images(cut)],
)
FACE_REVIEWS = RetentionEntry(
    name="face_reviews",
    description="Decided face reviews (confirmed, rejected, expired) with their sightings, "
    "counted from the sighting.",
    tables=("face_reviews", "face_sightings"),
    due=_reviews,
)
UNMATCHED_FACE_SIGHTINGS = RetentionEntry(
    name="unmatched_face_sightings",
    description="A backstop: faces that matched no listed face (housekeeping deletes them after "
    "SAFECITY_RECOGNITION_UNMATCHED_FACE_HOURS, 72 by default).",
    tables=("face_sightings",),
    due=_unmatched,
)
ENDED_FACE_ENROLMENTS = RetentionEntry(
    name="ended_face_enrolments",
    description="Enrolled faces (descriptor and photos) whose watchlist entry has been deleted.",
    tables=("face_enrolments",),
    due=_enrolments,
    at_least=(("closed_watchlist_entries", "an enrolment is its entry's face and goes with it"),),
)

RETENTION = (CHECKPOINT_HITS, FACE_REVIEWS, UNMATCHED_FACE_SIGHTINGS, ENDED_FACE_ENROLMENTS)

__all__ = ["RETENTION", "Housekeeping"]
