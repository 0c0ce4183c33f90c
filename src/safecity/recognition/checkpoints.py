"""Checkpoint control: plate reads matched against the vehicle lists, hits kept, warnings raised,
and the checkpoint officer's view of them with the stop and its outcome.

`CheckpointWatch` follows the record stream (its own subscriber group, beside the rules), so a
plate read counts whoever read it: a camera that sends `plate_read` itself, or the platform's
readers. Each read is looked up in the fuzzy matcher (`plate_match`: the OCR's confusions cost
less), built again whenever the watchlist the rules hold changes. Every hit is kept (one per read
and entry: a redelivered batch adds none); a hit on an `alert` list also becomes a warning,
routed like any other, explained by the entry, the read and its distance. What each list does
is `checkpoint_lists.yaml` (`lists.py`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
import structlog
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.bus import RECORDS, Bus
from safecity.core.audit import AuditEntry, Recorder, subject
from safecity.core.clock import Clock
from safecity.core.context import Context
from safecity.core.finding import Evidence, Finding, SubjectFacts
from safecity.core.kinds import RecordKind, SubjectKind
from safecity.recognition.errors import HitConflict, HitNotFound
from safecity.recognition.lists import HitAction, ListPolicy
from safecity.recognition.models import CheckpointHit, HitStatus
from safecity.recognition.plate_match import PlateMatcher
from safecity.recognition.shown import ShownImages
from safecity.store import transaction

log = structlog.get_logger(__name__)
HITS = Counter("safecity_checkpoint_hits_total", "Checkpoint hits by list and action", ["list", "action"])
KIND = RecordKind.PLATE_READ.value
RULE_KIND = "checkpoint_hit"


class WatchSource:
    """The vehicle lists as a matcher, rebuilt when the watchlist the rules hold is reloaded."""

    def __init__(self, watchlist: Callable[[datetime], pl.DataFrame], policies: dict[str, ListPolicy]):
        self._watchlist = watchlist
        self.policies = policies
        self._frame: pl.DataFrame | None = None
        self._listed: frozenset[int] | None = None  # the plate entries the matcher was built from
        self._matcher: PlateMatcher | None = None

    def matcher(self, now: datetime) -> PlateMatcher:
        """The matcher of the plate entries in force (built again only when they change)."""
        frame = self._watchlist(now)
        if frame is self._frame and self._matcher is not None:
            return self._matcher
        self._frame = frame
        plates = frame.filter(
            (pl.col("subject_kind") == SubjectKind.PLATE) & pl.col("list_kind").is_in(list(self.policies))
        )
        listed = frozenset(plates["entry_id"].cast(pl.Int64).to_list())
        # The watchlist is reloaded every few seconds; 100,000 plates take a second to index.
        if listed != self._listed or self._matcher is None:
            rows = plates.select("entry_id", "subject", "list_kind").iter_rows()
            self._matcher = PlateMatcher.build(
                [(int(e), str(s), str(k)) for e, s, k in rows],
                {name: p.max_distance for name, p in self.policies.items()},
            )
            self._listed = listed
        return self._matcher


@dataclass(frozen=True, slots=True)
class Hit:
    """One read within a list's distance of a listed plate, before it is kept."""

    row: dict[str, Any]  # the plate_read record
    entry_id: int
    list_kind: str
    listed_plate: str
    distance: float
    policy: ListPolicy


def find_hits(batch: pl.DataFrame, source: WatchSource, now: datetime) -> list[Hit]:
    """The hits of a batch of records (plate reads only; others are ignored)."""
    if not batch.height or not batch["kind"].eq(KIND).any():
        return []
    matcher = source.matcher(now)
    hits = []
    for row in batch.filter(pl.col("kind") == KIND).iter_rows(named=True):
        for match in matcher.match(row["subject"]):
            policy = source.policies[match.list_kind]
            hits.append(Hit(row, match.entry_id, match.list_kind, match.plate, match.distance, policy))
    return hits


def _attrs(row: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(row["attrs"]) if row.get("attrs") else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _evidence(row: dict[str, Any]) -> Evidence:
    return Evidence(
        event_id=row["event_id"],
        corr_id=row["corr_id"],
        kind=row["kind"],
        subject=row["subject"],
        device=row["device"],
        ts=row["ts"],
        lat=row["lat"],
        lon=row["lon"],
        area=row["area"],
        code=row["code"],
    )


def finding_of(hit: Hit, facts: SubjectFacts) -> Finding:
    """The warning a hit on an alert list raises: the entry, the read, how near it came."""
    attrs = _attrs(hit.row)
    read = {
        "plate_read": hit.row["subject"],
        "listed_plate": hit.listed_plate,
        "distance": hit.distance,
        "confidence": hit.row["value"],
        "image": attrs.get("image"),
        "read_by": attrs.get("reader", "camera"),
    }
    return Finding(
        rule=f"checkpoint-{hit.list_kind}",
        rule_kind=RULE_KIND,
        severity=hit.policy.severity,
        title=hit.policy.title,
        subject_kind=SubjectKind.PLATE,
        subject=hit.listed_plate,
        dedup_key=str(hit.entry_id),
        at=hit.row["ts"],
        evidence=(_evidence(hit.row),),
        facts={**facts.values, **read},
        params={
            "list": hit.list_kind,
            "max_distance": hit.policy.max_distance,
            "priority": hit.policy.priority,
        },
        refs=facts.refs,
    )


class CheckpointWatch:
    """Follows the record stream: keeps hits, raises the warnings of alert lists."""

    GROUP = "recognition-checkpoints"

    def __init__(
        self,
        bus: Bus,
        sessions: sessionmaker[Session],
        source: WatchSource,
        entry_facts: Callable[[list[int]], dict[int, SubjectFacts]],
        raise_findings: Callable[[list[Finding]], None],
        clock: Clock,
    ) -> None:
        self._bus = bus
        self._sessions = sessions
        self._source = source
        self._entry_facts = entry_facts
        self._raise = raise_findings
        self._clock = clock

    async def run(self) -> None:
        async for delivery in self._bus.subscribe(RECORDS, group=self.GROUP):
            if isinstance(delivery.payload, pl.DataFrame) and delivery.payload.height:
                try:
                    await asyncio.to_thread(self.take, delivery.payload)
                except Exception:
                    # Unacknowledged: a persistent bus delivers it again; the hits are idempotent.
                    log.exception("checkpoint.batch_failed")
                    continue
            await delivery.ack()

    def take(self, batch: pl.DataFrame) -> list[int]:
        """Keep the batch's hits and raise the warnings of the new ones; return the new hits' ids."""
        now = self._clock.now()
        hits = find_hits(batch, self._source, now)
        if not hits:
            return []
        kept = self._keep(hits, now)
        alerting = [h for h, _ in kept if h.policy.action is HitAction.ALERT]
        if alerting:
            facts = self._entry_facts(sorted({h.entry_id for h in alerting}))
            self._raise([finding_of(h, facts.get(h.entry_id, SubjectFacts())) for h in alerting])
        for hit, _ in kept:
            HITS.labels(hit.list_kind, hit.policy.action.value).inc()
        return [hit_id for _, hit_id in kept]

    def _keep(self, hits: Sequence[Hit], now: datetime) -> list[tuple[Hit, int]]:
        kept: list[tuple[Hit, int]] = []
        with transaction(self._sessions) as session:
            seen = {
                (event_id, entry_id)
                for event_id, entry_id in session.execute(
                    select(CheckpointHit.event_id, CheckpointHit.entry_id).where(
                        CheckpointHit.event_id.in_({h.row["event_id"] for h in hits})
                    )
                )
            }
            for hit in hits:
                if (hit.row["event_id"], hit.entry_id) in seen:
                    continue
                seen.add((hit.row["event_id"], hit.entry_id))
                row = CheckpointHit(
                    event_id=hit.row["event_id"],
                    corr_id=hit.row["corr_id"],
                    device=hit.row["device"],
                    area=hit.row["area"],
                    ts=hit.row["ts"],
                    lat=hit.row["lat"],
                    lon=hit.row["lon"],
                    plate_read=hit.row["subject"],
                    confidence=hit.row["value"],
                    image_id=_attrs(hit.row).get("image"),
                    entry_id=hit.entry_id,
                    list_kind=hit.list_kind,
                    listed_plate=hit.listed_plate,
                    distance=hit.distance,
                    priority=hit.policy.priority,
                    action=hit.policy.action.value,
                    status=HitStatus.NEW,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                kept.append((hit, row.id))
        return kept


@dataclass(frozen=True, slots=True)
class HitView:
    """A hit as the checkpoint officer sees it."""

    id: int
    ts: datetime
    device: str
    area: str | None
    lat: float | None
    lon: float | None
    plate_read: str
    listed_plate: str
    list_kind: str
    distance: float
    confidence: float | None
    priority: int
    action: str
    image_id: str | None
    status: str
    outcome: str | None
    handled_by: str | None
    handled_at: datetime | None


def hit_view(row: CheckpointHit) -> HitView:
    """The officer's view of a kept hit."""
    return HitView(
        row.id,
        row.ts,
        row.device,
        row.area,
        row.lat,
        row.lon,
        row.plate_read,
        row.listed_plate,
        row.list_kind,
        row.distance,
        row.confidence,
        row.priority,
        row.action,
        row.image_id,
        row.status,
        row.outcome,
        row.handled_by,
        row.handled_at,
    )


class Checkpoints:
    """The checkpoint officer's use cases: the hits of their areas, and each stop's outcome."""

    def __init__(
        self, sessions: sessionmaker[Session], recorder: Recorder, clock: Clock, shown: ShownImages
    ) -> None:
        self._sessions = sessions
        self._recorder = recorder
        self._clock = clock
        self._shown = shown

    @staticmethod
    def _in_reach(stmt: Any, ctx: Context) -> Any:
        return stmt if ctx.city_wide else stmt.where(CheckpointHit.area.in_(sorted(ctx.areas)))

    def hits(
        self,
        ctx: Context,
        *,
        after: int = 0,
        status: str | None = None,
        device: str | None = None,
        limit: int = 50,
    ) -> list[HitView]:
        """Hits of the caller's areas, newest first; only those after id `after` (live polling)."""
        stmt = self._in_reach(select(CheckpointHit), ctx).where(CheckpointHit.id > after)
        if status is not None:
            stmt = stmt.where(CheckpointHit.status == status)
        if device is not None:
            stmt = stmt.where(CheckpointHit.device == device)
        stmt = stmt.order_by(CheckpointHit.id.desc()).limit(limit)
        with self._sessions() as session:
            return [hit_view(h) for h in session.scalars(stmt)]

    def hit(self, ctx: Context, hit_id: int) -> HitView:
        """One hit in the caller's reach (AccessDenied for another area's)."""
        with self._sessions() as session:
            return hit_view(self._require(session, ctx, hit_id))

    def _require(self, session: Session, ctx: Context, hit_id: int) -> CheckpointHit:
        row = session.get(CheckpointHit, hit_id)
        if row is None:
            raise HitNotFound(f"there is no checkpoint hit {hit_id}", field="hit_id")
        ctx.require_area(row.area, what=f"checkpoint hit {hit_id}")
        return row

    def record_outcome(
        self, ctx: Context, hit_id: int, *, status: str, outcome: str, resource: str
    ) -> HitView:
        """Record what the checkpoint did: stopped (and what was found), not stopped, or a misread."""
        if status not in (HitStatus.STOPPED, HitStatus.NOT_STOPPED, HitStatus.MISREAD):
            raise HitConflict("status: stopped, not_stopped or misread", field="status")
        with transaction(self._sessions) as session:
            row = self._require(session, ctx, hit_id)
            if row.status != HitStatus.NEW:
                raise HitConflict(
                    f"hit {hit_id} was recorded as {row.status} by {row.handled_by} already", field="status"
                )
            row.status, row.outcome = status, outcome.strip() or None
            row.handled_by, row.handled_at = ctx.actor, self._clock.now()
            view = hit_view(row)
        self._recorder.record(
            ctx,
            AuditEntry(
                "checkpoint.outcome",
                resource,
                subjects=[subject(SubjectKind.PLATE, view.listed_plate)],
                detail={"hit": hit_id, "status": status, "list": view.list_kind},
            ),
        )
        return view

    async def hit_image(self, ctx: Context, hit_id: int, *, resource: str) -> bytes:
        """The image of a hit in reach as the console may show it (every face mosaicked); audited."""

        def find() -> tuple[str, str]:
            with self._sessions() as session:
                hit = self._require(session, ctx, hit_id)
                if hit.image_id is None:
                    raise HitNotFound(
                        f"hit {hit_id} has no image: the camera read the plate itself", field="hit_id"
                    )
                return hit.image_id, hit.listed_plate

        image_id, plate = await asyncio.to_thread(find)
        data = await self._shown.masked(image_id)
        self._recorder.record(
            ctx,
            AuditEntry(
                "checkpoint.image",
                resource,
                subjects=[subject(SubjectKind.PLATE, plate)],
                detail={"hit": hit_id, "image": image_id},
            ),
        )
        return data


__all__ = [
    "CheckpointWatch",
    "Checkpoints",
    "Hit",
    "HitView",
    "WatchSource",
    "find_hits",
    "finding_of",
    "hit_view",
]
