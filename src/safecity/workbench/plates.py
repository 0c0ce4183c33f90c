"""Cloned plates (套牌): one plate read at two places too far apart for the time between them.

Two cars carrying the same plate show themselves when the plate is read, say, in two districts
ten minutes apart: no car covers 12 km in 10 minutes in a city. The same test runs twice:

* live, as the rule kind `plate_clone`: each plate's last read is kept, and every new read is
  compared with the read before it (in the batch, or the remembered one);
* over the past, as a workbench search (`impossible_travel_expr`, an Ibis expression run on
  DuckDB or Spark): every pair of consecutive reads of a plate in a period whose straight-line
  speed is over the limit.

Speed is straight-line distance over time, which understates the road speed: a pair over the
limit is impossible by road too. Reads less than `min_distance_m` apart are never compared (two
cameras of one junction, a read's position error).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import polars as pl
from pydantic import Field

from safecity.core.finding import Evidence, Finding
from safecity.core.geo import distances_m
from safecity.core.record import RECORD_SCHEMA
from safecity.rules.base import EVIDENCE_COLUMNS, ConfiguredRule, Facts
from safecity.rules.config import RuleConfig, RuleParams
from safecity.rules.kinds import RuleKind
from safecity.workbench.engine import epoch_s, one_of
from safecity.workbench.windows import haversine_m


class PlateCloneParams(RuleParams):
    """A plate read at two places further apart than a car could drive in the time between."""

    max_kmh: float = Field(
        150.0, gt=0, le=1000, description="Straight-line speed no car in the city reaches."
    )
    min_distance_m: float = Field(
        2_000.0,
        ge=0,
        le=100_000,
        description="Reads closer than this are never compared (one junction's cameras).",
    )
    remember_h: float = Field(
        6.0, gt=0, le=72, description="How long a plate's last read is compared against."
    )


class PlateCloneRule(ConfiguredRule):
    """One warning per plate (its open warning grows with further impossible pairs)."""

    kind = "plate_clone"
    default_title = "Plate read at two places too far apart: a cloned plate? 疑似套牌"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: PlateCloneParams = config.typed_params()
        self._last = _empty_last()  # each plate's latest read with a position

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Compare each plate read with the plate's read before it."""
        reads = batch.filter(
            (pl.col("subject_kind") == "plate") & pl.col("lat").is_not_null() & pl.col("lon").is_not_null()
        ).select(EVIDENCE_COLUMNS)
        if reads.is_empty():
            return []
        known = self._last.join(reads.select("subject").unique(), on="subject", how="semi")
        rows = pl.concat([known, reads], how="vertical_relaxed").sort("subject", "ts", "event_id")
        before = [pl.col(c).shift(1).over("subject").alias(f"prev_{c}") for c in EVIDENCE_COLUMNS]
        pairs = rows.with_columns(before).drop_nulls("prev_event_id")
        metres = distances_m(*(pairs[c].to_numpy() for c in ("prev_lat", "prev_lon", "lat", "lon")))
        pairs = pairs.with_columns(
            distance_m=pl.Series(metres, dtype=pl.Float64),
            seconds=(pl.col("ts") - pl.col("prev_ts")).dt.total_milliseconds() / 1000,
        )
        p = self.params
        # Both reads already remembered: that pair was judged when the second arrived.
        fresh = pl.col("event_id").is_in(reads["event_id"].implode())
        impossible = pairs.filter(
            fresh
            & (pl.col("distance_m") >= p.min_distance_m)
            & (pl.col("distance_m") / pl.col("seconds").clip(lower_bound=1) * 3.6 > p.max_kmh)
        )
        latest = rows.unique("subject", keep="last", maintain_order=True)  # rows are in time order
        self._last = pl.concat(
            [
                self._last.join(latest.select("subject"), on="subject", how="anti"),
                latest.select(self._last.columns),
            ],
            how="vertical_relaxed",
        )
        return [self._finding(row, now) for row in impossible.iter_rows(named=True)]

    def _finding(self, row: dict[str, Any], now: datetime) -> Finding:
        first = Evidence(*(row[f"prev_{c}"] for c in EVIDENCE_COLUMNS))
        second = Evidence(*(row[c] for c in EVIDENCE_COLUMNS))
        kmh = row["distance_m"] / max(row["seconds"], 1) * 3.6
        return Finding(
            rule=self.name,
            rule_kind=self.kind,
            severity=self.severity,
            title=self.title,
            subject_kind="plate",
            subject=str(row["subject"]),
            dedup_key=f"clone:{row['subject']}",
            at=now,
            evidence=(first, second),
            facts={
                "distance_m": round(row["distance_m"]),
                "minutes": round(row["seconds"] / 60, 1),
                "speed_kmh": round(kmh),
                "devices": [row["prev_device"], row["device"]],
            },
            params=self.params_dict,
        )

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Forget reads older than `remember_h`: a plate silent that long starts afresh."""
        cutoff = now - timedelta(hours=self.params.remember_h)
        self._last = self._last.filter(pl.col("ts") >= cutoff)
        return []


def _empty_last() -> pl.DataFrame:
    return pl.DataFrame(schema={c: RECORD_SCHEMA[c] for c in EVIDENCE_COLUMNS})


KIND = RuleKind("plate_clone", PlateCloneParams, PlateCloneRule)


def impossible_travel_expr(
    sightings: ir.Table,
    *,
    start: datetime,
    end: datetime,
    max_kmh: float,
    min_distance_m: float,
    areas: list[str] | None,
    plates: list[str] | None = None,
) -> ir.Table:
    """Every consecutive pair of a plate's reads in [start, end) faster than `max_kmh` (Ibis)."""
    t = sightings
    terms = [
        t.subject_kind == "plate",
        t.ts >= ibis.literal(start),
        t.ts < ibis.literal(end),
        t.lat.notnull(),
    ]
    if plates:
        terms.append(one_of(t.subject, plates))
    reads = t.filter(*terms)
    if areas is not None:
        reads = reads.filter(one_of(reads.area, areas))
    order = ibis.window(group_by=reads.subject, order_by=[reads.ts, reads.event_id])
    paired = reads.select(
        "subject",
        "event_id",
        "device",
        "ts",
        "lat",
        "lon",
        "area",
        secs=epoch_s(reads.ts),
        prev_event_id=reads.event_id.lag().over(order),
        prev_device=reads.device.lag().over(order),
        prev_ts=reads.ts.lag().over(order),
        prev_lat=reads.lat.lag().over(order),
        prev_lon=reads.lon.lag().over(order),
        prev_area=reads.area.lag().over(order),
        prev_secs=epoch_s(reads.ts).lag().over(order),
    )
    paired = paired.filter(paired.prev_event_id.notnull())
    measured = paired.mutate(
        distance_m=haversine_m(paired.prev_lat, paired.prev_lon, paired.lat, paired.lon),
        seconds=(paired.secs - paired.prev_secs),
    )
    fast = measured.filter(
        measured.distance_m >= min_distance_m,
        measured.distance_m * 3.6 > max_kmh * ibis.greatest(measured.seconds, 1),
    )
    return fast.mutate(kmh=fast.distance_m * 3.6 / ibis.greatest(fast.seconds, 1)).order_by(
        [ibis.desc("kmh"), "subject", "ts", "event_id"]
    )


__all__ = ["KIND", "PlateCloneParams", "PlateCloneRule", "impossible_travel_expr"]
