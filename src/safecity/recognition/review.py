"""The face review queue: a trained reviewer compares each face hit with the enrolled photos and
confirms or rejects it; only a confirmed hit becomes a warning that reaches a unit.

Every look and every decision is audited. The reviewer sees the camera image with every other
face mosaicked, and the enrolment photos. A decision is final (one reviewer, once); a hit nobody
decided within `recognition_review_expiry_minutes` expires. The precision report counts the
decisions per list, camera and distance band, so that thresholds are set from what reviewers
found, not from what the vendor promised.
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.clock import Clock
from safecity.core.context import Context
from safecity.core.finding import Evidence, Finding, SubjectFacts
from safecity.core.kinds import RecordKind, SubjectKind
from safecity.recognition.errors import HitConflict, HitNotFound
from safecity.recognition.images import ImageFiles
from safecity.recognition.models import FaceEnrolment, FaceReview, FaceSighting, ReviewStatus
from safecity.recognition.shown import ShownImages
from safecity.store import transaction

RULE_KIND = "face_review"
TITLES = {
    "fugitive": ("high", "在逃人员比中 (fugitive seen, confirmed by a face reviewer)"),
    "missing_person": ("high", "走失人员比中 (missing person seen, confirmed by a face reviewer)"),
}
BANDS = (0.35, 0.45, 0.5, 0.55, 0.6)  # distance bands of the precision report


@dataclass(frozen=True, slots=True)
class ReviewView:
    """A face hit as the reviewer sees it."""

    id: int
    status: str
    list_kind: str
    reference: str
    label: str
    photos: int  # enrolment photos to compare with
    distance: float | None  # None: the camera matched it itself
    device: str
    area: str | None
    ts: datetime
    lat: float | None
    lon: float | None
    has_image: bool
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class PrecisionRow:
    """Decisions in one group: how many confirmed, rejected, expired, and the precision."""

    group: str
    confirmed: int
    rejected: int
    expired: int
    pending: int

    @property
    def precision(self) -> float | None:
        """Confirmed of decided; None before any decision."""
        decided = self.confirmed + self.rejected
        return None if decided == 0 else self.confirmed / decided


class Reviews:
    """The reviewer's use cases."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        recorder: Recorder,
        clock: Clock,
        shown: ShownImages,
        files: ImageFiles,
        entry_facts: Callable[[list[int]], dict[int, SubjectFacts]],
        raise_findings: Callable[[list[Finding]], None],
        *,
        expiry_minutes: float,
    ) -> None:
        self._sessions = sessions
        self._recorder = recorder
        self._clock = clock
        self._shown = shown
        self._files = files
        self._entry_facts = entry_facts
        self._raise = raise_findings
        self._expiry = timedelta(minutes=expiry_minutes)

    def _view(self, session: Session, row: FaceReview) -> ReviewView:
        enrolment = session.scalars(
            select(FaceEnrolment).where(FaceEnrolment.entry_id == row.entry_id)
        ).first()
        return ReviewView(
            row.id,
            row.status,
            row.list_kind,
            row.reference,
            enrolment.label if enrolment else row.reference,
            len(enrolment.photos) if enrolment else 0,
            row.distance,
            row.device,
            row.area,
            row.ts,
            row.lat,
            row.lon,
            row.image_id is not None,
            row.created_at,
            row.decided_by,
            row.decided_at,
            row.reason,
        )

    def _require(self, session: Session, ctx: Context, review_id: int) -> FaceReview:
        row = session.get(FaceReview, review_id)
        if row is None:
            raise HitNotFound(f"there is no face review {review_id}", field="review_id")
        ctx.require_area(row.area, what=f"face review {review_id}")
        return row

    def queue(self, ctx: Context, *, status: str | None = "pending", limit: int = 50) -> list[ReviewView]:
        """Hits of the caller's areas: pending ones oldest first (first come, first judged), else newest."""
        stmt = select(FaceReview)
        if not ctx.city_wide:
            stmt = stmt.where(FaceReview.area.in_(sorted(ctx.areas)))
        if status:
            stmt = stmt.where(FaceReview.status == status)
        order = FaceReview.id.asc() if status == ReviewStatus.PENDING else FaceReview.id.desc()
        with self._sessions() as session:
            return [self._view(session, r) for r in session.scalars(stmt.order_by(order).limit(limit))]

    def item(self, ctx: Context, review_id: int) -> ReviewView:
        """One hit in reach."""
        with self._sessions() as session:
            return self._view(session, self._require(session, ctx, review_id))

    async def camera_image(self, ctx: Context, review_id: int, *, resource: str) -> bytes:
        """The camera's image of the hit, every face but the hit's mosaicked; audited."""

        def find() -> tuple[str, list[int] | None, str]:
            with self._sessions() as session:
                row = self._require(session, ctx, review_id)
                if row.image_id is None:
                    raise HitNotFound(
                        f"review {review_id} has no image: the camera sent its match only", field="review_id"
                    )
                sighting = session.get(FaceSighting, row.sighting_id) if row.sighting_id else None
                return row.image_id, (list(sighting.box) if sighting else None), row.reference

        image_id, box, reference = await asyncio.to_thread(find)
        data = await (self._shown.for_review(image_id, box) if box else self._shown.masked(image_id))
        self._audit(ctx, "faces.review_image", resource, reference, {"review": review_id, "image": image_id})
        return data

    def enrolment_photo(self, ctx: Context, review_id: int, n: int, *, resource: str) -> bytes:
        """Enrolment photo `n` of the hit's identity, to compare with; audited."""
        with self._sessions() as session:
            row = self._require(session, ctx, review_id)
            enrolment = session.scalars(
                select(FaceEnrolment).where(FaceEnrolment.entry_id == row.entry_id)
            ).first()
            if enrolment is None or not 0 <= n < len(enrolment.photos):
                raise HitNotFound(f"review {review_id} has no enrolment photo {n}", field="n")
            path, reference = enrolment.photos[n], row.reference
        data = self._files.read(path)
        self._audit(ctx, "faces.enrolment_photo", resource, reference, {"review": review_id, "photo": n})
        return data

    def decide(
        self, ctx: Context, review_id: int, *, decision: str, reason: str, resource: str
    ) -> ReviewView:
        """Confirm (a warning goes out now) or reject (nothing goes out); once, audited."""
        if decision not in (ReviewStatus.CONFIRMED, ReviewStatus.REJECTED):
            raise HitConflict("decision: confirmed or rejected", field="decision")
        if decision == ReviewStatus.REJECTED and not reason.strip():
            raise HitConflict(
                "reason: say why it is not the same person (it feeds the precision report)", field="reason"
            )
        now = self._clock.now()
        with transaction(self._sessions) as session:
            row = self._require(session, ctx, review_id)
            if row.status != ReviewStatus.PENDING:
                who = f" by {row.decided_by}" if row.decided_by else ""
                raise HitConflict(f"review {review_id} is {row.status}{who} already", field="decision")
            row.status, row.reason = decision, reason.strip() or None
            row.decided_by, row.decided_at = ctx.actor, now
            view = self._view(session, row)
        self._audit(
            ctx, "faces.review", resource, view.reference, {"review": review_id, "decision": decision}
        )
        if decision == ReviewStatus.CONFIRMED:
            facts = self._entry_facts([self._entry_id(review_id)])
            self._raise([self._finding(view, facts)])
        return view

    def _entry_id(self, review_id: int) -> int:
        with self._sessions() as session:
            row = session.get(FaceReview, review_id)
            assert row is not None
            return row.entry_id

    def _finding(self, view: ReviewView, facts: dict[int, SubjectFacts]) -> Finding:
        entry_id = self._entry_id(view.id)
        about = facts.get(entry_id, SubjectFacts())
        severity, title = TITLES.get(view.list_kind, ("high", "布控人员比中 (listed face seen, confirmed)"))
        evidence = Evidence(
            event_id=f"face-review-{view.id}",
            corr_id=f"face-review-{view.id}",
            kind=RecordKind.FACE_MATCH,
            subject=view.reference,
            device=view.device,
            ts=view.ts,
            lat=view.lat,
            lon=view.lon,
            area=view.area,
        )
        review: dict[str, Any] = {
            "label": view.label,
            "review": view.id,
            "reviewed_by": view.decided_by,
            "reviewed_at": view.decided_at.isoformat() if view.decided_at else None,
            "distance": view.distance,
            "read_by": "camera" if view.distance is None else "safecity",
        }
        return Finding(
            rule=f"face-{view.list_kind}",
            rule_kind=RULE_KIND,
            severity=severity,
            title=title,
            subject_kind=SubjectKind.FACE,
            subject=view.reference,
            dedup_key=str(entry_id),
            at=view.ts,
            evidence=(evidence,),
            facts={**about.values, **review},
            params={"list": view.list_kind},
            refs=about.refs,
        )

    def expire(self) -> int:
        """Expire hits pending longer than the expiry; how many."""
        cutoff = self._clock.now() - self._expiry
        with transaction(self._sessions) as session:
            result = session.execute(
                update(FaceReview)
                .where(FaceReview.status == ReviewStatus.PENDING, FaceReview.created_at < cutoff)
                .values(status=ReviewStatus.EXPIRED)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def precision(self, ctx: Context, *, since: datetime | None = None) -> dict[str, list[PrecisionRow]]:
        """Decisions by list, by camera and by distance band (the caller's areas)."""
        stmt = select(FaceReview.list_kind, FaceReview.device, FaceReview.distance, FaceReview.status)
        if not ctx.city_wide:
            stmt = stmt.where(FaceReview.area.in_(sorted(ctx.areas)))
        if since is not None:
            stmt = stmt.where(FaceReview.created_at >= since)
        with self._sessions() as session:
            rows = session.execute(stmt).all()
        groups: dict[str, dict[str, Tally[str]]] = {"list": {}, "camera": {}, "distance": {}}
        for list_kind, device, distance, status in rows:
            band = "camera's own" if distance is None else _band(distance)
            for axis, key in (("list", list_kind), ("camera", device), ("distance", band)):
                groups[axis].setdefault(key, Tally())[status] += 1
        return {
            axis: [
                PrecisionRow(key, t["confirmed"], t["rejected"], t["expired"], t["pending"])
                for key, t in sorted(tallies.items())
            ]
            for axis, tallies in groups.items()
        }

    def _audit(
        self, ctx: Context, action: str, resource: str, reference: str, detail: dict[str, Any]
    ) -> None:
        self._recorder.record(
            ctx, AuditEntry(action, resource, subjects=[subject(SubjectKind.FACE, reference)], detail=detail)
        )


def _band(distance: float) -> str:
    low = 0.0
    for high in BANDS:
        if distance < high:
            return f"{low:.2f}-{high:.2f}"
        low = high
    return f"{BANDS[-1]:.2f}+"


__all__ = ["PrecisionRow", "ReviewView", "Reviews"]
