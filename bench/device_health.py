"""Benchmark of device health and the shop breach rule at the seed's size.

- `figures_s`: one `GET /api/v1/health/devices` worth of work (`DeviceHealth.figures`, community
  level) over 23,671 door controllers (2,000 with BENCH_SIZE=small) with a day of swipes (two
  per tenant, 2.8 M) and two hours of heartbeats (one a minute, 2.8 M) in the lake. Baseline, in
  the same run: the same figures by a per-record Python loop over the same rows.
- `breach_records_per_s`: the `shop_armed_breach` rule over 50,000-record micro-batches of door
  traffic with 5,000 shops (a tenth of them armed) registered.

Run: `.venv/bin/python bench/device_health.py`. SQLite and a lake in a temporary folder.
Prints one JSON object per figure on stdout, progress on stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import structlog
from sqlalchemy import insert

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.core.record import RECORD_SCHEMA, UTC_MS
from safecity.places.health import DeviceHealth
from safecity.places.health_schemas import Level
from safecity.places.models import Compound, Door, Shop
from safecity.places.shop_rule import ShopBreachRule
from safecity.platform import Platform
from safecity.registry.models import Area, Device
from safecity.rules import RuleConfig
from safecity.settings import Settings
from safecity.store import transaction

SMALL = os.environ.get("BENCH_SIZE") == "small"
DOORS = 2_000 if SMALL else 23_671
SWIPES = 200_000 if SMALL else 2_800_000
SHOPS = 500 if SMALL else 5_000
BATCH = 50_000
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # 16:00 in Wenzhou
DAY_START = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[device_health bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(
    metric: str, value: float, unit: str, *, baseline: float | None, target: float | None, **extra: object
) -> None:
    """One figure as a JSON line."""
    # For times the ratio is the speed-up over the baseline (baseline / value).
    ratio = None if baseline is None or value == 0 else round(baseline / value, 2)
    row = {"bench": "device_health", "metric": metric, "value": round(value, 3), "unit": unit}
    row |= {
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": ratio,
        "target": target,
        **extra,
    }
    print(json.dumps(row), flush=True)


def seed(platform: Platform) -> None:
    """Districts, stations, communities, compounds, door controllers and shops, by bulk insert."""
    communities = [f"C{c:03d}" for c in range(max(DOORS // 120, 4))]
    with transaction(platform.session_factory) as session:
        session.execute(
            insert(Area), [{"id": f"D{d}", "kind": "district", "name": f"District {d}"} for d in range(4)]
        )
        stations = [f"S{s:02d}" for s in range(20)]
        session.execute(
            insert(Area),
            [
                {"id": s, "kind": "station", "name": s, "parent_id": f"D{i % 4}", "station_id": s}
                for i, s in enumerate(stations)
            ],
        )
        session.execute(
            insert(Area),
            [
                {
                    "id": c,
                    "kind": "community",
                    "name": c,
                    "parent_id": stations[i % 20],
                    "station_id": stations[i % 20],
                }
                for i, c in enumerate(communities)
            ],
        )
        compounds = [f"CP{n:04d}" for n in range(DOORS // 12)]
        session.execute(
            insert(Compound),
            [
                {"id": cp, "name": cp, "community_id": communities[i % len(communities)]}
                for i, cp in enumerate(compounds)
            ],
        )
        session.execute(
            insert(Device),
            [
                {
                    "id": f"DC{n:05d}",
                    "kind": "door_controller",
                    "name": "door",
                    "status": "active",
                    "registered_at": NOW,
                }
                for n in range(DOORS)
            ],
        )
        session.execute(
            insert(Door),
            [
                {"device_id": f"DC{n:05d}", "compound_id": compounds[n % len(compounds)], "name": "gate"}
                for n in range(DOORS)
            ],
        )
        owner = registry.get_or_create_person(
            session,
            id_number="330302197001011236",
            name="O",
            phone=None,
            now=NOW,
            pseudonymize=platform.pseudonyms.pseudonym,
        )
        session.execute(
            insert(Shop),
            [
                {
                    "name": f"shop {n}",
                    "community_id": communities[n % len(communities)],
                    "owner_person_id": owner.id,
                    "armed": n % 10 == 0,
                }
                for n in range(SHOPS)
            ],
        )
        session.flush()
        # The last SHOPS door controllers guard the shops instead of compounds.
        session.execute(
            insert(Device),
            [
                {
                    "id": f"SD{n:05d}",
                    "kind": "door_controller",
                    "name": "shop door",
                    "status": "active",
                    "registered_at": NOW,
                }
                for n in range(SHOPS)
            ],
        )
        session.execute(
            insert(Door),
            [{"device_id": f"SD{n:05d}", "shop_id": n + 1, "name": "shop door"} for n in range(SHOPS)],
        )


def records(rng: np.random.Generator) -> pl.DataFrame:
    """A day of swipes (most granted, some denied) and two hours of heartbeats, one a minute."""
    doors = np.array([f"DC{n:05d}" for n in range(DOORS)])
    active = doors[rng.random(DOORS) < 0.96]  # some doors are never swiped and fell silent
    day_ms, now_ms = int(DAY_START.timestamp() * 1000), int(NOW.timestamp() * 1000)
    swipes = pl.DataFrame(
        {
            "device": rng.choice(active, SWIPES),
            "kind": "door_swipe",
            "code": np.where(rng.random(SWIPES) < 0.97, "granted", "denied"),
            "ms": rng.integers(day_ms, now_ms, SWIPES),
        }
    )
    beats = pl.DataFrame(
        {
            "device": np.repeat(active, 120),
            "kind": "heartbeat",
            "code": None,
            "ms": now_ms - np.tile(np.arange(120) * 60_000, active.size),
        },
        schema_overrides={"code": pl.String},
    )
    frame = pl.concat([swipes, beats]).with_row_index("n")
    at = pl.from_epoch("ms", time_unit="ms").dt.replace_time_zone("UTC").cast(UTC_MS)
    return (
        frame.select(
            event_id=pl.col("n").cast(pl.String),
            corr_id=pl.col("n").cast(pl.String),
            kind="kind",
            subject_kind=pl.lit("device"),
            subject="device",
            device="device",
            ts=at,
            code="code",
            received_at=at,
        )
        .with_columns(
            [
                pl.lit(None, dtype).alias(c)
                for c, dtype in RECORD_SCHEMA.items()
                if c
                not in (
                    "event_id",
                    "corr_id",
                    "kind",
                    "subject_kind",
                    "subject",
                    "device",
                    "ts",
                    "code",
                    "received_at",
                )
            ]
        )
        .select(list(RECORD_SCHEMA))
    )


def naive_figures(rows: list[dict[str, object]], door_community: dict[str, str]) -> dict[str, list[int]]:
    """The same figures by a per-record loop: what a plain Python implementation would do."""
    seen: dict[str, datetime] = {}
    swipes: dict[str, int] = defaultdict(int)
    granted: dict[str, int] = defaultdict(int)
    for r in rows:
        device = str(r["device"])
        at = r["received_at"]
        assert isinstance(at, datetime)
        if device not in seen or at > seen[device]:
            seen[device] = at
        if r["kind"] == "door_swipe" and r["ts"] >= DAY_START:  # type: ignore[operator]
            swipes[device] += 1
            granted[device] += r["code"] == "granted"
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for device, community in door_community.items():
        row = out[community]
        row[0] += 1
        row[1] += device in seen and seen[device] >= NOW - timedelta(minutes=15)
        row[2] += swipes[device] > 0
        row[3] += granted[device]
    return out


def main() -> None:
    # Stdout is the JSON lines of the result; the platform's log lines go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    folder = Path(tempfile.mkdtemp(prefix="bench-health-"))
    try:
        platform = Platform.build(Settings(data_dir=folder), clock=ManualClock(NOW))
        log(f"seeding {DOORS:,} door controllers and {SHOPS:,} shops")
        seed(platform)
        frame = records(np.random.default_rng(7))
        log(f"appending {frame.height:,} records")
        platform.lake.append(frame)
        health = platform.service(DeviceHealth)
        health.figures(SYSTEM, level=Level.COMMUNITY, resource="bench")  # warm: imports, caches
        times = []
        for _ in range(3):
            started = time.perf_counter()
            out = health.figures(SYSTEM, level=Level.COMMUNITY, resource="bench")
            times.append(time.perf_counter() - started)
        best = sorted(times)[1]
        log(
            f"figures: {times}; {out.total.doors:,} doors, "
            f"online {out.total.online_rate}, usage {out.total.usage_rate}"
        )
        rows = frame.select("device", "kind", "code", "ts", "received_at").to_dicts()
        placement = {f"DC{n:05d}": f"C{(n % (DOORS // 12)) % max(DOORS // 120, 4):03d}" for n in range(DOORS)}
        started = time.perf_counter()
        naive_figures(rows, placement)
        naive = time.perf_counter() - started
        emit(
            "figures_s",
            best,
            "s",
            baseline=naive,
            target=2.0,
            doors=out.total.doors,
            records=frame.height,
            note="baseline: per-record Python loop over rows already in memory (no lake read)",
        )

        rule = ShopBreachRule(RuleConfig(name="shop-armed-breach", kind="shop_armed_breach"))
        rng = np.random.default_rng(11)
        devices = np.array([f"SD{n:05d}" for n in range(SHOPS)] + [f"DC{n:05d}" for n in range(DOORS)])
        codes = np.array(["granted", "door_opened_no_swipe", "door_forced", "denied"])
        batch = frame.head(BATCH).with_columns(
            device=pl.Series(rng.choice(devices, BATCH)),
            kind=pl.Series(np.where(rng.random(BATCH) < 0.5, "door_swipe", "alarm")),
            code=pl.Series(rng.choice(codes, BATCH)),
            ts=pl.lit(NOW).cast(UTC_MS),
        )
        rule.evaluate(batch, platform.facts, NOW)  # warm the shops' facts
        started = time.perf_counter()
        passes = 10
        found = 0
        for _ in range(passes):
            found = len(rule.evaluate(batch, platform.facts, NOW))
        per_s = passes * BATCH / (time.perf_counter() - started)
        emit(
            "breach_records_per_s",
            per_s,
            "records/s",
            baseline=None,
            target=None,
            shops=SHOPS,
            findings=found,
        )
        platform.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
