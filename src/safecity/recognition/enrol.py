"""Enrolling watch-listed faces: a fugitive's or a missing person's photos become a descriptor.

The listing is the core watchlist's (`registry.list_face`: list, basis, owner station, expiry),
under a new face reference; the descriptor, the photos and a label for reviewers are kept here,
keyed by the entry. The photos are checked in the reader pool as enrolment demands (a face in
each, one only, large enough, all the same person); a refusal names the photo and why, and
keeps nothing.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.clock import Clock
from safecity.core.context import Context
from safecity.core.errors import DomainError
from safecity.core.kinds import SubjectKind
from safecity.recognition.images import ImageFiles, inspect_image
from safecity.recognition.models import FaceEnrolment
from safecity.recognition.pool import ReaderPool
from safecity.recognition.reading import describe_photos
from safecity.store import transaction

MAX_PHOTOS = 5


class EnrolmentRefused(DomainError):
    """The enrolment's description or photos are wrong; the message names which and why."""

    code = "enrolment_refused"


@dataclass(frozen=True, slots=True)
class NewEnrolment:
    """What an officer gives to enrol a face."""

    list_kind: str  # fugitive | missing_person
    label: str  # what reviewers see: "在逃 张某 (温公刑 2026-118)"
    basis: str
    valid_days: int = registry.DEFAULT_WATCH_DAYS
    owner_station_id: str | None = None
    max_distance: float | None = None  # stricter than the list's, for a look-alike-prone face


@dataclass(frozen=True, slots=True)
class Enrolled:
    """An enrolled face: its watchlist entry and reference."""

    entry_id: int
    reference: str
    list_kind: str
    label: str
    photos: int
    spread: float
    expires_at: datetime


class Enrolments:
    """The enrolment use case."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        recorder: Recorder,
        clock: Clock,
        files: ImageFiles,
        pool: ReaderPool,
        *,
        max_bytes: int,
        max_pixels: int,
    ) -> None:
        self._sessions = sessions
        self._recorder = recorder
        self._clock = clock
        self._files = files
        self._pool = pool
        self._max_bytes = max_bytes
        self._max_pixels = max_pixels

    async def enrol(self, ctx: Context, new: NewEnrolment, photos: list[bytes], *, resource: str) -> Enrolled:
        """Check the photos, list the face and keep its descriptor; audited."""
        if new.list_kind not in registry.FACE_LISTS:
            raise EnrolmentRefused(
                f"list_kind: one of {', '.join(sorted(registry.FACE_LISTS))}", field="list_kind"
            )
        if not new.label.strip():
            raise EnrolmentRefused(
                "label: say whom reviewers are comparing with (name or case)", field="label"
            )
        if not 1 <= len(photos) <= MAX_PHOTOS:
            raise EnrolmentRefused(f"photos: give 1 to {MAX_PHOTOS} photos of the person", field="photos")
        station = new.owner_station_id
        if station is not None:
            ctx.require_area(station, what=f"station {station}")
        elif not ctx.city_wide and ctx.home_areas:
            station = ctx.home_areas[0]
        infos = [
            inspect_image(p, max_bytes=self._max_bytes, max_pixels=self._max_pixels, field=f"photos[{i}]")
            for i, p in enumerate(photos)
        ]
        reference = f"F-{secrets.token_hex(6).upper()}"
        relatives = [f"enrolment/{reference}/{i}.{info.extension}" for i, info in enumerate(infos)]
        for relative, data in zip(relatives, photos, strict=True):
            await asyncio.to_thread(self._files.write, relative, data)
        try:
            described = await self._pool.run(describe_photos, [str(self._files.path(r)) for r in relatives])
            if described.refused is not None:
                _, message, field = described.refused
                raise EnrolmentRefused(message, field=field)
            enrolled = await asyncio.to_thread(self._keep, ctx, new, station, reference, relatives, described)
        except BaseException:
            for relative in relatives:
                self._files.remove(relative)
            raise
        self._recorder.record(
            ctx,
            AuditEntry(
                "faces.enrol",
                resource,
                status=201,
                subjects=[subject(SubjectKind.FACE, reference)],
                detail={
                    "entry": enrolled.entry_id,
                    "list": new.list_kind,
                    "photos": len(photos),
                    "basis": new.basis[:200],
                },
            ),
        )
        return enrolled

    def _keep(
        self,
        ctx: Context,
        new: NewEnrolment,
        station: str | None,
        reference: str,
        relatives: list[str],
        described: object,
    ) -> Enrolled:
        from safecity.recognition.reading import Described

        assert isinstance(described, Described)
        now = self._clock.now()
        with transaction(self._sessions) as session:
            listing = registry.Listing(ctx.actor, new.basis, ctx.actor, now, station, new.valid_days)
            entry = registry.list_face(session, reference=reference, list_kind=new.list_kind, listing=listing)
            session.add(
                FaceEnrolment(
                    entry_id=entry.id,
                    reference=reference,
                    label=new.label.strip(),
                    embedding=described.embedding,
                    photos=relatives,
                    spread=described.spread,
                    max_distance=new.max_distance,
                    enrolled_by=ctx.actor,
                    enrolled_at=now,
                )
            )
            return Enrolled(
                entry.id,
                reference,
                new.list_kind,
                new.label.strip(),
                len(relatives),
                described.spread,
                entry.expires_at,
            )


__all__ = ["MAX_PHOTOS", "Enrolled", "EnrolmentRefused", "Enrolments", "NewEnrolment"]
