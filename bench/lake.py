"""Benchmark of the record lake: append rate, compaction rate, path and window query latency.

Run: `.venv/bin/python bench/lake.py` (full size: 1e8 records over 30 days, ~100k subjects) or
`BENCH_SIZE=small` (1e6 records, under a minute). `BENCH_EXPLORE=1` instead compares layout
options (row-group size, sort keys, DuckDB vs Polars) on 3 days at full daily density.
The path figures are compared, tag by tag in the same run, with the layout and reader used before
the row-group index (the same files rewritten with 64k-row groups, read with Polars): as the page
cache left the files, with both dropped from it before each query, and dropped while another
thread scans the disk (`DiskStream`).
Prints one JSON object per figure on stdout, progress on stderr; deletes its data at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import mmap
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import structlog

from _sightings import CENTRE, FIRST_DAY, fill, records, stations
from safecity.core.geo import BBox
from safecity.lake import Lake, SortedFormat, compaction
from safecity.lake.query import path_predicate, read_records


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[lake bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(
    metric: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    target: float | None = None,
    lower_is_better: bool = True,
    **extra: object,
) -> None:
    """Print one figure as a JSON line."""
    ratio = None
    if baseline and value:
        ratio = round(baseline / value if lower_is_better else value / baseline, 2)
    row = {
        "bench": "lake",
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": ratio,
        "target": target,
        **extra,
    }
    print(json.dumps(row), flush=True)


def timed_ms(fn: Callable[[], object], repeat: int = 1) -> list[float]:
    """Wall times of `repeat` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def bench_append(tmp: Path, rows: int, batch: int) -> None:
    """Append rate in ingest-sized batches vs a naive unpartitioned pyarrow write per batch."""
    frames = [records(FIRST_DAY, batch, 100_000, stations(), np.random.default_rng(i)) for i in range(8)]
    lake = Lake(tmp / "append")
    n_batches = rows // batch
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(n_batches):
        lake.append(frames[i % len(frames)])
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    naive_dir = tmp / "naive"
    naive_dir.mkdir()
    started = time.perf_counter()
    for i in range(n_batches):
        pq.write_table(frames[i % len(frames)].to_arrow(), naive_dir / f"{i}.parquet")
    naive = time.perf_counter() - started
    emit(
        "append_rows_per_s",
        rows / wall,
        "rows/s",
        baseline=rows / naive,
        lower_is_better=False,
        batch_rows=batch,
        cpu_rows_per_s=round(rows / cpu),
        note="baseline: pyarrow write, 1 file per batch",
    )
    lake.close()
    shutil.rmtree(tmp / "append")
    shutil.rmtree(naive_dir)


def path_queries(lake: Lake, subjects: list[str], days: int) -> Callable[[str], object]:
    """A closure running the 30-day path of one tag."""
    start = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)
    end = start + dt.timedelta(days=days)
    return lambda s: lake.path(subject_kind="tag", subject=s, start=start, end=end)


def duckdb_path(lake: Lake, days: int) -> Callable[[str], object]:
    """The same path query through DuckDB over the lake's files (the measured alternative)."""
    start = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)
    end = start + dt.timedelta(days=days)
    files = [str(f) for f in lake.files(start=start, end=end, kinds=["rfid_read"])]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET parquet_metadata_cache = true")
    sql = (
        "SELECT * FROM read_parquet($files, hive_partitioning = false) WHERE subject_kind = 'tag'"
        " AND subject = $subject AND ts >= $start AND ts < $end ORDER BY ts, event_id"
    )

    def run(subject: str) -> object:
        return con.sql(sql, params={"files": files, "subject": subject, "start": start, "end": end}).pl()

    return run


def duckdb_window(lake: Lake, days: int) -> Callable[[], object]:
    """The window query through DuckDB (the measured alternative)."""
    start, box = window_args(days)
    end = start + dt.timedelta(hours=1)
    files = [str(f) for f in lake.files(start=start, end=end)]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    sql = (
        "SELECT * FROM read_parquet($files, hive_partitioning = false) WHERE ts >= $start AND ts < $end"
        " AND lat BETWEEN $s AND $n AND lon BETWEEN $w AND $e ORDER BY ts, event_id"
    )
    params = {
        "files": files,
        "start": start,
        "end": end,
        "s": box.south,
        "n": box.north,
        "w": box.west,
        "e": box.east,
    }
    return lambda: con.sql(sql, params=params).pl()


def p50_ms(run: Callable[[str], object], subjects: list[str]) -> float:
    """Median latency over the subjects (after one warm-up query)."""
    run(subjects[0])
    return statistics.median(t for s in subjects for t in timed_ms(lambda s=s: run(s)))


def interleaved_ms(
    runs: dict[str, Callable[[str], object]],
    subjects: list[str],
    evict: dict[str, list[str]] | None = None,
) -> dict[str, list[float]]:
    """Latencies of each way of running a path, alternating tag by tag (fair under varying load).

    With `evict`, each run's files leave the page cache before each of its queries: a path over
    history the cache no longer holds (this VM reclaims cache proactively; 8 MB read-ahead).
    """
    for run in runs.values():
        run(subjects[0])
    times: dict[str, list[float]] = {name: [] for name in runs}
    for subject in subjects:
        for name, run in runs.items():
            for path in (evict or {}).get(name, []):
                drop_cache(path)
            times[name] += timed_ms(lambda run=run, subject=subject: run(subject))
    return times


def drop_cache(path: str) -> None:
    """Ask the kernel to forget the cached pages of one of the benchmark's own files."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class DiskStream:
    """Another job's scan while paths run: 4 MB reads through `files` in a loop, past the page cache.

    The p99 of paths was set by queries whose reads waited behind other disk traffic. O_DIRECT
    keeps this scan from filling the page cache (and from costing CPU to copy); where the file
    system refuses it, the scan reads through the cache and drops what it read.
    """

    def __init__(self, files: Sequence[str]) -> None:
        self.files = list(files)
        self.bytes_read = 0
        self.mb_per_s = 0.0
        self._started = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-stream", daemon=True)

    def __enter__(self) -> DiskStream:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.mb_per_s = self.bytes_read / 1e6 / (time.perf_counter() - self._started)

    def _run(self) -> None:
        buffer = mmap.mmap(-1, 4 << 20)  # page-aligned, as O_DIRECT requires
        direct = getattr(os, "O_DIRECT", 0)
        while not self._stop.is_set():
            for path in self.files:
                try:
                    fd = os.open(path, os.O_RDONLY | direct)
                except OSError:
                    fd, direct = os.open(path, os.O_RDONLY), 0
                try:
                    self._scan(fd, buffer)
                except OSError:
                    direct = 0  # O_DIRECT refused at read time: read through the cache
                finally:
                    os.close(fd)
                if self._stop.is_set():
                    return

    def _scan(self, fd: int, buffer: mmap.mmap) -> None:
        offset, size = 0, len(buffer)
        while not self._stop.is_set():
            n = os.preadv(fd, [buffer], offset)
            self.bytes_read += n
            if n < size:  # the end of the file (O_DIRECT reads only from aligned offsets)
                break
            offset += n
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of some latencies."""
    return float(np.percentile(values, q))


def old_layout(lake: Lake, tmp: Path, days: int) -> tuple[Callable[[str], object], list[str]]:
    """The 30-day tag path as it ran before the row-group index: 64k-row groups read by Polars.

    The lake's rfid_read files are rewritten with the old SortedFormat (64k rows per group) into
    a folder of their own, distinct files so that disk reads are as real as the lake's.
    """
    start = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)
    end = start + dt.timedelta(days=days)
    folder = tmp / "old-layout"
    folder.mkdir()
    files = []
    for n, path in enumerate(lake.files(start=start, end=end, kinds=["rfid_read"])):
        frame = pl.read_parquet(path)
        for temp, final in compaction._write_sorted(
            folder, f"old{n:03d}", frame, SortedFormat(row_group_rows=65_536)
        ):
            os.replace(temp, final)
            files.append(str(final))

    def run(subject: str) -> object:
        return read_records(files, path_predicate("tag", subject, start, end), limit=None)

    return run, files


def polars_path(lake: Lake, days: int) -> Callable[[str], object]:
    """The same path over the same (new-layout) files, read with Polars instead of the index."""
    start = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)
    end = start + dt.timedelta(days=days)
    files = lake.files(start=start, end=end, kinds=["rfid_read"])
    return lambda s: read_records(files, path_predicate("tag", s, start, end), limit=None)


def window_args(days: int) -> tuple[dt.datetime, BBox]:
    """Start of the 1-hour window (mid-period, afternoon) and a ~1 km x 1 km box downtown."""
    start = dt.datetime.combine(FIRST_DAY + dt.timedelta(days=days // 2), dt.time(14), dt.UTC)
    half_lat, half_lon = 0.0045, 0.0051  # ~1 km x 1 km at 28 N
    return start, BBox(CENTRE[0] - half_lat, CENTRE[1] - half_lon, CENTRE[0] + half_lat, CENTRE[1] + half_lon)


def window_ms(lake: Lake, days: int, repeat: int = 5) -> tuple[float, int]:
    """Median latency of a 1-hour, ~1 km2 window over all subjects, and its row count."""
    start, box = window_args(days)
    end = start + dt.timedelta(hours=1)
    rows = lake.window(start=start, end=end, bbox=box).height
    return statistics.median(timed_ms(lambda: lake.window(start=start, end=end, bbox=box), repeat)), rows


def main_run(size: str, tmp: Path) -> None:
    """The standard figures at one size."""
    total = 1_000_000 if size == "small" else 100_000_000
    days, n_subjects = 30, (20_000 if size == "small" else 100_000)
    per_day = total // days
    bench_append(tmp, rows=2_000_000 if size != "small" else 500_000, batch=50_000)
    lake = Lake(tmp / "lake")
    started = time.perf_counter()
    fill(lake, days, per_day, n_subjects, log)
    log(f"fill took {time.perf_counter() - started:.1f} s; {sum(p.files for p in lake.partitions())} files")
    rng = np.random.default_rng(7)
    subjects = [f"T{n:08d}" for n in rng.integers(0, n_subjects, 20)]
    run = path_queries(lake, subjects, days)
    baseline_subjects = subjects[:5] if size != "small" else subjects
    unsorted_path = p50_ms(run, baseline_subjects)
    unsorted_window, _ = window_ms(lake, days, repeat=3)
    log(f"unsorted layout: path p50 {unsorted_path:.1f} ms, window {unsorted_window:.1f} ms")
    started = time.perf_counter()
    report = lake.compact()
    seconds = time.perf_counter() - started
    emit(
        "compact_rows_per_s",
        report.rows / seconds,
        "rows/s",
        lower_is_better=False,
        files_in=report.files_in,
        files_out=report.files_out,
        rows=report.rows,
    )
    emit(
        "path_ms_unsorted",
        unsorted_path,
        "ms",
        note="p50 of the same path before compaction (appended parts only)",
    )
    cold_lake = Lake(tmp / "lake")
    emit(
        "path_cold_ms",
        timed_ms(lambda: path_queries(cold_lake, subjects, days)(subjects[0]))[0],
        "ms",
        note="first path of a fresh Lake: Polars reads the files while their indexes are built",
    )
    cold_lake.close()
    tags = [f"T{n:08d}" for n in rng.integers(0, n_subjects, 100)]
    # 100 tags per figure, so that one stray query does not make the p99 on its own.
    other_tags = [f"T{n:08d}" for n in rng.integers(0, n_subjects, 100)]
    old_run, old_files = old_layout(lake, tmp, days)
    times = interleaved_ms({"new": run, "old": old_run, "polars": polars_path(lake, days)}, tags)
    emit(
        "path_ms",
        statistics.median(times["new"]),
        "ms",
        baseline=statistics.median(times["old"]),
        target=100,
        rows=total,
        days=days,
        p99_ms=round(percentile(times["new"], 99), 1),
        baseline_p99_ms=round(percentile(times["old"], 99), 1),
        note="p50 over 100 tags, 30 days; baseline: 64k-row groups read by Polars, interleaved",
    )
    start = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)
    new_files = [
        str(f) for f in lake.files(start=start, end=start + dt.timedelta(days=days), kinds=["rfid_read"])
    ]
    cold = interleaved_ms({"new": run, "old": old_run}, tags, evict={"new": new_files, "old": old_files})
    emit(
        "path_cold_cache_ms",
        statistics.median(cold["new"]),
        "ms",
        baseline=statistics.median(cold["old"]),
        target=100,
        p99_ms=round(percentile(cold["new"], 99), 1),
        baseline_p99_ms=round(percentile(cold["old"], 99), 1),
        note="p50 over 100 tags with both layouts' files dropped from the page cache before each query",
    )
    with DiskStream(new_files + old_files) as stream:
        busy = interleaved_ms(
            {"new": run, "old": old_run}, other_tags, evict={"new": new_files, "old": old_files}
        )
    emit(
        "path_disk_busy_ms",
        statistics.median(busy["new"]),
        "ms",
        baseline=statistics.median(busy["old"]),
        target=100,
        p99_ms=round(percentile(busy["new"], 99), 1),
        baseline_p99_ms=round(percentile(busy["old"], 99), 1),
        scan_mb_per_s=round(stream.mb_per_s),
        note="as path_cold_cache_ms (100 other tags), while another thread scans the disk past the cache",
    )
    emit(
        "path_ms_polars_same_files",
        statistics.median(times["polars"]),
        "ms",
        target=100,
        p99_ms=round(percentile(times["polars"], 99), 1),
        note="the new 4k-row-group files read by Polars instead of the index",
    )
    emit(
        "path_ms_duckdb",
        p50_ms(duckdb_path(lake, days), subjects),
        "ms",
        baseline=unsorted_path,
        target=100,
        note="same query through DuckDB read_parquet (engine not chosen)",
    )
    value, hits = window_ms(lake, days)
    emit(
        "window_ms",
        value,
        "ms",
        baseline=unsorted_window,
        target=1000,
        rows_returned=hits,
        note="1 hour, ~1 km2, all subjects; baseline: before compaction",
    )
    emit(
        "window_ms_duckdb",
        statistics.median(timed_ms(duckdb_window(lake, days), 5)),
        "ms",
        target=1000,
        note="same window through DuckDB (engine not chosen)",
    )
    emit("count_ms", statistics.median(timed_ms(lake.count, 5)), "ms", rows=lake.count())
    parts = lake.partitions()
    emit(
        "bytes_per_record",
        sum(p.bytes for p in parts) / max(1, sum(p.rows for p in parts)),
        "bytes",
        files=sum(p.files for p in parts),
    )
    lake.close()


def mirror_month(source: Path, target: Path, days: int, month_days: int = 30) -> None:
    """Hard-link `days` compacted days into `month_days` date folders: a month of files for free.

    Latency of a path depends on files, row groups and rows per row group, not on which day the
    rows say they are from, so repeating days measures a 30-day path without writing 1e8 rows.
    """
    for d in range(month_days):
        src_day = source / "records" / f"date={FIRST_DAY + dt.timedelta(days=d % days)}"
        dst_day = target / "records" / f"date={FIRST_DAY + dt.timedelta(days=d)}"
        for kind_dir in src_day.iterdir():
            (dst_day / kind_dir.name).mkdir(parents=True)
            for f in kind_dir.iterdir():
                os.link(f, dst_day / kind_dir.name / f.name.replace("sorted-", f"sorted-{d:02d}"))


def explore(tmp: Path) -> None:
    """Compare layout options at full daily density (3.3 M records/day) over a 30-day month."""
    days, per_day, n_subjects = 3, 3_333_333, 100_000
    fill(Lake(tmp / "parts"), days, per_day, n_subjects)
    rng = np.random.default_rng(7)
    subjects = [f"T{n:08d}" for n in rng.integers(0, n_subjects, 20)]
    variants = [("subject_kind,subject,ts", rg) for rg in (4_096, 8_192, 16_384, 65_536, 131_072)]
    variants.append(("ts", 65_536))
    for keys, row_group_rows in variants:
        root, month = tmp / "variant", tmp / "month"
        shutil.copytree(tmp / "parts", root)
        compaction.SORT_KEYS = keys.split(",")
        lake = Lake(root, sorted_format=SortedFormat(row_group_rows=row_group_rows))
        started = time.perf_counter()
        report = lake.compact()
        rate = report.rows / (time.perf_counter() - started)
        variant = f"sort={keys} row_group={row_group_rows}"
        per_record = sum(p.bytes for p in lake.partitions()) / report.rows
        emit("explore_compact_rows_per_s", rate, "rows/s", variant=variant, bytes_per_record=per_record)
        emit("explore_window_ms", window_ms(lake, days)[0], "ms", variant=variant + " polars")
        emit(
            "explore_window_ms",
            statistics.median(timed_ms(duckdb_window(lake, days), 3)),
            "ms",
            variant=variant + " duckdb",
        )
        mirror_month(root, month, days)
        month_lake = Lake(month)
        start = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)
        month_lake.warm(start=start, end=start + dt.timedelta(days=30), kinds=["rfid_read"])
        emit(
            "explore_path_ms",
            p50_ms(path_queries(month_lake, subjects, 30), subjects),
            "ms",
            variant=variant + " lake.path (index up to 16k-row groups)",
            days=30,
        )
        emit(
            "explore_path_ms",
            p50_ms(polars_path(month_lake, 30), subjects),
            "ms",
            variant=variant + " polars",
            days=30,
        )
        emit(
            "explore_path_ms",
            p50_ms(duckdb_path(month_lake, 30), subjects),
            "ms",
            variant=variant + " duckdb",
            days=30,
        )
        shutil.rmtree(root)
        shutil.rmtree(month)
    compaction.SORT_KEYS = ["subject_kind", "subject", "ts"]


def main() -> None:
    """Run the benchmark chosen by the environment and clean up."""
    # Keep stdout for the JSON figures: the lake's own log lines go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    size = os.environ.get("BENCH_SIZE", "full")
    tmp = Path(tempfile.mkdtemp(prefix="safecity-lake-bench-", dir="/tmp"))
    log(f"data in {tmp}; free disk {shutil.disk_usage('/tmp').free / 1e9:.0f} GB")
    try:
        if os.environ.get("BENCH_EXPLORE"):
            explore(tmp)
        else:
            main_run(size, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
