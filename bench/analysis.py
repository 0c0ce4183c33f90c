"""Benchmark `analysis`: the workbench's collision and companions over a month of sightings.

The lake is filled as the lake benchmark fills it (`_sightings`: 6,399 sensors over a 22 x 24 km
city, every record kind in a realistic mix) and compacted, so the files have the layout the
platform gives them (sorted by subject within each day and kind). A thief's phone is planted
near three places on three days, and a car that travels with a phone for a week.

* `collision_s`: three windows (a 300 m circle, two hours each, on three days), subjects in at
  least two, every subject kind at once, through `workbench.collision` on DuckDB (median of 5).
  Baseline: the same question in pandas over the same files (read with the time filter pushed
  down to pyarrow); `ratio` = pandas / Ibis.
* `collision_vs_sql`: Ibis's time over the best hand-written DuckDB SQL for the same question
  (target at most 2).
* `companions_s`: who travelled with the planted car over 7 days (its path, then the search).
* `spark_collision_s` and `engines_agree`: the same collision on Spark `local[2]` (the session
  started beforehand, its start reported apart) and whether its answer equals DuckDB's.

Full size: 100,000,000 sightings over 30 days. BENCH_SIZE=small: 2,000,000 (under a minute
without Spark's start). BENCH_KEEP=1 keeps the generated lake in /tmp for the next run.
Progress on stderr. `make bench NAME=analysis`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import structlog

from _sightings import FIRST_DAY, fill, stations
from safecity.core.geo import EARTH_RADIUS_M, cell_expr
from safecity.core.record import RECORD_SCHEMA
from safecity.lake import Lake
from safecity.workbench import Engine, EngineKind, Window
from safecity.workbench.collision import TRACEABLE, CollisionResult, check_question, collision
from safecity.workbench.companions import companions

TARGETS = {"collision_s": 0.5, "collision_vs_sql": 2.0, "companions_s": 2.0, "engines_agree": 1}
DAYS = 30
THIEF = "PH-THIEF-0001"
CAR, MATE = "P-CAR-0001", "PH-MATE-0001"
WINDOW_DAYS = (5, 12, 20)
RADIUS_M = 300.0
K = 2


def log(message: str) -> None:
    print(f"[analysis bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    ratio = round(baseline / value, 1) if baseline is not None and value else None
    row = {
        "bench": "analysis",
        "metric": metric,
        "value": round(value, 4),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 4),
        "ratio": ratio,
        "target": TARGETS.get(metric),
        **extra,
    }
    print(json.dumps(row), flush=True)


def at(day: int, hour: float) -> dt.datetime:
    return dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC) + dt.timedelta(days=day, hours=hour)


def planted(sensors: pl.DataFrame) -> tuple[pl.DataFrame, list[Window]]:
    """The thief's phone by three sensors on three days, and a car with a phone for a week."""
    picks = sensors.slice(100, 3).to_dicts()
    rows: list[dict[str, Any]] = []

    def add(kind: str, subject_kind: str, subject: str, ts: dt.datetime, sensor: dict[str, Any]) -> None:
        rows.append(
            {
                "event_id": f"plant-{len(rows)}",
                "kind": kind,
                "subject_kind": subject_kind,
                "subject": subject,
                "device": sensor["device"],
                "ts": ts,
                "lat": sensor["lat"],
                "lon": sensor["lon"],
                "area": sensor["area"],
            }
        )

    windows = []
    for day, sensor in zip(WINDOW_DAYS, picks, strict=True):
        add("phone_seen", "phone", THIEF, at(day, 13.5), sensor)
        windows.append(
            Window(at(day, 12.5), at(day, 14.5), center=(sensor["lat"], sensor["lon"]), radius_m=RADIUS_M)
        )
    route = sensors.slice(2000, 40).to_dicts()
    for day in range(7):
        for n, sensor in enumerate(route[day % 4 :: 4]):
            ts = at(day, 7 + n * 0.4)
            add("plate_read", "plate", CAR, ts, sensor)
            add("phone_seen", "phone", MATE, ts + dt.timedelta(seconds=45), sensor)
    frame = pl.DataFrame(rows).with_columns(
        cell_expr("lat", "lon", 9).alias("cell"),
        pl.col("event_id").alias("corr_id"),
        pl.col("ts").alias("received_at"),
        pl.lit(None, pl.String).alias("code"),
        pl.lit(None, pl.Float64).alias("value"),
        pl.lit(None, pl.String).alias("attrs"),
        pl.lit("sim").alias("source"),
    )
    return frame.select(list(RECORD_SCHEMA)).cast(RECORD_SCHEMA), windows


def build_lake(root: Path, total: int) -> tuple[Lake, list[Window], list[str]]:
    """The month of sightings, compacted, with the planted ones appended after."""
    marker = root / "bench-ready"
    sensors = stations()
    plants, windows = planted(sensors)
    lake = Lake(root)
    if marker.exists():
        log(f"reusing the lake in {root}")
    else:
        started = time.perf_counter()
        fill(lake, DAYS, total // DAYS, 100_000, log)
        log(f"filled in {time.perf_counter() - started:.0f} s; compacting")
        started = time.perf_counter()
        lake.compact()
        log(f"compacted in {time.perf_counter() - started:.0f} s")
        lake.append(plants)
        marker.write_text("ok")
    areas = sorted(sensors["area"].unique().to_list())
    return lake, windows, areas


def median_s(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, answer = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), answer


def ibis_collision(engine: Engine, lake: Lake, windows: list[Window], areas: list[str]) -> CollisionResult:
    files = [lake.files(start=w.start, end=w.end) for w in windows]
    with engine.session() as session:
        return collision(session, files, windows, K, areas=areas, limit=10_000)


def pandas_collision(lake: Lake, windows: list[Window], areas: list[str]) -> set[tuple[str, str]]:
    """The same question in pandas: read each window's day with the time filter, mask, group."""
    parts = []
    wanted = set(TRACEABLE)
    for i, w in enumerate(windows):
        files = [str(f) for f in lake.files(start=w.start, end=w.end)]
        # One file at a time: the lake's files differ in string encodings pyarrow will not merge.
        frame = pd.concat(
            [
                pd.read_parquet(
                    f,
                    columns=["event_id", "subject_kind", "subject", "ts", "lat", "lon", "area"],
                    filters=[("ts", ">=", pd.Timestamp(w.start)), ("ts", "<", pd.Timestamp(w.end))],
                )
                for f in files
            ],
            ignore_index=True,
        )
        assert w.center is not None
        assert w.radius_m is not None
        lat0, lon0 = w.center
        dlat = np.radians(frame["lat"].to_numpy() - lat0)
        dlon = np.radians(frame["lon"].to_numpy() - lon0)
        a = (
            np.sin(dlat / 2) ** 2
            + math.cos(math.radians(lat0))
            * np.cos(np.radians(frame["lat"].to_numpy()))
            * np.sin(dlon / 2) ** 2
        )
        near = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a)) <= w.radius_m
        keep = frame[near & frame["subject_kind"].isin(wanted) & frame["area"].isin(areas)].copy()
        keep["window"] = i
        parts.append(keep)
    seen = pd.concat(parts)
    per = seen.groupby(["subject_kind", "subject", "window"]).agg(
        seen=("event_id", "size"), first=("ts", "min")
    )
    hits = per.reset_index().groupby(["subject_kind", "subject"]).agg(windows=("window", "nunique"))
    return set(hits[hits["windows"] >= K].index)


def sql_collision(lake: Lake, windows: list[Window], areas: list[str]) -> set[tuple[str, str]]:
    """The best hand-written DuckDB SQL for it: one scan per window, arg_min for the evidence."""
    con = duckdb.connect()
    selects = []
    for i, w in enumerate(windows):
        files = ", ".join(f"'{f}'" for f in lake.files(start=w.start, end=w.end))
        assert w.center is not None
        assert w.radius_m is not None
        box = w.bbox()
        assert box is not None
        lat0, lon0 = w.center
        selects.append(
            f"""SELECT subject_kind, subject, {i} AS w, event_id, ts FROM read_parquet([{files}])
            WHERE ts >= TIMESTAMPTZ '{w.start.isoformat()}' AND ts < TIMESTAMPTZ '{w.end.isoformat()}'
              AND lat BETWEEN {box.south} AND {box.north} AND lon BETWEEN {box.west} AND {box.east}
              AND 2 * {EARTH_RADIUS_M} * asin(sqrt(pow(sin(radians(lat - {lat0}) / 2), 2)
                  + {math.cos(math.radians(lat0))} * cos(radians(lat))
                  * pow(sin(radians(lon - {lon0}) / 2), 2)))
                  <= {w.radius_m}
              AND subject_kind IN ({", ".join(f"'{k}'" for k in TRACEABLE)})
              AND area IN ({", ".join(f"'{a}'" for a in areas)})"""
        )
    query = f"""
        WITH seen AS ({" UNION ALL ".join(selects)}),
        per AS (SELECT subject_kind, subject, w, count(*) AS seen,
                       arg_min(event_id, (ts, event_id)) AS evidence
                FROM seen GROUP BY ALL),
        hits AS (SELECT subject_kind, subject, count(*) AS windows, sum(seen) AS sightings
                 FROM per GROUP BY ALL HAVING count(*) >= {K})
        SELECT * FROM per JOIN hits USING (subject_kind, subject)
        ORDER BY windows DESC, sightings DESC, subject_kind, subject, w"""
    rows = con.execute(query).fetchall()  # noqa: S608 (the bench's own numbers and names)
    con.close()
    return {(r[0], r[1]) for r in rows}


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=open(os.devnull, "w")))  # noqa: SIM115
    size = os.environ.get("BENCH_SIZE", "full")
    total = 2_000_000 if size == "small" else 100_000_000
    keep = os.environ.get("BENCH_KEEP") == "1"
    root = (
        Path(tempfile.gettempdir()) / f"safecity-bench-analysis-{size}" if keep else Path(tempfile.mkdtemp())
    )
    log(f"{total:,} sightings over {DAYS} days in {root}")
    lake, windows, areas = build_lake(root, total)
    windows = check_question(windows, K, None)
    try:
        duck = Engine(EngineKind.DUCKDB)
        ibis_s, answer = median_s(lambda: ibis_collision(duck, lake, windows, areas), 5)
        assert isinstance(answer, CollisionResult)
        found = {(h.subject_kind, h.subject) for h in answer.hits}
        log(f"collision: {answer.total} subjects, thief found: {('phone', THIEF) in found}")
        pandas_s, by_pandas = median_s(lambda: pandas_collision(lake, windows, areas), 3)
        sql_s, by_sql = median_s(lambda: sql_collision(lake, windows, areas), 5)
        same = found == by_pandas == by_sql
        emit(
            "collision_s",
            ibis_s,
            "s",
            baseline=pandas_s,
            subjects=answer.total,
            same_answer_as_pandas_and_sql=same,
        )
        emit(
            "collision_vs_sql",
            ibis_s / sql_s,
            "x",
            sql_s=round(sql_s, 4),
            note="Ibis time / hand-written SQL time",
        )

        start, end = at(0, 0), at(7, 0)

        def run_companions() -> Any:
            target = lake.path(subject_kind="plate", subject=CAR, start=start, end=end)
            files = lake.files(start=start, end=end)
            with duck.session() as session:
                return companions(
                    session,
                    files,
                    target,
                    target_kind="plate",
                    target_values=[CAR],
                    start=start,
                    end=end,
                    tolerance_s=120,
                    areas=areas,
                )

        companions_s, mates = median_s(run_companions, 3)
        top = mates.companions[0] if mates.companions else None
        emit(
            "companions_s",
            companions_s,
            "s",
            target_sightings=mates.target_sightings,
            companions=len(mates.companions),
            top=None if top is None else f"{top.subject_kind}:{top.subject} ({top.places} places)",
        )
        spark_run(lake, windows, areas, answer)
    finally:
        lake.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def spark_run(lake: Lake, windows: list[Window], areas: list[str], duck_answer: CollisionResult) -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        log("pyspark is not installed (pip install -e '.[spark]'): no Spark figures")
        return
    spark = Engine(EngineKind.SPARK, spark_master="local[2]")
    started = time.perf_counter()
    spark.spark()
    session_s = time.perf_counter() - started
    try:
        spark_s, answer = median_s(lambda: ibis_collision(spark, lake, windows, areas), 3)
        emit("spark_collision_s", spark_s, "s", session_start_s=round(session_s, 1), master="local[2]")
        emit("engines_agree", 1.0 if answer == duck_answer else 0.0, "bool")
    finally:
        spark.close()


if __name__ == "__main__":
    main()
