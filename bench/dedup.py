"""Benchmark of the id memory (idempotency) at Wenzhou scale: 20 M accepted events a day.

Builds a lake of two days of 20 M records each (BENCH_SIZE=small: 1 M), compacted as the platform
leaves it, then measures what decisions/0006 reports:
* `warm_s`: a start-up reading back the ids of the day real-time traffic falls on (midday of the
  second day), the memory it then holds and its peak while loading; the baseline is what the
  platform did before: every id with an event time in the last 24 h into one hash table;
* `late_day_load_s`: the first late event of the older day, whose ids are then read from the lake;
* `admit_ms`: one 50,000-event batch of new ids on the busy day, and on the loaded older day
  (baseline: the two-generation table of before, holding a day of ids);
* `fill_day_s` and `fold_s`: a whole day of ids admitted in 50,000-event batches, and folding
  the tables of the days that are over into sorted arrays (`folded_ids` ids);
* bytes per id of a busy day (hash table) and of a quiet one (sorted array).
Prints one JSON object per figure on stdout, progress on stderr; deletes its data at the end.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import structlog

from safecity.core.record import RECORD_SCHEMA
from safecity.ingest.dedup import Deduplicator, U64Set, id_hashes
from safecity.lake import Lake

SMALL = os.environ.get("BENCH_SIZE") == "small"
PER_DAY = 1_000_000 if SMALL else 20_000_000
BATCH = 50_000
DAY0 = date(2026, 11, 20)
STATIONS = 6_399


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None) -> None:
    print(
        json.dumps(
            {
                "bench": "dedup",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": round(baseline / value, 1) if baseline and value else None,
                "target": None,
            }
        ),
        flush=True,
    )


def log(message: str) -> None:
    print(f"[dedup bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since `reset_peak`) of this process."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    """Start measuring the peak RSS afresh (Linux: writing 5 to clear_refs resets VmHWM)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def ids(first: int, n: int, rng: np.random.Generator) -> pl.Series:
    """Simulator-shaped event ids: `BS-<station>-<sequence>`."""
    station = pl.Series(rng.integers(1, STATIONS + 1, n)).cast(pl.String).str.zfill(6)
    sequence = pl.Series(np.arange(first, first + n)).cast(pl.String)
    return pl.select((pl.lit("BS-") + station + pl.lit("-") + sequence).alias("event_id"))["event_id"]


def records(day: date, first: int, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """n records of one day: 80 % tag reads, the rest heartbeats."""
    start_ms = int(datetime.combine(day, datetime.min.time(), UTC).timestamp() * 1000)
    ts = pl.Series(start_ms + np.sort(rng.integers(0, 86_400_000, n))).cast(pl.Datetime("ms", "UTC"))
    kind = pl.Series(np.where(rng.random(n) < 0.8, "rfid_read", "heartbeat"))
    frame = pl.DataFrame({"event_id": ids(first, n, rng), "kind": kind, "ts": ts}).with_columns(
        corr_id=pl.col("event_id"),
        subject_kind=pl.when(pl.col("kind") == "rfid_read").then(pl.lit("tag")).otherwise(pl.lit("device")),
        subject=pl.Series(rng.integers(0, 300_000, n)).cast(pl.String).str.zfill(10),
        device=pl.lit("BS-000001"),
        lat=pl.lit(28.0),
        lon=pl.lit(120.7),
        cell=pl.lit(617700169958293503, pl.UInt64),
        area=pl.lit("330302001"),
        code=pl.lit(None, pl.String),
        value=pl.lit(None, pl.Float64),
        attrs=pl.lit(None, pl.String),
        source=pl.lit("mqtt"),
        received_at=pl.col("ts"),
    )
    return frame.select([pl.col(c).cast(t) for c, t in RECORD_SCHEMA.items()])


def build_lake(root: Path) -> Lake:
    lake = Lake(root)
    rng = np.random.default_rng(1)
    for d in range(2):
        for first in range(0, PER_DAY, 500_000):
            lake.append(records(DAY0 + timedelta(days=d), d * PER_DAY + first, 500_000, rng))
        log(f"day {d} written")
    lake.compact(min_files=1)
    log("compacted")
    return lake


def baseline_warm(lake: Lake, now: datetime) -> float:
    """The platform before: ids of events of the last 24 h (by event time) into one table."""
    started = time.perf_counter()
    stored = (
        lake.scan(start=now - timedelta(days=1), end=now + timedelta(days=1)).select("event_id").collect()
    )
    table = U64Set()
    table.add(id_hashes(stored["event_id"]).to_numpy(), distinct=True)
    return time.perf_counter() - started


def baseline_admit_ms(rng: np.random.Generator) -> float:
    """The platform before, at the same size: 50,000 new ids checked against the previous
    generation and taken into the current one, which already holds a day."""
    table = U64Set.of(np.unique(rng.integers(4, 2**63, PER_DAY, dtype=np.uint64)))
    previous = U64Set.of(np.unique(rng.integers(4, 2**63, PER_DAY, dtype=np.uint64)))
    samples = []
    for n in range(20):
        batch = id_hashes(ids(50 * PER_DAY + n * BATCH, BATCH, rng))
        started = time.perf_counter()
        eligible = batch.is_first_distinct().to_numpy()
        values = batch.to_numpy()
        eligible &= ~previous.contains(values)
        table.add_missing(values, eligible)
        samples.append(time.perf_counter() - started)
    return median_ms(samples)


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        measure(Lake(Path(sys.argv[2])))
        return
    folder = Path(tempfile.mkdtemp(prefix="safecity-bench-dedup-"))
    try:
        build_lake(folder / "lake").close()
        # Measured in a fresh process, so that memory figures are not hidden by what building
        # the lake left in the allocators.
        subprocess.run([sys.executable, __file__, "--measure", str(folder / "lake")], check=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(lake: Lake) -> None:
    busy, older = DAY0 + timedelta(days=1), DAY0
    now = datetime.combine(busy, datetime.min.time(), UTC) + timedelta(hours=12)
    dedup = Deduplicator(load=lake.event_ids, max_age_s=7 * 86400, future_skew_s=300)
    before = memory_mb("VmRSS")
    reset_peak()
    started = time.perf_counter()
    warmed = dedup.warm(now)
    warm_s = time.perf_counter() - started
    emit("warm_peak_rss_mb", memory_mb("VmHWM") - before, "MiB")
    gc.collect()
    emit("warm_s", warm_s, "s", baseline=baseline_warm(lake, now))
    emit("warm_ids", warmed, "ids")
    emit("warm_held_mb", dedup.nbytes / 2**20, "MiB")

    rng = np.random.default_rng(2)
    known = lake.event_ids(older).sample(1_000, seed=3)
    before = memory_mb("VmRSS")
    reset_peak()
    started = time.perf_counter()
    late = dedup.admit(id_hashes(known), pl.Series([older] * known.len()), now)
    emit("late_day_load_s", time.perf_counter() - started, "s")
    emit("late_day_peak_rss_mb", memory_mb("VmHWM") - before, "MiB")
    assert not late.fresh.any(), "a stored id was taken for new"

    fresh_busy, fresh_older = [], []
    busy_days, older_days = pl.Series([busy] * BATCH), pl.Series([older] * BATCH)
    for n in range(20):
        for days, samples, offset in ((busy_days, fresh_busy, 10), (older_days, fresh_older, 20)):
            batch = id_hashes(ids(offset * PER_DAY + n * BATCH, BATCH, rng))
            t = time.perf_counter()
            reservation = dedup.admit(batch, days, now)
            samples.append(time.perf_counter() - t)
            dedup.release(reservation)
    emit("admit_ms_busy_day", median_ms(fresh_busy), "ms", baseline=baseline_admit_ms(rng))
    emit("admit_ms_older_day", median_ms(fresh_older), "ms")

    newest = busy + timedelta(days=1)
    at = datetime.combine(newest, datetime.min.time(), UTC) + timedelta(hours=12)
    newest_days = pl.Series([newest] * BATCH)
    started = time.perf_counter()
    for first in range(0, PER_DAY, BATCH):
        dedup.release(dedup.admit(id_hashes(ids(30 * PER_DAY + first, BATCH, rng)), newest_days, at))
    emit("fill_day_s", time.perf_counter() - started, "s")
    emit("bytes_per_id_busy_day", dedup._days[newest].nbytes / PER_DAY, "B")
    later = at + timedelta(hours=13, minutes=1)  # the day ended over an hour ago
    one = id_hashes(ids(40 * PER_DAY, 1, rng))
    folding = sum(len(entry.added) for entry in dedup._days.values() if not entry.quiet)
    started = time.perf_counter()
    dedup.release(dedup.admit(one, pl.Series([newest + timedelta(days=1)]), later))
    emit("fold_s", time.perf_counter() - started, "s")
    emit("folded_ids", folding, "ids")
    emit("bytes_per_id_quiet_day", dedup._days[newest].nbytes / len(dedup._days[newest]), "B")
    emit("held_mb", dedup.nbytes / 2**20, "MiB")
    emit("peak_rss_mb", memory_mb("VmHWM"), "MiB")
    lake.close()


if __name__ == "__main__":
    main()
