"""Benchmark `ingest`: decode, validate, rules and lake write for 2,000,000 simulated events.

The events are the simulator's: a Wenzhou-scale city (6,399 base stations, 300,000 registered
bikes, BENCH_SIZE=small: the demo city) on a weekday morning, reads and heartbeats, with 300
bikes listed as stolen. They run through the real platform: columnar decode, vectorised
validation and enrichment, dedup, ledger, the Parquet lake (durable), the rule engine and the
alert service.

Two shapes of upload are measured:
* `events_per_s`: batches of 50,000 events (a gateway or `safecity replay`), the issue's figure;
* `events_per_s_station_uploads`: the same events as each station's own small uploads
  (a few events each), coalesced into micro-batches as the MQTT adapter does. It shows the
  per-request cost; no target applies.
The baseline, measured in the same run on a slice, is what a straightforward service does: a
Pydantic model per event and one row insert per event, each its own transaction (SQLite in WAL
mode with synchronous=NORMAL, so a commit costs no fsync). The same baseline committing every
500 events is printed too (`baseline_batched_events_per_s`), so the ratio can be read against
a less naive service as well.

Prints JSON lines; also peak_rss_mb (target < 2 GiB).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import structlog
from pydantic import BaseModel

from safecity.alerts import AlertService
from safecity.core.clock import ManualClock
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
    handed: asyncio.Queue[pl.DataFrame | None] = asyncio.Queue()

    async def publish(records: pl.DataFrame) -> None:
        await handed.put(records)

    async def rule_worker() -> None:
        nonlocal findings
        while (records := await handed.get()) is not None:
            found = await asyncio.to_thread(platform.rules.evaluate, records)
            if found:
                await asyncio.to_thread(platform.alerts.apply_findings, found)
            findings += len(found)

    platform.ingest._publish = publish
    queue = list(reversed(batches))
    stored = 0

    async def worker() -> None:
        nonlocal stored
        while queue:
            results = await platform.ingest.submit_parts(queue.pop())
            stored += sum(r.stored for r in results)

    start = time.perf_counter()
    rules = asyncio.create_task(rule_worker())
    await asyncio.gather(worker(), worker())
    await handed.put(None)
    await rules
    return stored, time.perf_counter() - start, findings


class NaiveEvent(BaseModel):
    """The straightforward per-event model the baseline validates with."""

    v: int
    id: str
    kind: str
    ts: datetime
    device: str | None = None
    subject: str | None = None
    code: str | None = None


def naive_baseline(body: bytes, stolen: set[str], folder: Path, *, commit_every: int = 1) -> float:
    """Pydantic per event plus one row insert per event, committed every `commit_every` events."""
    db = sqlite3.connect(folder / f"naive-{commit_every}.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("create table sightings (id text primary key, kind text, device text, subject text, ts text)")
    lines = body.splitlines()[:BASELINE_EVENTS]
    start = time.perf_counter()
    for n, line in enumerate(lines, 1):
        event = NaiveEvent.model_validate_json(line)
        db.execute(
            "insert or ignore into sightings values (?, ?, ?, ?, ?)",
            (event.id, event.kind, event.device, event.subject, event.ts.isoformat()),
        )
        _ = event.subject in stolen
        if n % commit_every == 0:
            db.commit()
    db.commit()
    elapsed = time.perf_counter() - start
    db.close()
    return len(lines) / elapsed


async def both(
    platform: Platform, replay: list[list[Part]], uploads: list[list[Part]]
) -> tuple[tuple[int, float, int], tuple[int, float, int]]:
    """Both measurements on one event loop (the pipeline's locks belong to one loop)."""
    return await run(platform, replay), await run(platform, uploads)


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
        platform.rules.evaluate(platform.ingest.process([Part(bodies[0][:1], None, "replay")])[1])  # warm up

        replay = [[Part(b, None, "replay")] for b in bodies]
        (stored, seconds, findings), (s_stored, s_seconds, _) = asyncio.run(both(platform, replay, uploads))
        print(f"replay batches: {stored:,} events in {seconds:.2f} s, {findings} findings", file=sys.stderr)
        parts = sum(len(p) for p in uploads)
        print(f"station uploads: {s_stored:,} events, {parts:,} uploads, {s_seconds:.2f} s", file=sys.stderr)
        rejected = EVENTS + STATION_EVENTS - stored - s_stored
        if rejected:
            print(f"warning: {rejected} events were not stored", file=sys.stderr)

        stolen = {
            row[0]
            for row in platform.session_factory().execute(
                WatchlistEntry.__table__.select().with_only_columns(WatchlistEntry.subject)
            )
        }
        baseline = naive_baseline(bodies[1], stolen, folder)
        batched = naive_baseline(bodies[1], stolen, folder, commit_every=500)
        emit("events_per_s", stored / seconds, "events/s", baseline=baseline, target=300_000)
        emit("events_per_s_station_uploads", s_stored / s_seconds, "events/s", baseline=baseline)
        emit("baseline_batched_events_per_s", batched, "events/s")
        emit("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB", target=2048)
        platform.engine.dispose()


if __name__ == "__main__":
    main()
