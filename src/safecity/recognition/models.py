"""The recognition tables: camera images, checkpoint hits, enrolled faces, face sightings, reviews.

An image's bytes live in a file under the images folder (`images.py`), its row here says whose
it is, where and when it was taken, what recognition made of it and how long it is kept. A
checkpoint hit is one plate read (whoever read it: a camera or the platform's own reader) that
came within a list's distance of a watch-listed plate; the officer at the checkpoint records
whether the vehicle was stopped and what came of it. A face enrolment holds the descriptor of
a watch-listed identity (the listing itself, with basis and expiry, is the core watchlist's
entry); a face sighting is a face found in a camera image; a face review is a sighting near an
enrolled face, waiting for a person to confirm it before anyone is sent.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safecity.store import Base, UtcDateTime


class ImageStatus(StrEnum):
    """Where an image is in recognition."""

    QUEUED = "queued"  # stored, waiting for a worker
    READING = "reading"  # claimed by one reader (read_at: when); back to queued if it never finishes
    READ = "read"  # recognition ran (it may have found nothing)
    FAILED = "failed"  # recognition could not run on it (a poisoned image): error says why


class HitStatus(StrEnum):
    """What the checkpoint made of a hit."""

    NEW = "new"
    STOPPED = "stopped"  # the vehicle was stopped and checked
    NOT_STOPPED = "not_stopped"  # it passed before it could be stopped
    MISREAD = "misread"  # the officer saw the plate: not the listed one (feeds the precision report)


class CapturedImage(Base):
    """A camera's image as received: a frame or a crop, with what recognition made of it."""

    __tablename__ = "captured_images"
    __table_args__ = (Index("ix_captured_images_ts", "ts"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), index=True)
    area: Mapped[str | None] = mapped_column(String(32), index=True)  # the camera's area
    ts: Mapped[datetime] = mapped_column(UtcDateTime)  # when the camera took it
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(8))  # http | mqtt | sim
    purpose: Mapped[str] = mapped_column(String(8))  # plate | face | any: what to look for
    framing: Mapped[str] = mapped_column(String(8))  # frame | crop
    box: Mapped[list[int] | None] = mapped_column(JSON)  # x, y, w, h the camera marked, if any
    content_type: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(128))  # relative to the images folder
    # The copy the console shows outside face review: every face in it blurred (made by the reader).
    masked_path: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(8), default=ImageStatus.QUEUED, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    readings: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # what was read, with boxes
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Deleted (row and file) after this unless it became evidence of a hit or a review (then None:
    # it goes with them).
    retain_until: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class ReviewStatus(StrEnum):
    """Where a face hit is in review."""

    PENDING = "pending"  # waits for a reviewer: nobody has been sent anywhere
    CONFIRMED = "confirmed"  # the reviewer saw the same person: a warning went out
    REJECTED = "rejected"  # not the same person: nothing went out
    EXPIRED = "expired"  # nobody decided in time (the person has long moved on)


class FaceEnrolment(Base):
    """A watch-listed identity's face: the descriptor of its photos, for one watchlist entry."""

    __tablename__ = "face_enrolments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(Integer, unique=True)  # the watchlist entry (list, basis, expiry)
    reference: Mapped[str] = mapped_column(String(64), unique=True)  # the entry's subject: F-<n>
    label: Mapped[str] = mapped_column(String(128))  # what reviewers see: "在逃 张某 (case 2026-118)"
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # 128 float32, dlib's scale
    photos: Mapped[list[str]] = mapped_column(JSON)  # kept photos, relative to the images folder
    spread: Mapped[float] = mapped_column(Float)  # farthest photo from the mean descriptor
    max_distance: Mapped[float | None] = mapped_column(Float)  # this identity's own threshold, if set
    person_id: Mapped[int | None] = mapped_column(Integer)  # the registry's person, when known
    enrolled_by: Mapped[str] = mapped_column(String(128))
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FaceSighting(Base):
    """A face a reader found in a camera image, with its descriptor: what a lost person's photo is
    searched against. Unmatched ones are kept only hours (retain_until); matched ones with their review."""

    __tablename__ = "face_sightings"
    __table_args__ = (Index("ix_face_sightings_ts", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(String(32), index=True)
    device: Mapped[str] = mapped_column(String(64))
    area: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    box: Mapped[list[int]] = mapped_column(JSON)  # left, top, right, bottom
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    size_px: Mapped[int] = mapped_column(Integer)
    sharpness: Mapped[float] = mapped_column(Float)
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    retain_until: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class FaceReview(Base):
    """A face hit waiting for (or decided by) a trained reviewer; nothing reaches a unit before."""

    __tablename__ = "face_reviews"
    __table_args__ = (
        Index("ix_face_reviews_status_area", "status", "area"),
        UniqueConstraint("sighting_id", "entry_id"),
        UniqueConstraint("event_id", "entry_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sighting_id: Mapped[int | None] = mapped_column(Integer)  # a face our readers found
    event_id: Mapped[str | None] = mapped_column(String(64))  # or a camera's own face_match record
    entry_id: Mapped[int] = mapped_column(Integer, index=True)
    list_kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(64))
    distance: Mapped[float | None] = mapped_column(Float)  # descriptor distance (None: the camera's match)
    device: Mapped[str] = mapped_column(String(64))
    area: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    image_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default=ReviewStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class CheckpointHit(Base):
    """A plate read that came within a list's distance of a watch-listed plate."""

    __tablename__ = "checkpoint_hits"
    __table_args__ = (
        UniqueConstraint("event_id", "entry_id"),  # a redelivered batch makes no second hit
        Index("ix_checkpoint_hits_area_ts", "area", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))  # the plate_read record
    corr_id: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64), index=True)
    area: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    plate_read: Mapped[str] = mapped_column(String(16))  # as read
    confidence: Mapped[float | None] = mapped_column(Float)
    image_id: Mapped[str | None] = mapped_column(String(32), index=True)
    entry_id: Mapped[int] = mapped_column(Integer, index=True)  # the watchlist entry
    list_kind: Mapped[str] = mapped_column(String(32))
    listed_plate: Mapped[str] = mapped_column(String(16))
    distance: Mapped[float] = mapped_column(Float)
    priority: Mapped[int] = mapped_column(Integer)  # 1 is the most urgent
    action: Mapped[str] = mapped_column(String(8))  # alert | log
    status: Mapped[str] = mapped_column(String(12), default=HitStatus.NEW)
    outcome: Mapped[str | None] = mapped_column(Text)
    handled_by: Mapped[str | None] = mapped_column(String(128))
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


__all__ = [
    "CapturedImage",
    "CheckpointHit",
    "FaceEnrolment",
    "FaceReview",
    "FaceSighting",
    "HitStatus",
    "ImageStatus",
    "ReviewStatus",
]
