"""The synthetic city the lake and analysis benchmarks fill the lake with: sensors and a day's records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import polars as pl

from safecity.core.geo import cell_expr
from safecity.core.record import RECORD_SCHEMA
from safecity.lake import Lake

FIRST_DAY = dt.date(2024, 4, 1)
# Kind mix of a city where e-bike tag reads dominate (Wenzhou: 6,399 stations).
KIND_MIX = [
    ("rfid_read", "tag", "T", 0.80),
    ("door_swipe", "id_card", "ID", 0.08),
    ("plate_read", "plate", "P", 0.05),
    ("tracker_fix", "tracker", "TR", 0.03),
    ("heartbeat", "device", "", 0.02),
    ("unit_fix", "unit", "U", 0.01),
    ("phone_seen", "phone", "PH", 0.004),
    ("face_match", "face", "F", 0.003),
    ("alarm", "device", "", 0.001),
    ("count", "device", "", 0.001),
    ("report", "device", "", 0.001),
]
CENTRE = (27.99, 120.69)


def stations(n: int = 6399, seed: int = 1) -> pl.DataFrame:
    """Fixed sensors scattered over a 22 x 24 km city, with their area and H3 cell."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "device": [f"ST{i:05d}" for i in range(n)],
            "lat": CENTRE[0] + rng.uniform(-0.1, 0.1, n),
            "lon": CENTRE[1] + rng.uniform(-0.12, 0.12, n),
            "area": [f"330302{i % 400:03d}" for i in range(n)],
        }
    )
    return frame.with_columns(cell=cell_expr("lat", "lon", 9))


def records(
    day: dt.date, n: int, n_subjects: int, sensors: pl.DataFrame, rng: np.random.Generator, offset: int = 0
) -> pl.DataFrame:
    """n realistic records of one UTC day, generated vectorised."""
    probs = np.array([m[3] for m in KIND_MIX])
    pick = rng.choice(len(KIND_MIX), size=n, p=probs / probs.sum())
    day_ms = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000)
    base = pl.DataFrame(
        {
            "kind": np.array([m[0] for m in KIND_MIX])[pick],
            "subject_kind": np.array([m[1] for m in KIND_MIX])[pick],
            "prefix": np.array([m[2] for m in KIND_MIX])[pick],
            "n": rng.integers(0, n_subjects, n),
            "seq": np.arange(offset, offset + n),
            "ts": day_ms + rng.integers(0, 86_400_000, n),
            "delay": rng.integers(30, 2_000, n),
        }
    ).hstack(sensors[rng.integers(0, sensors.height, n)])
    is_device = pl.col("subject_kind") == "device"
    return base.select(
        event_id=pl.concat_str([pl.col("device"), pl.lit(f"-{day:%Y%m%d}-"), pl.col("seq").cast(pl.String)]),
        corr_id=pl.lit(None, pl.String),
        kind="kind",
        subject_kind="subject_kind",
        subject=pl.when(is_device)
        .then(pl.col("device"))
        .otherwise(pl.concat_str([pl.col("prefix"), pl.col("n").cast(pl.String).str.zfill(8)])),
        device="device",
        ts=pl.col("ts").cast(pl.Datetime("ms", "UTC")),
        lat="lat",
        lon="lon",
        cell="cell",
        area="area",
        code=pl.when(pl.col("kind") == "alarm").then(pl.lit("TAMPER")).otherwise(None),
        value=pl.when(pl.col("kind") == "count").then(pl.col("delay").cast(pl.Float64)).otherwise(None),
        attrs=pl.lit(None, pl.String),
        source=pl.lit("mqtt"),
        received_at=(pl.col("ts") + pl.col("delay")).cast(pl.Datetime("ms", "UTC")),
    ).cast(RECORD_SCHEMA)


def fill(
    lake: Lake, days: int, per_day: int, n_subjects: int, log: Callable[[str], None] = lambda _: None
) -> None:
    """Write the synthetic city straight into the lake as unsorted parts, four per partition and day."""
    chunk_rows = -(-per_day // 4)
    sensors, rng = stations(), np.random.default_rng(42)
    for d in range(days):
        day = FIRST_DAY + dt.timedelta(days=d)
        for offset in range(0, per_day, chunk_rows):
            lake.append(records(day, min(chunk_rows, per_day - offset), n_subjects, sensors, rng, offset))
        if d % 5 == 4 or d == days - 1:
            log(f"filled {d + 1}/{days} days ({(d + 1) * per_day:,} records)")
