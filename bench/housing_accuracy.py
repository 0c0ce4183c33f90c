"""Benchmark `housing_accuracy`: recall and precision of each housing warning on a city the tests never use.

A city is generated with seed 2027 (the tests use 1-11), with its housing, and loaded into a
fresh embedded platform; days of life at its doors (sim.doorlife: routines plus one
planted situation per warning kind, `PLANTS` of each) go through the platform's own rule engine
in time order, with its ticks, after the planted visitor passes and watch-list entries are
registered through the use cases. Findings are grouped as the alert service groups them (rule
and dedup key: one alert each) and scored against the ground truth (places.rules.accuracy):
recall = planted situations found, precision = alerts that found one.

Prints JSON lines per kind: `recall` and `precision` (value null where nothing was planted or
raised), with the counts. BENCH_SIZE=small: the tiny city over eight days; default: the demo city
(1,500 doors, 36,000 tenants) over three weeks.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.core.finding import Finding, Ref
from safecity.core.record import RECORD_SCHEMA
from safecity.places import Visitors
from safecity.places.rules.accuracy import Incident, Raised, score
from safecity.places.schemas import VisitorPassIn
from safecity.platform import Platform
from safecity.settings import Settings
from safecity.sim import generate_city, load_city
from safecity.sim.doorlife import door_life
from safecity.sim.housing import TABLES, generate_housing
from safecity.sim.housing_loader import load_housing
from safecity.store import transaction

SMALL = os.environ.get("BENCH_SIZE") == "small"
SCALE = "tiny" if SMALL else "demo"
SEED = 2027
# Eight days: a tenant gone without checking out is warned of after seven. Three weeks at full
# size: a building learns its own hours from 500 entries first (a demo building takes about two weeks).
DAYS = 8 if SMALL else 22
PLANTS = 3 if SMALL else 10
START = datetime(2026, 11, 16, tzinfo=UTC)  # Monday 08:00 in Wenzhou


def emit(metric: str, value: float | None, **extra: Any) -> None:
    print(json.dumps({"bench": "housing_accuracy", "metric": metric, "value": value, "unit": "ratio",
                      "baseline": None, "ratio": None, "target": None, **extra}), flush=True)  # fmt: skip


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="safecity-accuracy-"))
    clock = ManualClock(START - timedelta(days=2))
    settings = Settings(data_dir=folder / "data")
    platform = Platform.build(settings, clock=clock)
    progress(f"generating the {SCALE} city (seed {SEED}) and its housing")
    city = generate_city(seed=SEED, scale=SCALE, out_dir=folder / "city")
    load_city(city, platform.session_factory, pseudonymizer=platform.pseudonyms)
    housing = generate_housing(city, seed=SEED)
    load_housing(
        city,
        housing,
        platform.session_factory,
        pseudonymizer=platform.pseudonyms,
        now=START - timedelta(days=60),
    )
    tables = {name: housing.table(name) for name in TABLES}
    life = door_life(tables, start=START, days=DAYS, seed=SEED, plants=PLANTS)
    register_passes(platform, clock, life.passes)
    with transaction(platform.session_factory) as session:
        for person in life.wanted["person_id"].to_list():
            registry.list_person(session, person_id=person, reported_by="bench", basis="bench warrant",
                                 owner="bench", now=clock.now())  # fmt: skip
    platform = Platform.build(settings, clock=clock)  # facts and rules read the loaded registry
    findings = replay(platform, clock, life.swipes, tables)
    incidents = truth(platform, life.truth)
    kinds = set(life.truth["rule_kind"])
    raised = [r for r in grouped(findings) if r.rule_kind in kinds or r.rule_kind.startswith("housing_")]
    for s in score(incidents, raised, slack=timedelta(hours=2)):
        counts = {"planted": s.planted, "found": s.found, "raised": s.raised, "right": s.right}
        emit(f"recall_{s.rule_kind}", s.recall, **counts)
        emit(f"precision_{s.rule_kind}", s.precision, **counts)


def register_passes(platform: Platform, clock: ManualClock, passes: pl.DataFrame) -> None:
    """The planted visitor passes through the use case, each at its own start (passes last a week at most)."""
    visitors = platform.service(Visitors)
    for row in passes.sort("valid_from").iter_rows(named=True):
        start, end = row["valid_from"], row["valid_until"]
        while start < end:
            until = min(end, start + timedelta(days=7))
            clock.set(start)
            body = VisitorPassIn(
                compound_id=row["compound_id"],
                flat_id=row["flat_id"],
                id_number=row["id_number"],
                name=row["name"],
                valid_from=start,
                valid_until=until,
            )
            visitors.register(SYSTEM, body, resource="bench")
            start = until


def replay(
    platform: Platform, clock: ManualClock, swipes: pl.DataFrame, tables: dict[str, pl.DataFrame]
) -> list[Finding]:
    """The swipes as the pipeline would publish them, through the engine in time order, with ticks."""
    area = tables["doors"].select(pl.col("device_id").alias("device"), pl.col("area_id").alias("area"))
    records = (
        swipes.with_row_index("n")
        .join(area, on="device", how="left")
        .select(
            (pl.col("device") + "-" + pl.col("n").cast(pl.String)).alias("event_id"),
            (pl.col("device") + "-" + pl.col("n").cast(pl.String)).alias("corr_id"),
            pl.lit("door_swipe").alias("kind"),
            pl.lit("id_card").alias("subject_kind"),
            platform.pseudonyms.column(swipes["card"]).alias("subject"),
            "device",
            "ts",
            pl.lit(None, pl.Float64).alias("lat"),
            pl.lit(None, pl.Float64).alias("lon"),
            pl.lit(None, pl.UInt64).alias("cell"),
            "area",
            pl.when(pl.col("granted")).then(pl.lit("granted")).otherwise(pl.lit("denied")).alias("code"),
            pl.lit(None, pl.Float64).alias("value"),
            pl.format('{{"reason":"{}"}}', pl.col("reason")).alias("attrs"),
            pl.lit("sim").alias("source"),
            pl.col("ts").alias("received_at"),
        )
        .cast(RECORD_SCHEMA)  # type: ignore[arg-type]
    )
    engine = platform.rules
    found: list[Finding] = []
    started, next_tick = time.perf_counter(), START
    # As the pipeline delivers them: a batch a minute of event time, evaluated at its end.
    minutes = records.with_columns(minute=pl.col("ts").dt.truncate("1m")).partition_by(
        "minute", maintain_order=True, include_key=False
    )
    for n, batch in enumerate(minutes):
        now = batch["ts"].max() + timedelta(seconds=1)  # type: ignore[operator]
        while next_tick <= now:
            clock.set(next_tick)
            found += engine.tick(now=next_tick)
            next_tick += timedelta(minutes=10)
        clock.set(now)
        found += engine.evaluate(batch, now=now)
        if n % 2000 == 0:
            done = f"{n:,} of {len(minutes):,} minutes"
            progress(f"  {done}, {len(found)} findings, {time.perf_counter() - started:.0f} s")
    end = START + timedelta(days=DAYS)
    while next_tick <= end:
        found += engine.tick(now=next_tick)
        next_tick += timedelta(minutes=10)
    return found


def truth(platform: Platform, rows: pl.DataFrame) -> list[Incident]:
    """Ground truth as incidents: a card named by its number becomes its pseudonym, as warnings name it."""
    out = []
    for row in rows.iter_rows(named=True):
        refs = set()
        for ref in row["refs"]:
            entity, _, key = ref.partition(":")
            refs.add(
                Ref("id_card", platform.pseudonyms.pseudonym(key)) if entity == "card" else Ref(entity, key)
            )
        out.append(Incident(row["rule_kind"], frozenset(refs), row["start"], row["end"]))
    return out


def grouped(findings: list[Finding]) -> list[Raised]:
    """One raised alert per (rule, dedup key), as the alert service keeps them, over all its findings."""
    alerts: dict[tuple[str, str], Raised] = {}
    for finding in findings:
        one = Raised.of(finding)
        key = (finding.rule, finding.dedup_key)
        seen = alerts.get(key)
        alerts[key] = (
            one
            if seen is None
            else Raised(
                one.rule_kind,
                seen.refs | one.refs,
                min(seen.first_seen, one.first_seen),
                max(seen.last_seen, one.last_seen),
            )
        )
    return list(alerts.values())


if __name__ == "__main__":
    main()
