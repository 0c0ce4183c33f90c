"""Replaying a simulated week through a rule engine, as the pipeline would deliver it: the records of
sim.doorlife and sim.communitylife made into ingest's record rows, in time order, a batch a minute of
event time, with the engine's ticks (and whatever else must follow the clock, such as the shops'
schedule) every ten minutes.

Used by the accuracy benchmark (bench/housing_accuracy.py) and its tests on the tiny city.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import polars as pl

from safecity.core.finding import Finding, Ref
from safecity.core.record import RECORD_SCHEMA
from safecity.places.rules.accuracy import Incident, Raised
from safecity.sim.communitylife import RECORD_SCHEMA as LIFE_SCHEMA

TICK = timedelta(minutes=10)


class Engine(Protocol):
    """The rule engine as the replay drives it (rules.engine.Engine)."""

    def evaluate(self, batch: pl.DataFrame, now: datetime | None = None) -> list[Finding]:
        """One batch of records."""
        ...

    def tick(self, now: datetime | None = None) -> list[Finding]:
        """Time passing."""
        ...


def swipe_records(swipes: pl.DataFrame) -> pl.DataFrame:
    """sim.doorlife swipes (device, card, ts, granted, reason) as life records (communitylife schema)."""
    return swipes.select(
        pl.lit("door_swipe").alias("kind"),
        "device",
        pl.col("card").alias("subject"),
        pl.when(pl.col("granted")).then(pl.lit("granted")).otherwise(pl.lit("denied")).alias("code"),
        "ts",
        pl.format('{{"reason":"{}"}}', pl.col("reason")).alias("attrs"),
    ).cast(LIFE_SCHEMA)  # type: ignore[arg-type]


def ingest_rows(
    life: pl.DataFrame, areas: pl.DataFrame, pseudonymize: Callable[[pl.Series], pl.Series]
) -> pl.DataFrame:
    """Life records as ingest hands them on: each device's area, card numbers as their pseudonyms.

    `areas`: device, area. Plates stay as read (the vehicle rules compare them with the registered);
    an alarm's subject is its device.
    """
    swipe = pl.col("kind") == "door_swipe"
    swipes, others = life.filter(swipe), life.filter(~swipe)
    swipes = swipes.with_columns(subject=pseudonymize(swipes["subject"]), subject_kind=pl.lit("id_card"))
    others = others.with_columns(
        subject=pl.coalesce("subject", "device"),
        subject_kind=pl.when(pl.col("kind") == "plate_read")
        .then(pl.lit("plate"))
        .otherwise(pl.lit("device")),
    )
    ordered = pl.concat([swipes, others]).sort("ts", "device", maintain_order=True).with_row_index("n")
    ids = pl.col("device") + "-" + pl.col("n").cast(pl.String)
    return (
        ordered.join(areas, on="device", how="left", maintain_order="left")
        .select(
            ids.alias("event_id"),
            ids.alias("corr_id"),
            "kind",
            "subject_kind",
            "subject",
            "device",
            "ts",
            pl.lit(None, pl.Float64).alias("lat"),
            pl.lit(None, pl.Float64).alias("lon"),
            pl.lit(None, pl.UInt64).alias("cell"),
            "area",
            "code",
            pl.lit(None, pl.Float64).alias("value"),
            "attrs",
            pl.lit("sim").alias("source"),
            pl.col("ts").alias("received_at"),
        )
        .cast(RECORD_SCHEMA)  # type: ignore[arg-type]
    )


def replay(
    engine: Engine,
    records: pl.DataFrame,
    *,
    start: datetime,
    end: datetime,
    set_clock: Callable[[datetime], None],
    every_tick: Callable[[datetime], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Finding]:
    """Records (RECORD_SCHEMA) through the engine in time order; ticks every ten minutes to `end`."""
    found: list[Finding] = []
    started, next_tick = time.perf_counter(), start

    def tick_until(now: datetime) -> None:
        nonlocal next_tick
        while next_tick <= now:
            set_clock(next_tick)
            if every_tick is not None:
                every_tick(next_tick)
            found.extend(engine.tick(now=next_tick))
            next_tick += TICK

    minutes = (
        records.sort("ts", maintain_order=True)
        .with_columns(minute=pl.col("ts").dt.truncate("1m"))
        .partition_by("minute", maintain_order=True, include_key=False)
    )
    for n, batch in enumerate(minutes):
        now: datetime = batch["ts"].max() + timedelta(seconds=1)  # type: ignore[operator,assignment]
        tick_until(now)
        set_clock(now)
        found += engine.evaluate(batch, now=now)
        if progress is not None and n % 2000 == 0:
            took = time.perf_counter() - started
            progress(f"  {n:,} of {len(minutes):,} minutes, {len(found)} findings, {took:.0f} s")
    tick_until(end)
    return found


def incidents(truth: pl.DataFrame, pseudonym: Callable[[str], str]) -> list[Incident]:
    """Ground truth (doorlife.TRUTH_SCHEMA) as incidents: a card named by its number becomes its
    pseudonym, as warnings name it."""
    out = []
    for row in truth.iter_rows(named=True):
        refs = set()
        for ref in row["refs"]:
            entity, _, key = ref.partition(":")
            refs.add(Ref("id_card", pseudonym(key)) if entity == "card" else Ref(entity, key))
        out.append(Incident(row["rule_kind"], frozenset(refs), row["start"], row["end"]))
    return out


def raised_alerts(findings: list[Finding]) -> list[Raised]:
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


__all__ = ["Engine", "incidents", "ingest_rows", "raised_alerts", "replay", "swipe_records"]
