"""Benchmark `housing_accuracy`: recall and precision of each housing, community and shop warning on a
city the tests never use.

A city is generated with seed 2027 (the tests use 1-11), with its housing and smart communities
(sim.community: alarm panels and zones, gate cameras, residents' cars), and loaded into a fresh
embedded platform; days of life at its doors (sim.doorlife: routines plus one planted
situation per housing warning kind, `PLANTS` of each) and of its gates, panels and shops
(sim.communitylife: intrusions, shop burglaries, unregistered cars, with decoys) go through the
platform's own rule engine in time order (sim.replay), with its ticks and the shops' schedule,
after the planted visitor passes and watch-list entries are registered through the use cases.
Findings are grouped as the alert service groups them (rule and dedup key: one alert each) and
scored against the ground truth (places.rules.accuracy): recall = planted situations found,
precision = alerts that found one.

Prints JSON lines per kind: `recall` and `precision` (value null where nothing was planted or
raised), with the counts; and `decoys_raised_<kind>`, the decoys some alert named (0 is
right). BENCH_SIZE=small: the tiny city over eight days (a tenant gone without checking out is
warned of after seven); default: the demo city (1,500 doors, 36,000 tenants) over three weeks.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import structlog

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.places import Visitors
from safecity.places.rules.accuracy import score
from safecity.places.schemas import VisitorPassIn
from safecity.places.shops import Shops
from safecity.platform import Platform
from safecity.settings import Settings
from safecity.sim import generate_city, load_city
from safecity.sim.community import make_community
from safecity.sim.community_loader import load_community
from safecity.sim.communitylife import community_life
from safecity.sim.doorlife import door_life
from safecity.sim.housing import TABLES, generate_housing
from safecity.sim.housing_loader import load_housing
from safecity.sim.replay import incidents, ingest_rows, raised_alerts, replay, swipe_records
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
    # Stdout is the JSON lines of the result; the platform's log lines go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    folder = Path(tempfile.mkdtemp(prefix="safecity-accuracy-"))
    clock = ManualClock(START - timedelta(days=2))
    settings = Settings(data_dir=folder / "data")
    platform = Platform.build(settings, clock=clock)
    progress(f"generating the {SCALE} city (seed {SEED}) and its housing")
    city = generate_city(seed=SEED, scale=SCALE, out_dir=folder / "city")
    load_city(city, platform.session_factory, pseudonymizer=platform.pseudonyms)
    housing = generate_housing(city, seed=SEED)
    before = START - timedelta(days=60)
    load_housing(city, housing, platform.session_factory, pseudonymizer=platform.pseudonyms, now=before)
    tables = {name: housing.table(name) for name in TABLES}
    community = make_community(tables, np.random.default_rng(np.random.SeedSequence([SEED, 40])))
    load_community(community, platform.session_factory, now=before)
    life = door_life(tables, start=START, days=DAYS, seed=SEED, plants=PLANTS)
    gates = community_life(tables, community, start=START, days=DAYS, seed=SEED, plants=PLANTS)
    register_passes(platform, clock, life.passes)
    with transaction(platform.session_factory) as session:
        for person in life.wanted["person_id"].to_list():
            registry.list_person(session, person_id=person, reported_by="bench", basis="bench warrant",
                                 owner="bench", now=clock.now())  # fmt: skip
    platform = Platform.build(settings, clock=clock)  # facts and rules read the loaded registry
    areas = pl.concat([
        tables["doors"].select(pl.col("device_id").alias("device"), pl.col("area_id").alias("area")),
        community["devices"].select(pl.col("device_id").alias("device"), pl.col("area_id").alias("area")),
    ])  # fmt: skip
    records = ingest_rows(
        pl.concat([swipe_records(life.swipes), gates.records]), areas, platform.pseudonyms.column
    )
    shops = platform.service(Shops)
    findings = replay(
        platform.rules,
        records,
        start=START,
        end=START + timedelta(days=DAYS),
        set_clock=clock.set,
        every_tick=lambda _: shops.apply_schedule(),  # shops arm at closing, disarm at opening
        progress=progress,
    )
    planted = pl.concat([life.truth, gates.truth])
    kinds = set(planted["rule_kind"])
    raised = [
        r for r in raised_alerts(findings) if r.rule_kind in kinds or r.rule_kind.startswith("housing_")
    ]
    slack = timedelta(hours=2)
    for s in score(incidents(planted, platform.pseudonyms.pseudonym), raised, slack=slack):
        counts = {"planted": s.planted, "found": s.found, "raised": s.raised, "right": s.right}
        emit(f"recall_{s.rule_kind}", s.recall, **counts)
        emit(f"precision_{s.rule_kind}", s.precision, **counts)
    for s in score(incidents(gates.decoys, platform.pseudonyms.pseudonym), raised, slack=slack):
        if s.planted:
            emit(f"decoys_raised_{s.rule_kind}", s.found, decoys=s.planted)


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


if __name__ == "__main__":
    main()
