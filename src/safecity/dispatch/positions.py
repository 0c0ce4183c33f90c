"""Unit positions from the `unit_fix` sightings: each accepted batch's latest fix of every unit goes
to `Units.record_fix`, which trusts it or flags it (far off the roads, an impossible jump).

A worker on the bus's record topic (its own subscriber group, beside the rules), so that a unit's
position is the one its handset last reported once the fix is durable, whichever way it came in
(HTTP, MQTT, a gateway). Fixes of call signs no unit has are counted, not stored twice: the lake
keeps them like any sighting.
"""

from __future__ import annotations

import asyncio

import polars as pl
import structlog
from prometheus_client import Counter

from safecity.bus import RECORDS, Bus
from safecity.core.kinds import RecordKind
from safecity.dispatch.errors import DispatchNotFound
from safecity.dispatch.units import Units

log = structlog.get_logger(__name__)
FIXES = Counter("safecity_unit_fixes", "Unit fixes taken from the record stream, by outcome", ["outcome"])
KIND = RecordKind.UNIT_FIX.value


def latest_fixes(batch: pl.DataFrame) -> pl.DataFrame:
    """(subject, lat, lon, ts) of each unit's newest fix in a batch of records (empty if none)."""
    if not batch.height or not batch["kind"].eq(KIND).any():
        return pl.DataFrame(
            schema={"subject": pl.String, "lat": pl.Float64, "lon": pl.Float64, "ts": batch.schema["ts"]}
        )
    return (
        batch.filter(pl.col("kind") == KIND)
        .select("subject", "lat", "lon", "ts")
        .drop_nulls()
        .sort("ts")
        .group_by("subject", maintain_order=True)
        .last()
    )


class UnitPositions:
    """Follows the record stream and keeps each unit's position."""

    def __init__(self, bus: Bus, units: Units) -> None:
        self._bus = bus
        self._units = units

    async def run(self) -> None:
        async for delivery in self._bus.subscribe(RECORDS, group="dispatch-units"):
            if isinstance(delivery.payload, pl.DataFrame):
                fixes = latest_fixes(delivery.payload)
                if fixes.height:
                    await asyncio.to_thread(self.take, fixes)
            await delivery.ack()

    def take(self, fixes: pl.DataFrame) -> None:
        for subject, lat, lon, ts in fixes.iter_rows():
            try:
                flag = self._units.record_fix(subject, lat, lon, ts)
            except DispatchNotFound:
                FIXES.labels("unknown_unit").inc()
                continue
            FIXES.labels("trusted" if flag is None else "flagged").inc()
            if flag is not None:
                log.info("unit_fix_flagged", unit=subject, reason=flag)


__all__ = ["UnitPositions", "latest_fixes"]
