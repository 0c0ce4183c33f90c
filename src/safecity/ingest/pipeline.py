"""The ingest pipeline: bodies in; records durable in the lake, dead letters kept, batches ledgered.

A part is what one adapter received from one device: a JSON body (`Part`), or events the adapter
decoded itself from a binary protocol (`DecodedPart`), which become the same wire columns
straight from their fields (or, if a field has a type the contract does not allow there, from
their NDJSON rendering) and then take exactly the same path; a refused one is kept with its
NDJSON rendering as its raw text (`decode.py`, decision 0012).

Order of work for one call (several parts, e.g. coalesced MQTT messages, share it):
decode -> validate and enrich -> pseudonymise personal identifiers -> reserve the ids not
accepted before -> stage every lake part (durable, not yet visible) -> ledger + dead letters
(one transaction, status `stored`: the commit point) -> publish the parts -> publish the records
on the bus. A caller acknowledges its device only after this returns, so an event is never
acknowledged before it is stored or dead-lettered with its reason.

A batch is all or nothing. If a part cannot be staged, none is kept, the ledger says `failed`
(with the dead letters) and the sender is told to retry (`StorageUnavailable`, HTTP 503). If the
process dies between staging and publishing, `recover` (at start) publishes the batches the
ledger holds and removes the others, whose senders were never acknowledged (decisions/0006).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, cast

import numpy as np
import polars as pl
import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import Clock
from safecity.core.geo import BBox
from safecity.core.record import WireEvent, empty_records, new_id
from safecity.ingest.decode import (
    Body,
    BodyError,
    DecodeError,
    decode_bodies,
    events_body,
    normalise_body,
    render_events,
)
from safecity.ingest.dedup import Deduplicator, Reservation, id_hashes
from safecity.ingest.devices import DeviceDirectory
from safecity.ingest.models import BatchStatus, DeadLetter, IngestBatch
from safecity.ingest.personal import pseudonymise
from safecity.ingest.validate import Limits, validate
from safecity.lake import Recovery
from safecity.security import Pseudonymizer

log = structlog.get_logger(__name__)

EVENTS = Counter("safecity_ingest_events_total", "Events by outcome", ["source", "outcome"])
BODIES_REFUSED = Counter("safecity_ingest_bodies_refused_total", "Bodies refused whole", ["source"])
BATCH_SECONDS = Histogram(
    "safecity_ingest_batch_seconds",
    "Time to make a batch durable",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class RecordSink(Protocol):
    """Where accepted records become durable (the lake), a batch at a time, all or nothing."""

    def append(self, records: pl.DataFrame, *, batch: str, commit: Callable[[], None]) -> int:
        """Stage the records durably, run `commit`, then make them visible; if staging or the
        commit fails nothing is kept. Return how many were written."""
        ...

    def recover(self, committed: Callable[[list[str]], set[str]]) -> Recovery:
        """Publish the batches a crash left staged that `committed` names; remove the others."""
        ...


@dataclass(frozen=True, slots=True)
class Part:
    """One device's payload as received."""

    body: bytes
    device_id: str | None  # the authenticated device; None only for trusted replay
    source: str  # http | mqtt | replay | sim

    def raw(self) -> bytes:
        """What the device sent, as kept when the part is refused whole."""
        return self.body


@dataclass(frozen=True, slots=True)
class DecodedPart:
    """Events an adapter decoded itself (a binary protocol's frames), sent by one device.

    Each event may leave `device` out: it is the adapter's authenticated device. If it names
    another device it is refused, as in a body.
    """

    events: Sequence[WireEvent]
    device_id: str | None  # the device the adapter authenticated; None only for trusted replay
    source: str  # the adapter, e.g. gt06

    def raw(self) -> bytes:
        """The events as NDJSON, as kept when the part is refused whole."""
        return render_events(self.events)


Submission = Part | DecodedPart  # what an adapter hands to the pipeline


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one event of a body was not stored."""

    index: int
    event_id: str | None
    field: str | None
    reason: str


@dataclass(slots=True)
class IngestResult:
    """What happened to one part."""

    batch_id: str
    received: int = 0
    accepted: int = 0
    stored: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    error: str | None = None  # the body was refused whole (nothing accepted)


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """Settings-derived limits of the pipeline."""

    max_event_age_s: int
    max_future_skew_s: int
    max_batch_events: int
    max_body_bytes: int
    h3_resolution: int
    bbox: BBox | None


# Shared: building an empty frame with the record schema costs ~0.3 ms, once per batch otherwise.
NO_RECORDS = empty_records()


@dataclass(slots=True)
class Prepared:
    """A batch decoded and validated, waiting to be committed."""

    batch_id: str
    parts: Sequence[Submission]
    results: list[IngestResult]
    bodies: dict[int, Body]
    now: datetime
    started: float
    records: pl.DataFrame = field(default_factory=lambda: NO_RECORDS)  # replaced, never changed
    reservation: Reservation = field(default_factory=lambda: Reservation(np.zeros(0, dtype=bool)))
    rejected: dict[int, list[Rejection]] = field(default_factory=dict)


REFUSED_KEEP_BYTES = 64 * 1024
# Core tables: executemany through Core is several times faster than the ORM's bulk path.
_BATCHES = cast(Table, IngestBatch.__table__)
_LETTERS = cast(Table, DeadLetter.__table__)


# The database could not be reached or written: like a lake failure, the sender should retry.
DB_UNAVAILABLE = (OperationalError, InterfaceError)


class StorageUnavailable(RuntimeError):
    """The lake could not take the batch; nothing was accepted and the sender should retry."""


class IngestPipeline:
    """Turns bodies into durable records; one batch at a time (a single lake writer)."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        devices: DeviceDirectory,
        sink: RecordSink,
        dedup: Deduplicator,
        limits: IngestLimits,
        clock: Clock,
        pseudonymizer: Pseudonymizer,
        publish: Callable[[pl.DataFrame], Awaitable[None]] | None = None,
    ) -> None:
        self._factory = session_factory
        self._pseudonymizer = pseudonymizer
        self.devices = devices
        self._sink = sink
        self._dedup = dedup
        self._limits = limits
        self._clock = clock
        self._publish = publish
        # Two stages: up to two batches are decoded and validated side by side (`admit` keeps
        # them from taking the same id) while one at a time is written to the lake (Parquet
        # encoding and fsync release the GIL). Decision 0003, addendum 2.
        self._prepare_slots = asyncio.Semaphore(2)
        self._commit_lock = asyncio.Lock()
        self._carried: set[asyncio.Future[list[IngestResult]]] = set()

    async def submit_parts(self, parts: Sequence[Submission]) -> list[IngestResult]:
        """Process parts off the event loop, then publish what was stored.

        A caller that is cancelled (its client gone, a shutdown) does not cancel the batch: once
        prepared, its ids are taken, so it is carried through to stored or failed, and a retry
        finds it (stored: duplicates; failed: stored then).
        """
        task = asyncio.ensure_future(self._submit(parts))
        self._carried.add(task)  # held here, so that a shielded batch is not collected midway
        task.add_done_callback(self._carried_done)
        return await asyncio.shield(task)

    def _carried_done(self, task: asyncio.Future[list[IngestResult]]) -> None:
        self._carried.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a sender that gave up retries, whatever happened

    async def _submit(self, parts: Sequence[Submission]) -> list[IngestResult]:
        async with self._prepare_slots:
            prepared = await asyncio.to_thread(self.prepare, parts)
        async with self._commit_lock:
            results, records = await asyncio.to_thread(self.commit, prepared)
        if self._publish is not None and records.height:
            await self._publish(records)
        return results

    async def refuse_parts(self, parts: Sequence[Submission], reason: str) -> list[IngestResult]:
        """Refuse parts whole, keeping each body as a dead letter (its first 64 KiB) with the
        reason: for a message the pipeline failed on again and again, so that a transport which
        must acknowledge it (MQTT) loses nothing and is not held up by it."""
        now = self._clock.now()
        batch_id = new_id()
        results = [IngestResult(batch_id=batch_id, error=reason) for _ in parts]
        for part in parts:
            BODIES_REFUSED.labels(part.source).inc()
        prepared = Prepared(batch_id, parts, results, {}, now, time.perf_counter())
        async with self._commit_lock:
            results, _ = await asyncio.to_thread(self.commit, prepared)
        return results

    async def submit(self, part: Submission) -> IngestResult:
        """Process one part."""
        return (await self.submit_parts([part]))[0]

    def process(self, parts: Sequence[Submission]) -> tuple[list[IngestResult], pl.DataFrame]:
        """Synchronous form: returns one result per part and the records now durable."""
        return self.commit(self.prepare(parts))

    def prepare(self, parts: Sequence[Submission]) -> Prepared:
        """Decode, validate, enrich and de-duplicate (reserving the new ids); nothing is written."""
        started = time.perf_counter()
        now = self._clock.now()
        batch_id = new_id()
        results = [IngestResult(batch_id=batch_id) for _ in parts]
        bodies: dict[int, Body] = {}
        max_events, max_bytes = self._limits.max_batch_events, self._limits.max_body_bytes
        for p, part in enumerate(parts):
            try:
                if isinstance(part, Part):
                    bodies[p] = normalise_body(part.body, max_events=max_events, max_bytes=max_bytes)
                else:
                    bodies[p] = events_body(part.events, max_events=max_events)
            except BodyError as exc:
                results[p].error = str(exc)
                BODIES_REFUSED.labels(part.source).inc()
        prepared = Prepared(batch_id, parts, results, bodies, now, started)
        if not bodies:
            return prepared
        decoded = decode_bodies(bodies)
        for p, reason in decoded.refused.items():  # not UTF-8, or not JSON at all: refused whole
            results[p].error = reason
            BODIES_REFUSED.labels(parts[p].source).inc()
            del bodies[p]
        of_part = decoded.frame["part"].to_list()  # a list: Polars' gathers cost ~0.3 ms each
        frame = decoded.frame.hstack(
            [
                pl.Series("auth_device", [parts[p].device_id for p in of_part], dtype=pl.String),
                pl.Series("source", [parts[p].source for p in of_part], dtype=pl.String),
            ]
        )
        records, bad = validate(frame, self.devices.table, self._limits_at(now))
        # Before anything else sees the records; ids are hashed as stored, so that the ids
        # reloaded from the lake at start (warm_dedup) match.
        records = pseudonymise(records, self._pseudonymizer)
        hashes = id_hashes(records["event_id"])
        # Reserved now, so that the next batch (prepared while this one is written) sees them.
        try:
            reservation = self._dedup.admit(hashes, records["ts"].dt.date(), now)
        except OSError as exc:  # a day's ids could not be read back from the lake
            raise StorageUnavailable(f"storage is unavailable, retry later: {exc}") from exc
        prepared.reservation = reservation
        if reservation.fresh.all():  # the usual case: no copy of the batch
            dup_parts = records["part"].clear()
        else:
            keep = pl.Series(reservation.fresh)
            dup_parts = records["part"].filter(~keep)
            records = records.filter(keep)
        prepared.rejected = self._rejections(bad, decoded.errors)
        for p, body in bodies.items():
            results[p].received = body.count
        self._tally(results, prepared.rejected, records["part"], dup_parts)
        records = records.clone()  # a shallow copy: dropping in place costs µs, `drop` ~0.1 ms
        records.drop_in_place("part")
        prepared.records = records
        return prepared

    def commit(self, prepared: Prepared) -> tuple[list[IngestResult], pl.DataFrame]:
        """Stage the lake parts, commit the ledger and dead letters, publish the parts; the
        records are durable when this returns. On failure nothing is stored (see the module)."""
        p = prepared
        stage = "lake"  # where a failure happened: the lake, the ledger, or past the commit

        def ledger() -> None:
            nonlocal stage
            stage = "ledger"
            self._ledger(p, BatchStatus.STORED)
            stage = "committed"

        try:
            if p.records.height:
                self._sink.append(p.records, batch=p.batch_id, commit=ledger)
            else:
                ledger()
        except Exception as exc:
            if stage == "committed":
                self._dedup.release(p.reservation)
                raise  # stored and ledgered: the ids stay taken, whatever failed after
            self._dedup.forget(p.reservation)
            raise self._failed(p, exc, in_ledger=stage == "ledger") from exc
        self._dedup.release(p.reservation)
        self._count(p.parts, p.results)
        BATCH_SECONDS.observe(time.perf_counter() - p.started)
        return p.results, p.records

    def recover(self) -> Recovery:
        """Settle what a crash left half-done: publish the staged batches the ledger committed,
        remove the others (never acknowledged, so their senders retry). Run at start."""

        def committed(batch_ids: list[str]) -> set[str]:
            with self._factory() as session:
                rows = session.scalars(
                    select(IngestBatch.id).where(
                        IngestBatch.id.in_(batch_ids), IngestBatch.status == BatchStatus.STORED
                    )
                )
                return set(rows)

        return self._sink.recover(committed)

    def _failed(self, p: Prepared, exc: Exception, *, in_ledger: bool) -> Exception:
        """What to raise for a batch that was not stored, after recording it as failed."""
        if in_ledger:
            if isinstance(exc, DB_UNAVAILABLE):
                log.error("ingest.ledger_unavailable", error=str(exc), rows=p.records.height)
                return StorageUnavailable(f"storage is unavailable, retry later: {exc}")
            return exc  # a fault of ours, not of the storage
        log.error("ingest.lake_write_failed", error=str(exc), rows=p.records.height)
        try:  # the dead letters are kept, and the ledger says that nothing was stored
            self._ledger(p, BatchStatus.FAILED, error=f"lake write failed: {exc}")
        except Exception as ledger_exc:
            log.error("ingest.ledger_unavailable", error=str(ledger_exc))
        return StorageUnavailable(f"storage is unavailable, retry later: {exc}")

    def _limits_at(self, now: datetime) -> Limits:
        lim = self._limits
        return Limits(
            now=now,
            max_age=timedelta(seconds=lim.max_event_age_s),
            max_skew=timedelta(seconds=lim.max_future_skew_s),
            bbox=lim.bbox,
            h3_resolution=lim.h3_resolution,
        )

    @staticmethod
    def _rejections(bad: pl.DataFrame, decode_errors: list[DecodeError]) -> dict[int, list[Rejection]]:
        out: dict[int, list[Rejection]] = {}
        for p, i, f, r, eid in decode_errors:
            out.setdefault(p, []).append(Rejection(i, eid, f, r))
        for p, i, eid, f, r in bad.iter_rows():
            out.setdefault(p, []).append(Rejection(i, eid, f, r))
        for rows in out.values():
            rows.sort(key=lambda r: r.index)
        return out

    @staticmethod
    def _tally(
        results: list[IngestResult],
        rejected: dict[int, list[Rejection]],
        stored_parts: pl.Series,
        dup_parts: pl.Series,
    ) -> None:
        stored = dict(stored_parts.value_counts().iter_rows()) if stored_parts.len() else {}
        dups = dict(dup_parts.value_counts().iter_rows()) if dup_parts.len() else {}
        for p, res in enumerate(results):
            res.rejected = rejected.get(p, [])
            res.dead_lettered = len(res.rejected)
            res.stored = stored.get(p, 0)
            res.duplicates = dups.get(p, 0)
            res.accepted = res.stored + res.dead_lettered

    def _ledger(self, prepared: Prepared, status: BatchStatus, error: str | None = None) -> None:
        """Write the batch's ledger entry and its dead letters in one transaction."""
        batch_id, parts, results = prepared.batch_id, prepared.parts, prepared.results
        rejected, bodies, now = prepared.rejected, prepared.bodies, prepared.now
        failed = status is BatchStatus.FAILED
        devices = {p.device_id for p in parts}
        sources = {p.source for p in parts}
        batch = {
            "id": batch_id,
            "source": sources.pop() if len(sources) == 1 else "mixed",
            "device_id": devices.pop() if len(devices) == 1 else None,
            "parts": len(parts),
            "refused": sum(1 for r in results if r.error is not None),
            "received_at": now,
            "status": status,
            "received": sum(r.received for r in results),
            "duplicates": sum(r.duplicates for r in results),
            # A failed batch stored nothing: only its dead letters count as accepted.
            "accepted": sum(r.dead_lettered if failed else r.accepted for r in results),
            "stored": 0 if failed else sum(r.stored for r in results),
            "dead_lettered": sum(r.dead_lettered for r in results),
            "error": error,
        }
        letters = [
            {
                "batch_id": batch_id,
                "idx": rej.index,
                "event_id": rej.event_id,
                "device_id": parts[p].device_id,
                "field": rej.field,
                "reason": rej.reason,
                "raw": bodies[p].lines()[rej.index].decode("utf-8", "replace"),
                "received_at": now,
            }
            for p, rows in rejected.items()
            for rej in rows
        ]
        # A body refused whole is kept too (its first 64 KiB): over MQTT it has been acknowledged,
        # so this is the only copy of what the device sent.
        letters += [
            {
                "batch_id": batch_id,
                "idx": -1,
                "event_id": None,
                "device_id": parts[p].device_id,
                "field": "body",
                "reason": r.error,
                "raw": parts[p].raw()[:REFUSED_KEEP_BYTES].decode("utf-8", "replace"),
                "received_at": now,
            }
            for p, r in enumerate(results)
            if r.error is not None
        ]
        with self._factory() as session, session.begin():
            session.execute(insert(_BATCHES), [batch])
            if letters:
                session.execute(insert(_LETTERS), letters)

    @staticmethod
    def _count(parts: Sequence[Submission], results: list[IngestResult]) -> None:
        totals: dict[tuple[str, str], int] = {}
        for part, res in zip(parts, results, strict=True):
            for outcome, n in (
                ("stored", res.stored),
                ("dead_lettered", res.dead_lettered),
                ("duplicate", res.duplicates),
            ):
                totals[part.source, outcome] = totals.get((part.source, outcome), 0) + n
        for (source, outcome), n in totals.items():
            EVENTS.labels(source, outcome).inc(n)
