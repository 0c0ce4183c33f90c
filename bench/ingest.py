"""Benchmark `ingest`: decode, validate, rules and lake write for 2,000,000 simulated events.

The events are the simulator's: a Wenzhou-scale city (6,399 base stations, 300,000 registered
bikes, BENCH_SIZE=small: the demo city) on a weekday morning, reads and heartbeats, with 300
bikes listed as stolen. They run through the real platform: columnar decode, vectorised
validation and enrichment, dedup, ledger, the Parquet lake (durable), the rule engine and the
alert service.

Two shapes of upload are measured:
* `events_per_s`: batches of 50,000 events (a gateway or `safecity replay`), the issue's figure:
  the median of three passes over the 2 M events (ids renamed in the second and third, so that
  each pass stores them all; one pass at BENCH_SIZE=small);
* `events_per_s_station_uploads`: the same events as each station's own small uploads
  (a few events each), coalesced into micro-batches as the MQTT adapter does. It shows the
  per-request cost; no target applies.
The baseline, measured in the same run on a slice, is what a straightforward service does with
the same job: a Pydantic model per event whose validators check what the platform checks (id
format, kind, time window, a known and enabled device, coordinates, the subject's format), the
device registry looked up for position, area and H3 cell, idempotency on the event id, the
hotlist check, and one row insert per event, each its own transaction (SQLite in WAL mode with
synchronous=NORMAL, so a commit costs no fsync: kinder to the baseline than the platform's
durable lake writes). It runs before each pass and after the last, and its median counts. Printed
beside it: the same baseline committing every 500 events (`baseline_batched_events_per_s`), and
one that checks nothing beyond JSON types (`baseline_bare_events_per_s`).

Prints JSON lines; also peak_rss_mb (target < 2 GiB).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import numpy as np
import polars as pl
import structlog
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from safecity.alerts import AlertService
from safecity.core.clock import ManualClock
from safecity.core.geo import cell_of
from safecity.core.ids import EVENT_ID_PATTERN, is_valid_subject
from safecity.core.kinds import KIND_SPECS, RecordKind
from safecity.ingest import Part
from safecity.platform import Platform
from safecity.registry.models import WatchlistEntry
from safecity.settings import Settings
from safecity.sim import Simulation, generate_city, load_city

SMALL = os.environ.get("BENCH_SIZE") == "small"
SCALE = "demo" if SMALL else "wenzhou"
EVENTS = 200_000 if SMALL else 2_000_000
STATION_EVENTS = 100_000 if SMALL else 400_000
BASELINE_EVENTS = 5_000 if SMALL else 20_000
PASSES = 1 if SMALL else 3  # over the same 2 M events, renamed: the figure is their median
STOLEN = 300
BATCH = 50_000
START = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Tuesday 07:00 in Wenzhou: the morning peak


def emit(
    metric: str, value: float, unit: str, *, baseline: float | None = None, target: float | None = None
) -> None:
    ratio = round(value / baseline, 1) if baseline else None
    print(
        json.dumps(
            {
                "bench": "ingest",
                "metric": metric,
                "value": round(value, 1),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 1),
                "ratio": ratio,
                "target": target,
            }
        ),
        flush=True,
    )


def simulated_events(folder: Path, platform: Platform) -> pl.DataFrame:
    """A city loaded into the registry, some bikes listed stolen, and the morning's events."""
    city = generate_city(seed=42, scale=SCALE, out_dir=folder / "city")
    load_city(city, platform.session_factory, pseudonymizer=platform.pseudonyms)
    bikes = city.table("bikes")
    rng = np.random.default_rng(7)
    stolen = bikes.sample(STOLEN, seed=7)
    tag_column = "tag" if "tag" in bikes.columns else "tag_id"
    entries = [
        {
            "list_kind": "stolen_bike",
            "subject_kind": "tag",
            "subject": tag,
            "ebike_id": None,
            "reported_by": "owner",
            "reported_at": START - timedelta(days=1),
            "basis": "bench",
            "owner": "officer",
            "expires_at": START + timedelta(days=180),
            "status": "active",
        }
        for tag in stolen[tag_column].to_list()
    ]
    with platform.session_factory() as session, session.begin():
        session.execute(WatchlistEntry.__table__.insert(), entries)
    sim = Simulation(city, seed=int(rng.integers(1 << 30)), start=START, horizon=timedelta(hours=24))
    frames, rows = [], 0
    for frame in sim.iter_event_frames(START, START + timedelta(hours=24), chunk_rows=BATCH):
        frames.append(frame)
        rows += frame.height
        if rows >= EVENTS + STATION_EVENTS:
            break
    return pl.concat(frames)


def replay_bodies(events: pl.DataFrame) -> list[bytes]:
    """50,000-event NDJSON bodies, each event naming its device."""
    return [events.slice(i, BATCH).write_ndjson().encode() for i in range(0, events.height, BATCH)]


def station_uploads(events: pl.DataFrame) -> list[list[Part]]:
    """Each station's own uploads within ~1 s windows, coalesced into micro-batches of ~50,000."""
    batches = []
    for i in range(0, events.height, BATCH):
        chunk = events.slice(i, BATCH)
        parts = [
            Part(body=rows.drop("device").write_ndjson().encode(), device_id=str(device), source="mqtt")
            for (device,), rows in chunk.group_by("device", maintain_order=True)
        ]
        batches.append(parts)
    return batches


async def run(platform: Platform, batches: list[list[Part]]) -> tuple[int, float, int]:
    """Ingest, evaluate and alert every micro-batch; return stored events, seconds, findings.

    Two uploads are in flight at a time, as with concurrent HTTP requests or MQTT batches: the
    pipeline writes one to the lake while it decodes the next. Stored batches are handed on as
    the platform's bus hands them to its rule worker: one consumer evaluates the rules and
    applies the findings, batch after batch, while ingest goes on. The time runs until the
    last batch has been evaluated.
    """
    findings = 0
    spent = [0.0, 0.0]
    handed: asyncio.Queue[pl.DataFrame | None] = asyncio.Queue()

    async def publish(records: pl.DataFrame) -> None:
        await handed.put(records)

    async def rule_worker() -> None:
        nonlocal findings
        while (records := await handed.get()) is not None:
            t0 = time.perf_counter()
            found = await asyncio.to_thread(platform.rules.evaluate, records)
            t1 = time.perf_counter()
            if found:
                await asyncio.to_thread(platform.alerts.apply_findings, found)
            spent[0] += t1 - t0
            spent[1] += time.perf_counter() - t1
            findings += len(found)

    platform.ingest._publish = publish
    queue = list(reversed(batches))
    stored = 0

    async def worker() -> None:
        nonlocal stored
        while queue:
            results = await platform.ingest.submit_parts(queue.pop())
            stored += sum(r.stored for r in results)

    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    rules = asyncio.create_task(rule_worker())
    await asyncio.gather(worker(), worker())
    await handed.put(None)
    await rules
    seconds, used = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    user, system = used.ru_utime - cpu.ru_utime, used.ru_stime - cpu.ru_stime
    print(f"rule worker: rules {spent[0]:.2f} s, alerts {spent[1]:.2f} s", file=sys.stderr)
    print(
        f"cpu: {user:.2f} s user, {system:.2f} s system, {(user + system) / seconds:.2f} cores",
        file=sys.stderr,
    )
    return stored, seconds, findings


class BareEvent(BaseModel):
    """Types only: what the issue's baseline would be if it checked nothing beyond JSON types."""

    v: int
    id: str
    kind: str
    ts: datetime
    device: str | None = None
    subject: str | None = None
    code: str | None = None


class NaiveEvent(BaseModel):
    """The event as a straightforward service models it: Pydantic types and validators, per event,
    checking what the platform checks (docs/ingest.md): id format, known kind, time window,
    a known and enabled device, coordinates, and the subject's format for its kind."""

    model_config = ConfigDict(extra="ignore")

    v: Literal[1] = 1
    id: Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]
    kind: RecordKind
    ts: AwareDatetime
    device: str | None = None
    subject: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    code: str | None = Field(default=None, max_length=256)
    corr: str | None = Field(default=None, max_length=64)
    value: float | None = None
    attrs: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _in_context(self, info: ValidationInfo) -> NaiveEvent:
        context = cast(NaiveContext, info.context)
        if not context.oldest <= self.ts <= context.newest:
            raise ValueError(f"timestamp {self.ts} is outside the accepted window")
        device = context.devices.get(self.device or "")
        if device is None or not device[5]:
            raise ValueError(f"unknown or disabled device {self.device!r}")
        spec = KIND_SPECS[self.kind]
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        if self.lat is None and not spec.location_from_device:
            raise ValueError(f"a {self.kind} must carry lat and lon")
        if self.subject is None and spec.subject_required:
            raise ValueError(f"a {self.kind} needs a subject")
        if self.subject is not None and not is_valid_subject(spec.subject_kind, self.subject):
            raise ValueError(f"subject {self.subject!r} is not a valid {spec.subject_kind}")
        return self


@dataclass(frozen=True, slots=True)
class NaiveContext:
    """What a per-event handler looks up: the clock window and the device registry."""

    oldest: datetime
    newest: datetime
    devices: dict[str, tuple[Any, ...]]  # device -> (kind, lat, lon, cell, area, active)


NAIVE_COLUMNS = (
    "event_id, corr_id, kind, subject_kind, subject, device, ts, lat, lon, cell, area, code, value, attrs,"
    " source, received_at"
)


def naive_baseline(
    body: bytes, platform: Platform, stolen: set[str], folder: Path, *, commit_every: int = 1
) -> float:
    """The same work per event: a validating Pydantic model, enrichment from the device registry
    (position, area, H3 cell), idempotency on event id, the hotlist check, and one row insert
    per event, committed every `commit_every` events."""
    folder.mkdir(exist_ok=True)
    db = sqlite3.connect(folder / f"naive-{commit_every}.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"create table sightings ({NAIVE_COLUMNS}, primary key (event_id))")
    now = platform.clock.now()
    limits = platform.ingest._limits
    context = NaiveContext(
        oldest=now - timedelta(seconds=limits.max_event_age_s),
        newest=now + timedelta(seconds=limits.max_future_skew_s),
        devices={row[0]: row[1:] for row in platform.ingest.devices.frame.iter_rows()},
    )
    insert = f"insert into sightings values ({', '.join('?' * 16)})"
    seen: set[str] = set()
    lines = body.splitlines()[:BASELINE_EVENTS]
    start = time.perf_counter()
    for n, line in enumerate(lines, 1):
        event = NaiveEvent.model_validate_json(line, context=context)
        if event.id in seen:
            continue
        seen.add(event.id)
        _kind, dev_lat, dev_lon, dev_cell, area, _active = context.devices[event.device or ""]
        if event.lat is not None and event.lon is not None:
            lat, lon, cell = event.lat, event.lon, cell_of(event.lat, event.lon, limits.h3_resolution)
        else:
            lat, lon, cell = dev_lat, dev_lon, dev_cell
        spec = KIND_SPECS[event.kind]
        db.execute(
            insert,
            (
                event.id,
                event.corr or event.id,
                event.kind.value,
                spec.subject_kind.value,
                event.subject or event.device,
                event.device,
                event.ts.isoformat(),
                lat,
                lon,
                cell,
                area,
                event.code,
                event.value,
                json.dumps(event.attrs) if event.attrs is not None else None,
                "replay",
                now.isoformat(),
            ),
        )
        _ = event.subject in stolen
        if n % commit_every == 0:
            db.commit()
    db.commit()
    elapsed = time.perf_counter() - start
    db.close()
    return len(lines) / elapsed


def bare_baseline(body: bytes, stolen: set[str], folder: Path) -> float:
    """Types only and a committed row insert per event: no format checks, no registry lookups."""
    db = sqlite3.connect(folder / "bare.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("create table sightings (id text primary key, kind text, device text, subject text, ts text)")
    lines = body.splitlines()[:BASELINE_EVENTS]
    start = time.perf_counter()
    for line in lines:
        event = BareEvent.model_validate_json(line)
        db.execute(
            "insert or ignore into sightings values (?, ?, ?, ?, ?)",
            (event.id, event.kind, event.device, event.subject, event.ts.isoformat()),
        )
        _ = event.subject in stolen
        db.commit()
    elapsed = time.perf_counter() - start
    db.close()
    return len(lines) / elapsed


def rename(bodies: list[bytes], n: int) -> list[list[Part]]:
    """Pass n's replay uploads: from the second pass on, the events under new ids (`p{n}-...`), so
    that every pass stores every event instead of dropping them as duplicates. The bodies are
    renamed in place, one at a time, so that memory holds one copy of them."""
    if n:
        old = b'"id":"' if n == 1 else f'"id":"p{n - 1}-'.encode()
        new = f'"id":"p{n}-'.encode()
        for i, body in enumerate(bodies):
            bodies[i] = body.replace(old, new)
    return [[Part(b, None, "replay")] for b in bodies]


async def measure(
    platform: Platform, bodies: list[bytes], uploads: list[list[Part]], baseline: Callable[[str], float]
) -> tuple[list[tuple[int, float, int]], tuple[int, float, int], list[float]]:
    """The replay passes, each after a run of the baseline, then the station uploads and a last
    baseline run: on one event loop (the pipeline's locks belong to one loop)."""
    passes, baselines = [], []
    for n in range(PASSES):
        # Each side starts with the other's writes on disk, not still being written back. The
        # baseline runs off the event loop's thread: run on it, it left the passes on one core.
        os.sync()
        baselines.append(await asyncio.to_thread(baseline, f"before-{n}"))
        batches = rename(bodies, n)
        os.sync()
        passes.append(await run(platform, batches))
        del batches
        stored, seconds, findings = passes[-1]
        print(f"pass {n + 1}: {stored:,} events in {seconds:.2f} s, {findings} findings", file=sys.stderr)
    station = await run(platform, uploads)
    os.sync()
    baselines.append(await asyncio.to_thread(baseline, "after"))
    return passes, station, baselines


def main() -> None:
    # JSON lines own stdout; logs go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="safecity-bench-ingest-") as tmp:
        folder = Path(tmp)
        clock = ManualClock(START + timedelta(hours=24))
        platform = Platform.build(Settings(data_dir=folder, max_batch_events=100_000), clock=clock)
        # Alerts are stored but not pushed: no console listens during a throughput run.
        platform.alerts = AlertService(session_factory=platform.session_factory, clock=clock)
        print(f"generating a {SCALE} city and {EVENTS + STATION_EVENTS:,} events ...", file=sys.stderr)
        events = simulated_events(folder, platform)
        bodies = replay_bodies(events.slice(0, EVENTS))
        uploads = station_uploads(events.slice(EVENTS, STATION_EVENTS))
        del events  # the bodies hold the events now: keep one copy, not two
        platform.rules.evaluate(platform.ingest.process([Part(bodies[0][:1], None, "replay")])[1])  # warm up

        stolen = {
            row[0]
            for row in platform.session_factory().execute(
                WatchlistEntry.__table__.select().with_only_columns(WatchlistEntry.subject)
            )
        }
        batched = naive_baseline(bodies[1], platform, stolen, folder, commit_every=500)
        bare = bare_baseline(bodies[1], stolen, folder)
        gc.freeze()  # as Platform.start does once it is loaded
        passes, (s_stored, s_seconds, _), baselines = asyncio.run(
            measure(
                platform,
                bodies,
                uploads,
                lambda name: naive_baseline(bodies[1], platform, stolen, folder / name),
            )
        )
        parts = sum(len(p) for p in uploads)
        print(f"station uploads: {s_stored:,} events, {parts:,} uploads, {s_seconds:.2f} s", file=sys.stderr)
        rejected = PASSES * EVENTS + STATION_EVENTS - sum(p[0] for p in passes) - s_stored
        if rejected:
            print(f"warning: {rejected} events were not stored", file=sys.stderr)
        print("baseline runs: " + ", ".join(f"{b:,.0f}" for b in baselines) + " events/s", file=sys.stderr)
        # Medians: this VM's speed drifts by +-20 % from one run to the next.
        rates = [stored / seconds for stored, seconds, _ in passes]
        baseline = statistics.median(baselines)
        emit("events_per_s", statistics.median(rates), "events/s", baseline=baseline, target=300_000)
        emit("events_per_s_station_uploads", s_stored / s_seconds, "events/s", baseline=baseline)
        emit("baseline_batched_events_per_s", batched, "events/s")
        emit("baseline_bare_events_per_s", bare, "events/s")
        emit("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB", target=2048)
        platform.engine.dispose()
        gc.unfreeze()


if __name__ == "__main__":
    main()
