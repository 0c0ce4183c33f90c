"""Small generated sightings for the workbench's tests, and brute-force answers to check against."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import numpy as np
import polars as pl
from shapely.geometry import Point, Polygon

from safecity.core.geo import distance_m
from safecity.core.record import RECORD_SCHEMA
from safecity.workbench.collision import TRACEABLE
from safecity.workbench.windows import Window

T0 = datetime(2026, 11, 2, tzinfo=UTC)
LAT0, LON0 = 30.0, 120.58
RES = 9
KINDS = {
    "plate": "plate_read",
    "phone": "phone_seen",
    "tag": "rfid_read",
    "id_card": "door_swipe",
    "unit": "unit_fix",
}


def sightings(n: int, *, seed: int, subjects: int = 60, devices: int = 20, days: int = 2) -> pl.DataFrame:
    """`n` random records of a few subjects at a few devices over `days` days, in RECORD_SCHEMA."""
    rng = np.random.default_rng(seed)
    dev_lat = LAT0 + rng.uniform(0, 0.03, devices)
    dev_lon = LON0 + rng.uniform(0, 0.03, devices)
    dev = rng.integers(0, devices, n)
    kind_names = list(KINDS)
    subject_kind = rng.choice(kind_names, n, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    lat = dev_lat[dev] + rng.normal(0, 0.0003, n)
    lon = dev_lon[dev] + rng.normal(0, 0.0003, n)
    # Milliseconds, as devices send them: engines must agree on how a time is cut to the second.
    millis = rng.integers(0, days * 86_400_000, n)
    return frame(
        {
            "event_id": [f"e{seed}-{i:06d}" for i in range(n)],
            "subject_kind": subject_kind.tolist(),
            "subject": [f"S{v}" for v in rng.integers(0, subjects, n)],
            "device": [f"D{d:02d}" for d in dev],
            "ts": [T0 + timedelta(milliseconds=int(ms)) for ms in millis],
            "lat": lat.tolist(),
            "lon": lon.tolist(),
            "area": [("A1" if d % 3 else "A2") for d in dev],
        }
    )


def frame(columns: dict[str, list]) -> pl.DataFrame:
    """Records from the given columns, the rest filled in as the platform would."""
    n = len(columns["event_id"])
    lat, lon = columns["lat"], columns["lon"]
    full = {
        "corr_id": columns["event_id"],
        "kind": [KINDS.get(k, "rfid_read") for k in columns["subject_kind"]],
        "cell": [h3.str_to_int(h3.latlng_to_cell(a, b, RES)) for a, b in zip(lat, lon, strict=True)],
        "code": [None] * n,
        "value": [None] * n,
        "attrs": [None] * n,
        "source": ["sim"] * n,
        "received_at": columns["ts"],
        **columns,
    }
    return pl.DataFrame(full).select(list(RECORD_SCHEMA)).cast(RECORD_SCHEMA)


def write(records: pl.DataFrame, folder: Path, *, files: int = 3) -> list[Path]:
    """The records as a few Parquet files (as lake parts would be), small row groups."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    step = math.ceil(records.height / files) or 1
    for i in range(files):
        part = records.slice(i * step, step)
        if part.height:
            path = folder / f"part-{i}.parquet"
            part.write_parquet(path, row_group_size=500)
            paths.append(path)
    return paths


def in_window(row: dict, w: Window) -> bool:
    """The brute-force test of one record against a window."""
    if not w.start <= row["ts"] < w.end:
        return False
    if w.devices:
        return row["device"] in w.devices
    if w.center is not None:
        return distance_m(row["lat"], row["lon"], *w.center) <= (w.radius_m or 0)
    return Polygon([(b, a) for a, b in w.polygon]).contains(Point(row["lon"], row["lat"]))


def brute_collision(
    records: pl.DataFrame, windows: Sequence[Window], k: int, areas: set[str] | None
) -> dict[tuple[str, str], dict[int, tuple[str, int]]]:
    """subject -> window -> (evidence event id, sightings in the window), for subjects in >= k windows."""
    seen: dict[tuple[str, str], dict[int, list[tuple[datetime, str]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in records.iter_rows(named=True):
        if row["subject_kind"] not in TRACEABLE or (areas is not None and row["area"] not in areas):
            continue
        for i, w in enumerate(windows):
            if in_window(row, w):
                seen[(row["subject_kind"], row["subject"])][i].append((row["ts"], row["event_id"]))
    return {
        who: {i: (min(rows)[1], len(rows)) for i, rows in by_window.items()}
        for who, by_window in seen.items()
        if len(by_window) >= k
    }


def brute_companions(
    records: pl.DataFrame,
    target: tuple[str, str],
    *,
    tolerance_s: int,
    ring: int,
    min_meetings: int,
    min_places: int,
) -> dict[tuple[str, str], tuple[int, int]]:
    """companion -> (distinct target places met at, target sightings met), by looking at every pair."""
    rows = records.filter(pl.col("subject_kind").is_in(list(TRACEABLE))).to_dicts()
    mine = [r for r in rows if (r["subject_kind"], r["subject"]) == target]
    met: dict[tuple[str, str], set[tuple[str, int]]] = defaultdict(set)
    for r in rows:
        who = (r["subject_kind"], r["subject"])
        if who == target:
            continue
        for t in mine:
            # Times are compared to the second (workbench.engine.epoch_s).
            close = abs(_second(r["ts"]) - _second(t["ts"])) <= tolerance_s
            if close and h3.grid_distance(h3.int_to_str(r["cell"]), h3.int_to_str(t["cell"])) <= ring:
                met[who].add((t["event_id"], t["cell"]))
    out = {}
    for who, meetings in met.items():
        places = len({cell for _, cell in meetings})
        if len(meetings) >= min_meetings and places >= min_places:
            out[who] = (places, len(meetings))
    return out


def _second(ts: datetime) -> int:
    return math.floor(ts.timestamp())
