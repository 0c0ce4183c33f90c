"""Benchmark `ingest`: decode, validate, rules and lake write for 2,000,000 simulated events.

Runs the real pipeline (columnar decode, vectorised validation, dedup, ledger, Parquet lake,
rule engine, alert service) over station uploads of ~500 events coalesced into micro-batches
of ~50,000, against a Wenzhou-sized registry (6,399 stations, 300,000 tags, 300 stolen).
The baseline, measured in the same run on a slice, is what a straightforward service does:
a Pydantic model per event and one row insert per event.

Prints JSON lines: events_per_s (target 300,000 and 20x the baseline) and peak_rss_mb (< 2 GiB).
BENCH_SIZE=small runs 200,000 events.
"""

from __future__ import annotations

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
from pydantic import BaseModel

from safecity.alerts import AlertService
from safecity.core.clock import ManualClock
from safecity.ingest import Part
from safecity.platform import Platform
from safecity.registry.models import Device, WatchlistEntry
from safecity.settings import Settings

SMALL = os.environ.get("BENCH_SIZE") == "small"
EVENTS = 200_000 if SMALL else 2_000_000
BASELINE_EVENTS = 5_000 if SMALL else 20_000
STATIONS, TAGS, STOLEN = 6_399, 300_000, 300
UPLOAD, MICRO_BATCH = 500, 50_000
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


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


def seed_registry(platform: Platform, tags: list[str], rng: np.random.Generator) -> None:
    """Stations across the city and a watchlist of stolen tags, inserted in bulk."""
    lat = rng.uniform(27.9, 28.1, STATIONS)
    lon = rng.uniform(120.55, 120.85, STATIONS)
    devices = [
        {
            "id": f"BS-{i:06d}",
            "kind": "rfid_station",
            "name": f"station {i}",
            "lat": float(lat[i]),
            "lon": float(lon[i]),
            "area_id": None,
            "status": "active",
            "secret_hash": None,
            "registered_at": NOW - timedelta(days=400),
        }
        for i in range(STATIONS)
    ]
    stolen = rng.choice(len(tags), STOLEN, replace=False)
    entries = [
        {
            "list_kind": "stolen_bike",
            "subject_kind": "tag",
            "subject": tags[i],
            "ebike_id": None,
            "reported_by": "owner",
            "reported_at": NOW - timedelta(days=2),
            "basis": "bench",
            "owner": "officer",
            "expires_at": NOW + timedelta(days=180),
            "status": "active",
        }
        for i in stolen
    ]
    with platform.session_factory() as session, session.begin():
        session.execute(Device.__table__.insert(), devices)
        session.execute(WatchlistEntry.__table__.insert(), entries)


def make_uploads(tags: list[str], rng: np.random.Generator) -> list[list[Part]]:
    """Station uploads (NDJSON, ~500 reads each) grouped into micro-batches."""
    n = EVENTS
    station = rng.integers(0, STATIONS, n)
    order = np.argsort(station, kind="stable")  # an upload comes from one station
    station = station[order]
    ts = np.datetime64(NOW.replace(tzinfo=None) - timedelta(hours=1), "ms") + pd_ms(
        rng.integers(0, 3_600_000, n)
    )
    frame = pl.DataFrame(
        {
            "v": np.ones(n, dtype=np.int64),
            "id": [f"BS-{s:06d}-{i}" for s, i in zip(station.tolist(), range(n), strict=True)],
            "kind": ["rfid_read"] * n,
            "ts": pl.Series(ts).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
            "device": [f"BS-{s:06d}" for s in station.tolist()],
            "subject": pl.Series(tags).gather(rng.integers(0, len(tags), n)),
        }
    )
    batches: list[list[Part]] = []
    for start in range(0, n, MICRO_BATCH):
        chunk = frame.slice(start, MICRO_BATCH)
        parts = []
        for (device,), upload in chunk.group_by("device", maintain_order=True):
            for off in range(0, upload.height, UPLOAD):
                body = upload.slice(off, UPLOAD).drop("device").write_ndjson().encode()
                parts.append(Part(body=body, device_id=str(device), source="http"))
        batches.append(parts)
    return batches


def pd_ms(values: np.ndarray) -> np.ndarray:
    return values.astype("timedelta64[ms]")


class NaiveEvent(BaseModel):
    """The straightforward per-event model the baseline validates with."""

    v: int
    id: str
    kind: str
    ts: datetime
    device: str | None = None
    subject: str | None = None
    lat: float | None = None
    lon: float | None = None


def naive_baseline(batches: list[list[Part]], folder: Path) -> float:
    """Pydantic per event plus one row insert per event, committed per upload."""
    db = sqlite3.connect(folder / "naive.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("create table sightings (id text primary key, kind text, device text, subject text, ts text)")
    stolen: set[str] = set()
    done = 0
    start = time.perf_counter()
    for part in (p for batch in batches for p in batch):
        for line in part.body.splitlines():
            event = NaiveEvent.model_validate_json(line)
            db.execute(
                "insert or ignore into sightings values (?, ?, ?, ?, ?)",
                (event.id, event.kind, part.device_id, event.subject, event.ts.isoformat()),
            )
            _ = event.subject in stolen
            done += 1
        db.commit()
        if done >= BASELINE_EVENTS:
            break
    elapsed = time.perf_counter() - start
    db.close()
    return done / elapsed


def main() -> None:
    rng = np.random.default_rng(42)
    with tempfile.TemporaryDirectory(prefix="safecity-bench-ingest-") as tmp:
        folder = Path(tmp)
        settings = Settings(data_dir=folder, max_batch_events=100_000)
        platform = Platform.build(settings, clock=ManualClock(NOW))
        # Alerts are stored but not pushed: no console listens during a throughput run.
        platform.alerts = AlertService(session_factory=platform.session_factory, clock=platform.clock)
        tags = [f"{t:010X}" for t in rng.choice(1 << 40, TAGS, replace=False).tolist()]
        seed_registry(platform, tags, rng)
        print(f"generating {EVENTS:,} events ...", file=sys.stderr)
        batches = make_uploads(tags, rng)
        platform.ingest.process(batches[0][:1])  # warm caches (device directory, watchlist)
        stored = findings = 0
        start = time.perf_counter()
        for parts in batches:
            results, records = platform.ingest.process(parts)
            stored += sum(r.stored for r in results)
            found = platform.rules.evaluate(records)
            if found:
                platform.alerts.apply_findings(found)
            findings += len(found)
        elapsed = time.perf_counter() - start
        rate = stored / elapsed
        print(f"stored {stored:,} events in {elapsed:.2f} s, {findings} findings", file=sys.stderr)
        baseline = naive_baseline(batches, folder)
        emit("events_per_s", rate, "events/s", baseline=baseline, target=300_000)
        emit("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB", target=2048)
        platform.engine.dispose()


if __name__ == "__main__":
    main()
