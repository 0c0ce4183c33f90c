"""Benchmark `housing`: the housing rules over a Wenzhou-size week of door swipes, through the rule engine.

A city of 23,671 door systems (20,000 building doors, 3,671 compound gates), 500,000 flats and
1.4 million tenants is handed to the places fact source as frames (the registry read is not
what is measured; `facts_load_s` reports building the view from them). 10 million swipes over
seven days (BENCH_SIZE=small: 500,000 over a day, 100,000 tenants) go in 50,000-swipe batches
through `RuleEngine.evaluate` with the default rules file's housing rules and the watch-listed
person hotlist, ticking every million swipes (the time-based and day-level rules count then;
their cost is in the figure). 1 % of swipes are unknown cards, 1 % denied. Each batch reaches the
engine as the bus delivers it (through its Arrow IPC codec, untimed); BENCH_FRAGMENTED=1 leaves
the batches' strings as views into the generator's card column instead (slower to read).

Prints JSON lines: `swipes_per_s` (target 1,000,000) with the baseline of a plain per-swipe
Python evaluator of the same six rules (dicts and deques) over the first swipes of the same
stream, measured in the same run; `ms_per_batch` per rule (the profile); `facts_load_s`; the
findings raised. Progress on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import structlog
from sqlalchemy.orm import sessionmaker

from safecity.bus.nats import decode_frame, encode_frame
from safecity.core.clock import ManualClock
from safecity.core.finding import SubjectFacts
from safecity.core.record import RECORD_SCHEMA
from safecity.places.facts import BUILDINGS, DOORS, FLATS, TENANTS, VISITORS, PlaceFacts, RegistryFrames
from safecity.rules import RuleEngine, build_rules, load_rules
from safecity.rules.config import DEFAULT_RULES_FILE

SMALL = os.environ.get("BENCH_SIZE") == "small"
SWIPES = 500_000 if SMALL else 10_000_000
DAYS = 1 if SMALL else 7
TENANT_COUNT = 100_000 if SMALL else 1_400_000
BUILDING_COUNT = 2_000 if SMALL else 20_000
COMPOUND_COUNT = 400 if SMALL else 3_671
FLATS_PER_BUILDING = 25
BATCH = 50_000
TICK_EVERY = 20  # batches: a tick per million swipes
BASELINE_SWIPES = 250_000 if SMALL else 1_000_000  # also the batches profiled
START = datetime(2026, 11, 16, tzinfo=UTC) - timedelta(hours=8)  # a Monday, 00:00 in Wenzhou
TARGET = 1_000_000
FRAGMENTED = os.environ.get("BENCH_FRAGMENTED") == "1"  # batches' strings left pointing into the cards'


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    """One JSON line of the result."""
    record = {
        "bench": "housing",
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": round(value / baseline, 1) if baseline else None,
        "target": TARGET if metric == "swipes_per_s" else None,
    }
    print(json.dumps(record | extra), flush=True)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def city(rng: np.random.Generator) -> tuple[RegistryFrames, pl.Series, np.ndarray, np.ndarray]:
    """The registry's places as frames; the cards, and each tenant's building and compound index."""
    b = np.arange(BUILDING_COUNT)
    compound_of_building = b % COMPOUND_COUNT
    buildings = pl.DataFrame(
        {
            "building_id": [f"B{i}" for i in b],
            "building_name": [f"{i}号楼" for i in b],
            "compound_id": [f"CP{c}" for c in compound_of_building],
            "community_id": [f"C{c % 500}" for c in compound_of_building],
            "capacity": np.full(BUILDING_COUNT, 3 * FLATS_PER_BUILDING),
        },
        schema=BUILDINGS,
    )
    doors = pl.DataFrame(
        {
            "device": [f"D{i}" for i in b] + [f"G{c}" for c in range(COMPOUND_COUNT)],
            "door_name": [f"D{i}" for i in b] + [f"G{c}" for c in range(COMPOUND_COUNT)],
            "compound_id": [f"CP{c}" for c in compound_of_building]
            + [f"CP{c}" for c in range(COMPOUND_COUNT)],
            "building_id": [f"B{i}" for i in b] + [None] * COMPOUND_COUNT,
            "shop_id": [None] * (BUILDING_COUNT + COMPOUND_COUNT),
            "community_id": [f"C{c % 500}" for c in compound_of_building]
            + [f"C{c % 500}" for c in range(COMPOUND_COUNT)],
        },
        schema=DOORS,
    )
    flat_count = BUILDING_COUNT * FLATS_PER_BUILDING
    flat_building = np.arange(flat_count) // FLATS_PER_BUILDING
    flats = pl.DataFrame(
        {
            "flat_id": np.arange(flat_count),
            "flat_number": [str(i % FLATS_PER_BUILDING) for i in range(flat_count)],
            "building_id": [f"B{i}" for i in flat_building],
            "compound_id": [f"CP{c}" for c in flat_building % COMPOUND_COUNT],
            "capacity": np.full(flat_count, 3),
            "use": ["residential"] * flat_count,
            "landlord_id": np.arange(flat_count) // 10,
        },
        schema=FLATS,
    )
    # Two or three tenants a flat (capacity 3): the city is within its registrations.
    flat_of_tenant = rng.permutation(flat_count)[np.arange(TENANT_COUNT) % flat_count]
    tenants = pl.DataFrame(
        {
            "person_id": np.arange(TENANT_COUNT),
            "tenancy_id": np.arange(TENANT_COUNT),
            "flat_id": flat_of_tenant,
            "starts_at": [START - timedelta(days=30)] * TENANT_COUNT,
        },
        schema=TENANTS,
    )
    cards = pl.Series("card", [f"1.{x:032x}" for x in rng.integers(0, 2**62, TENANT_COUNT + 20_000)])
    visitors = pl.DataFrame(
        {
            "person_id": np.arange(TENANT_COUNT, TENANT_COUNT + 10_000),
            "flat_id": rng.integers(0, flat_count, 10_000),
            "building_id": None,
        },
        schema=VISITORS,
    ).drop("building_id")
    visitors = visitors.join(flats.select("flat_id", "building_id"), on="flat_id")
    frames = RegistryFrames(
        doors=doors,
        buildings=buildings,
        flats=flats,
        tenants=tenants,
        visitors=visitors,
        cards=pl.DataFrame({"person_id": np.arange(cards.len()), "card": cards}),
        registered=pl.Series("person_id", np.arange(TENANT_COUNT + 10_000)),  # the last 10,000 cards: unknown
    )
    building_of_tenant = flat_building[flat_of_tenant]
    return frames, cards, building_of_tenant, building_of_tenant % COMPOUND_COUNT


class CityFacts(PlaceFacts):
    """The places fact source over generated frames instead of the registry database."""

    def __init__(self, frames: RegistryFrames) -> None:
        super().__init__(sessionmaker())
        self._frames = frames

    def read(self, session: Any) -> RegistryFrames:
        return self._frames


class BenchFacts:
    """What the engine's rules read: the places source, and a watchlist of a few listed cards."""

    def __init__(self, places: CityFacts, listed: list[str]) -> None:
        self.places = places
        self._watch = pl.DataFrame(
            {
                "subject_kind": ["id_card"] * len(listed),
                "subject": listed,
                "entry_id": list(range(1, len(listed) + 1)),
                "list_kind": ["wanted_person"] * len(listed),
                "ebike_id": [None] * len(listed),
                "valid_from": [START - timedelta(days=1)] * len(listed),
                "valid_until": [START + timedelta(days=60)] * len(listed),
            },
            schema={
                "subject_kind": pl.String,
                "subject": pl.String,
                "entry_id": pl.Int64,
                "list_kind": pl.String,
                "ebike_id": pl.Int64,
                "valid_from": pl.Datetime("us", "UTC"),
                "valid_until": pl.Datetime("us", "UTC"),
            },
        )

    def watchlist(self, now: datetime) -> pl.DataFrame:
        return self._watch

    def entry_facts(self, entry_ids: list[int]) -> dict[int, SubjectFacts]:
        return {}

    def devices(self) -> pl.DataFrame:
        return pl.DataFrame()

    def source(self, name: str) -> Any:
        return self.places


def batches(rng: np.random.Generator, cards: pl.Series, building: np.ndarray, compound: np.ndarray) -> Any:
    """Swipe batches in event-time order, as ingest hands them on (subjects are pseudonyms)."""
    span = timedelta(days=DAYS) / (SWIPES // BATCH)
    unknown = cards.slice(TENANT_COUNT + 10_000)
    for i in range(SWIPES // BATCH):
        who = rng.integers(0, TENANT_COUNT, BATCH)
        at_gate = rng.random(BATCH) < 0.3
        device = np.where(
            at_gate, np.char.add("G", compound[who].astype(str)), np.char.add("D", building[who].astype(str))
        )
        subject = cards.gather(who)
        stranger = rng.random(BATCH) < 0.01
        subject = subject.scatter(
            np.flatnonzero(stranger), unknown.gather(rng.integers(0, unknown.len(), int(stranger.sum())))
        )
        denied = stranger | (rng.random(BATCH) < 0.01)
        base = START + span * i
        offsets = np.sort(rng.integers(0, int(span.total_seconds() * 1000), BATCH))
        ts = pl.select(pl.lit(base) + pl.Series(offsets).cast(pl.Duration("ms"))).to_series()
        frame = pl.DataFrame(
            {
                "event_id": pl.select(pl.format("e{}", pl.int_range(i * BATCH, (i + 1) * BATCH))).to_series(),
                "kind": "door_swipe",
                "subject_kind": "id_card",
                "subject": subject,
                "device": device,
                "code": np.where(denied, "denied", "granted"),
            }
        ).with_columns(
            pl.col("event_id").alias("corr_id"),
            ts.dt.cast_time_unit("ms").alias("ts"),
            pl.lit(28.0).alias("lat"),
            pl.lit(120.6).alias("lon"),
            pl.lit(1, pl.UInt64).alias("cell"),
            pl.lit("C1").alias("area"),
            pl.lit(None, pl.Float64).alias("value"),
            pl.lit(None, pl.String).alias("attrs"),
            pl.lit("mqtt").alias("source"),
        )
        frame = frame.with_columns(pl.col("ts").alias("received_at"))
        frame = frame.select([pl.col(c).cast(t) for c, t in RECORD_SCHEMA.items()])
        # As the bus delivers a batch: its strings in its own buffers. Gathered from the 1.4 million
        # cards they would point into those (every hash a cache miss: 3-4 times slower to read).
        yield frame if FRAGMENTED else decode_frame(encode_frame(frame, None))


def naive(frames: RegistryFrames, stream: list[pl.DataFrame]) -> tuple[float, int]:
    """The same six rules swipe by swipe in plain Python (dicts, sets, deques): swipes per second."""
    doors = {r[0]: r for r in frames.doors.select("device", "compound_id", "building_id").iter_rows()}
    cards = dict(frames.cards.iter_rows())
    flats = dict(frames.flats.select("flat_id", "building_id").iter_rows())
    lives = {(cards[p], flats[f]): f for p, _, f, _ in frames.tenants.iter_rows()}
    known = {cards[p] for p in frames.registered.to_list()}
    denied: dict[str, deque[datetime]] = defaultdict(deque)
    strangers: dict[str, deque[datetime]] = defaultdict(deque)
    compounds: dict[tuple[str, Any], set[str]] = defaultdict(set)
    days: dict[tuple[str, str], set[Any]] = defaultdict(set)
    last: dict[str, datetime] = {}
    hist: dict[str, list[int]] = defaultdict(lambda: [0] * 24)
    window = timedelta(minutes=10)
    found = 0
    rows = 0
    began = time.perf_counter()
    for batch in stream:
        for subject, device, ts, code in batch.select("subject", "device", "ts", "code").iter_rows():
            rows += 1
            _, compound, building = doors[device]
            last[subject] = ts
            local = ts + timedelta(hours=8)
            if code != "granted":
                q = denied[device]
                q.append(ts)
                while q and q[0] <= ts - window:
                    q.popleft()
                found += len(q) >= 5
            if subject not in known:
                q = strangers[subject]
                q.append(ts)
                while q and q[0] <= ts - timedelta(hours=1):
                    q.popleft()
                found += len(q) >= 2
                continue
            if code != "granted":
                continue
            seen = compounds[(subject, local.date())]
            seen.add(compound)
            found += len(seen) >= 4
            place = building or compound
            h = hist[place]
            total = sum(h)
            found += (
                total >= 500
                and (h[local.hour - 1] + h[local.hour] + h[(local.hour + 1) % 24]) < 0.005 * total
            )
            h[local.hour] += 1
            if building is not None:
                days[(building, subject)].add(local.date())
                lives.get((subject, building))
    return rows / (time.perf_counter() - began), found


def main() -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(40),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    rng = np.random.default_rng(20261122)
    say(f"city: {TENANT_COUNT:,} tenants, {BUILDING_COUNT + COMPOUND_COUNT:,} doors")
    frames, cards, building, compound = city(rng)
    places = CityFacts(frames)
    began = time.perf_counter()
    places.view()
    emit("facts_load_s", time.perf_counter() - began, "s")
    config = load_rules(DEFAULT_RULES_FILE)
    rules = [
        r for r in build_rules(config) if r.kind.startswith("housing_") or r.name == "wanted-person-at-door"
    ]
    facts = BenchFacts(places, cards.gather(rng.integers(0, TENANT_COUNT, 20)).to_list())
    engine = RuleEngine(rules, facts=facts, clock=ManualClock(START))  # type: ignore[arg-type]
    say(f"rules: {', '.join(r.name for r in rules)}; {SWIPES:,} swipes in batches of {BATCH:,}")

    spent = dict.fromkeys(r.name for r in rules)
    kept: list[pl.DataFrame] = []
    findings = 0
    elapsed = 0.0
    for n, batch in enumerate(batches(rng, cards, building, compound), 1):
        if len(kept) * BATCH < BASELINE_SWIPES:
            kept.append(batch)
        now = batch["ts"][-1]
        began = time.perf_counter()
        found = engine.evaluate(batch, now)
        if n % TICK_EVERY == 0:
            found += engine.tick(now)
        elapsed += time.perf_counter() - began
        findings += len(found)
        if n % 20 == 0:
            say(f"{n * BATCH:,} swipes, {n * BATCH / elapsed:,.0f}/s, {findings:,} findings")
    found = engine.tick(now + timedelta(hours=1))
    findings += len(found)
    rate = SWIPES / elapsed

    # Where the time goes (the profile): the shared enrichment, then each rule's own evaluation of
    # the same batches (enriched beforehand), and each rule's tick over what they gathered.
    profile = BenchFacts(CityFacts(frames), [])
    profile.places.view()
    fresh = build_rules(config)
    enrich = 0.0
    own = dict.fromkeys(spent, 0.0)
    for batch in kept:
        now = batch["ts"][-1]
        began = time.perf_counter()
        profile.places.swipes(batch)
        enrich += time.perf_counter() - began
        for rule in fresh:
            if rule.name in own:
                began = time.perf_counter()
                rule.evaluate(batch, profile, now)  # type: ignore[arg-type]
                own[rule.name] += time.perf_counter() - began
    ticks = {}
    for rule in fresh:
        if rule.name in own:
            began = time.perf_counter()
            rule.tick(profile, now + timedelta(hours=1))  # type: ignore[arg-type]
            ticks[rule.name] = time.perf_counter() - began

    say(f"baseline: per-swipe Python over {BASELINE_SWIPES:,} swipes")
    baseline, _ = naive(frames, kept)
    emit("swipes_per_s", rate, "swipes/s", baseline=baseline, swipes=SWIPES, findings=findings)
    emit("ms_per_batch", enrich * 1000 / len(kept), "ms", rule="(places enrichment, shared)", batch=BATCH)
    for name, seconds in own.items():
        emit("ms_per_batch", seconds * 1000 / len(kept), "ms", rule=name, batch=BATCH)
        emit("tick_ms", ticks[name] * 1000, "ms", rule=name, after_swipes=len(kept) * BATCH)


if __name__ == "__main__":
    main()
