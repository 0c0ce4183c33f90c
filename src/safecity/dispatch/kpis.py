"""Response KPIs: how long from the call to the first order, from the order to arrival, and from the
call to arrival, by district, incident type, priority, local hour or day.

Each figure is the mean, median and 90th percentile over the incidents of the caller's areas
reported in the window (merged duplicates left out: they are counted in the incident they
joined). An incident not yet dispatched or reached counts in `open_*`, not in the times, so that
a slow response still under way is visible rather than silently missing. Shaoxing's average
call-to-arrival, 5.9 minutes, is the reference the desk draws its charts against.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from pydantic import BaseModel, Field
from sqlalchemy import select

from safecity import registry
from safecity.core.context import Context
from safecity.dispatch.errors import DispatchError
from safecity.dispatch.models import Incident, IncidentStatus
from safecity.dispatch.service import DispatchService

REFERENCE_MIN = 5.9  # Shaoxing's average call-to-arrival (the seed)
GROUPS = ("district", "kind", "priority", "hour", "day")
UTC_OFFSET_H = 8  # the city's local time, for hours and days
MAX_DAYS = 366


class Spread(BaseModel):
    """Minutes: mean, median and 90th percentile (null with no incident)."""

    mean: float | None
    median: float | None
    p90: float | None


class KpiRow(BaseModel):
    key: str = Field(description="The district, type, priority, local hour (00-23) or local day")
    incidents: int
    not_dispatched: int = Field(description="Reported but given no order yet")
    not_reached: int = Field(description="Dispatched but no unit on scene yet")
    call_to_dispatch: Spread
    dispatch_to_arrival: Spread
    call_to_arrival: Spread


class KpiReport(BaseModel):
    by: str
    start: datetime
    end: datetime
    reference_min: float = Field(REFERENCE_MIN, description="Shaoxing's average call-to-arrival")
    overall: KpiRow
    rows: list[KpiRow]


class ResponseKpis(DispatchService):
    """Response-time figures for the desk and the commander."""

    def report(self, ctx: Context, *, by: str, days: int = 30, end: datetime | None = None) -> KpiReport:
        if by not in GROUPS:
            raise DispatchError(f"group by one of {', '.join(GROUPS)}, not {by!r}", field="by")
        if not 1 <= days <= MAX_DAYS:
            raise DispatchError(f"a window of 1 to {MAX_DAYS} days, not {days}", field="days")
        end = end or self._now()
        start = end - timedelta(days=days)
        query = select(
            Incident.area_id,
            Incident.kind,
            Incident.priority,
            Incident.reported_at,
            Incident.dispatched_at,
            Incident.arrived_at,
        ).where(
            Incident.reported_at >= start,
            Incident.reported_at < end,
            Incident.status != IncidentStatus.MERGED.value,
        )
        if not ctx.city_wide:
            query = query.where(Incident.area_id.in_(ctx.areas))
        with self._sessions() as session:
            rows = session.execute(query).all()
            district = districts_of(session) if by == "district" else {}
        schema: dict[str, pl.DataType] = {
            "area_id": pl.String(),
            "kind": pl.String(),
            "priority": pl.Int64(),
            "reported": pl.Datetime("us", "UTC"),
            "dispatched": pl.Datetime("us", "UTC"),
            "arrived": pl.Datetime("us", "UTC"),
        }
        frame = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
        local = pl.col("reported") + pl.duration(hours=UTC_OFFSET_H)
        key = {
            "district": pl.col("area_id").replace_strict(district, default=pl.col("area_id")),
            "kind": pl.col("kind"),
            "priority": pl.col("priority").cast(pl.String),
            "hour": local.dt.hour().cast(pl.String).str.zfill(2),
            "day": local.dt.date().cast(pl.String),
        }[by]
        minutes = 60_000_000.0  # microseconds in a minute
        frame = frame.with_columns(
            key=key,
            c2d=(pl.col("dispatched") - pl.col("reported")).dt.total_microseconds() / minutes,
            d2a=(pl.col("arrived") - pl.col("dispatched")).dt.total_microseconds() / minutes,
            c2a=(pl.col("arrived") - pl.col("reported")).dt.total_microseconds() / minutes,
        )
        groups = frame.partition_by("key", as_dict=True, maintain_order=True) if frame.height else {}
        out = [_row(str(k[0]), part) for k, part in sorted(groups.items(), key=lambda kv: str(kv[0][0]))]
        return KpiReport(by=by, start=start, end=end, overall=_row("all", frame), rows=out)


def _row(key: str, part: pl.DataFrame) -> KpiRow:
    def spread(column: str) -> Spread:
        values = part[column].drop_nulls() if part.height else pl.Series([], dtype=pl.Float64)
        if not len(values):
            return Spread(mean=None, median=None, p90=None)
        return Spread(
            mean=round(float(values.mean()), 2),  # type: ignore[arg-type]
            median=round(float(values.median()), 2),  # type: ignore[arg-type]
            p90=round(float(values.quantile(0.9, "linear")), 2),  # type: ignore[arg-type]
        )

    return KpiRow(
        key=key,
        incidents=part.height,
        not_dispatched=int(part["dispatched"].null_count()) if part.height else 0,
        not_reached=int((part["dispatched"].is_not_null() & part["arrived"].is_null()).sum())
        if part.height
        else 0,
        call_to_dispatch=spread("c2d"),
        dispatch_to_arrival=spread("d2a"),
        call_to_arrival=spread("c2a"),
    )


def districts_of(session: object) -> dict[str, str]:
    """Every area's district: the top of its branch of the area tree."""
    parents = dict(registry.area_parents(session))  # type: ignore[arg-type]

    def top(area: str) -> str:
        seen = set()
        while parents.get(area) and area not in seen:
            seen.add(area)
            area = parents[area]  # type: ignore[assignment]
        return area

    return {area: top(area) for area in parents}


__all__ = ["GROUPS", "REFERENCE_MIN", "KpiReport", "KpiRow", "ResponseKpis", "districts_of"]
