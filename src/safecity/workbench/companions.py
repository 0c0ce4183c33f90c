"""Companions: subjects repeatedly seen with a target, near in time and place, of any kind.

The target's own sightings come first (a path, which the lake answers from its row-group
index); each becomes a *meeting place*: its H3 cell and the cells around it, and its time
give or take the tolerance. One expression then finds every other subject seen in a meeting
place in time, and ranks them by the distinct places they met the target at, then by the
number of the target's sightings they were with: a phone seen with a plate at five junctions
is a stronger companion than a neighbour seen with it fifty times at home.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import h3
import ibis
import ibis.expr.types as ir
import polars as pl
import pyarrow as pa

from safecity.workbench.collision import TRACEABLE
from safecity.workbench.engine import EngineSession, epoch_s, one_of
from safecity.workbench.errors import QueryRefused

MAX_TARGET_SIGHTINGS = 5_000  # a longer path must be shortened before asking who was with it
MAX_TOLERANCE_S = 3_600
MAX_RING = 2
EVIDENCE_PER_COMPANION = 10
MAX_COMPANIONS = 500


@dataclass(frozen=True, slots=True)
class Meeting:
    """One of the target's sightings and the companion's sighting nearest it in time."""

    target_event_id: str
    target_ts: datetime
    event_id: str
    kind: str
    device: str | None
    ts: datetime
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class Companion:
    """A subject seen with the target at `places` distinct places, on `meetings` of its sightings."""

    subject_kind: str
    subject: str
    places: int
    meetings: int
    first: datetime
    last: datetime
    evidence: list[Meeting]


@dataclass(frozen=True, slots=True)
class CompanionsResult:
    """The target's companions, best first, and how many of its sightings were looked at."""

    target_sightings: int
    companions: list[Companion]


def meeting_places(target: pl.DataFrame, *, ring: int) -> pa.Table:
    """One row per (target sighting, cell within `ring` of its cell): where a companion may be."""
    if not 0 <= ring <= MAX_RING:
        raise QueryRefused(f"ring must be 0 to {MAX_RING}", field="ring")
    rows: dict[str, list[Any]] = {"t_event": [], "t_ts": [], "t_place": [], "cell": []}
    for event_id, ts, cell in target.select("event_id", "ts", "cell").iter_rows():
        if cell is None:
            continue
        for near in h3.grid_disk(h3.int_to_str(int(cell)), ring):
            rows["t_event"].append(event_id)
            rows["t_ts"].append(ts)
            rows["t_place"].append(int(cell))
            rows["cell"].append(h3.str_to_int(near))
    return pa.table(
        rows,
        schema=pa.schema(
            [
                ("t_event", pa.string()),
                ("t_ts", pa.timestamp("ms", tz="UTC")),
                ("t_place", pa.int64()),
                ("cell", pa.int64()),
            ]
        ),
    )


def meeting_pairs(
    sightings: ir.Table,
    places: ir.Table,
    *,
    target_kind: str,
    target_values: list[str],
    start: datetime,
    end: datetime,
    tolerance_s: int,
    areas: list[str] | None,
) -> ir.Table:
    """Every (other subject's sighting, target sighting) pair near in time and place."""
    t = sightings
    terms = [
        t.ts >= ibis.literal(start),
        t.ts < ibis.literal(end),
        t.subject.notnull(),
        t.subject_kind.isin(list(TRACEABLE)),
        ~((t.subject_kind == target_kind) & one_of(t.subject, target_values)),
    ]
    if areas is not None:
        terms.append(one_of(t.area, areas))
    others = t.filter(*terms).select(
        "subject_kind",
        "subject",
        "event_id",
        "kind",
        "device",
        "ts",
        "lat",
        "lon",
        "cell",
        secs=epoch_s(t.ts),
    )
    near = places.mutate(t_secs=epoch_s(places.t_ts))
    return others.join(
        near,
        [
            others.cell == near.cell,
            others.secs >= near.t_secs - tolerance_s,
            others.secs <= near.t_secs + tolerance_s,
        ],
    ).select(
        "subject_kind",
        "subject",
        "event_id",
        "kind",
        "device",
        "ts",
        "lat",
        "lon",
        "t_event",
        "t_ts",
        "t_place",
        gap=(others.secs - near.t_secs).abs(),
    )


def ranked_companions(pairs: ir.Table, *, min_meetings: int, min_places: int) -> ir.Table:
    """Evidence rows (at most EVIDENCE_PER_COMPANION per companion) of the companions in `pairs`."""
    ranked = pairs.group_by(["subject_kind", "subject"]).aggregate(
        places=pairs.t_place.nunique(),
        meetings=pairs.t_event.nunique(),
        first=pairs.ts.min(),
        last=pairs.ts.max(),
    )
    ranked = ranked.filter(ranked.meetings >= min_meetings, ranked.places >= min_places)
    ranked = ranked.order_by([ibis.desc("places"), ibis.desc("meetings"), "subject_kind", "subject"]).limit(
        MAX_COMPANIONS
    )
    # The evidence: for each meeting its closest sighting in time, then the earliest meetings.
    closest = pairs.mutate(
        rank=ibis.row_number().over(
            group_by=[pairs.subject_kind, pairs.subject, pairs.t_event],
            order_by=[pairs.gap, pairs.ts, pairs.event_id],
        )
    )
    closest = closest.filter(closest["rank"] == 0).drop("rank")
    shown = closest.mutate(
        rank=ibis.row_number().over(
            group_by=[closest.subject_kind, closest.subject], order_by=[closest.t_ts, closest.t_event]
        )
    )
    shown = shown.filter(shown["rank"] < EVIDENCE_PER_COMPANION).drop("rank")
    joined = shown.join(ranked, ["subject_kind", "subject"])
    return joined.select(
        "subject_kind",
        "subject",
        "places",
        "meetings",
        "first",
        "last",
        "t_event",
        "t_ts",
        "event_id",
        "kind",
        "device",
        "ts",
        "lat",
        "lon",
    ).order_by([ibis.desc("places"), ibis.desc("meetings"), "subject_kind", "subject", "t_ts", "t_event"])


def companions(
    engine: EngineSession,
    files: list[Path],
    target: pl.DataFrame,
    *,
    target_kind: str,
    target_values: list[str],
    start: datetime,
    end: datetime,
    tolerance_s: int = 120,
    ring: int = 1,
    areas: list[str] | None,
    min_meetings: int = 2,
    min_places: int = 2,
) -> CompanionsResult:
    """Who was with the target: `target` is its path (lake records), `files` the lake files to search."""
    if not 0 < tolerance_s <= MAX_TOLERANCE_S:
        raise QueryRefused(f"tolerance_s must be 1 to {MAX_TOLERANCE_S} seconds", field="tolerance_s")
    if min_meetings < 1 or min_places < 1:
        raise QueryRefused("min_meetings and min_places must be at least 1", field="min_meetings")
    if target.height > MAX_TARGET_SIGHTINGS:
        raise QueryRefused(
            f"the target was seen {target.height:,} times in this period (at most "
            f"{MAX_TARGET_SIGHTINGS:,} can be compared): shorten the period",
            field="end",
        )
    places = meeting_places(target, ring=ring)
    if places.num_rows == 0:
        return CompanionsResult(target.height, [])
    pairs = meeting_pairs(
        engine.sightings(files),
        engine.table_of(places),
        target_kind=target_kind,
        target_values=target_values,
        start=start,
        end=end,
        tolerance_s=tolerance_s,
        areas=areas,
    )
    pairs = engine.materialize(pairs)
    rows = engine.frame(ranked_companions(pairs, min_meetings=min_meetings, min_places=min_places))
    return CompanionsResult(target.height, group_companions(rows))


def group_companions(rows: pl.DataFrame) -> list[Companion]:
    """Evidence rows, in rank order, as one companion each."""
    out: list[Companion] = []
    for (kind, value), group in rows.group_by(["subject_kind", "subject"], maintain_order=True):
        head = group.row(0, named=True)
        evidence = [
            Meeting(
                r["t_event"], r["t_ts"], r["event_id"], r["kind"], r["device"], r["ts"], r["lat"], r["lon"]
            )
            for r in group.iter_rows(named=True)
        ]
        out.append(
            Companion(
                str(kind),
                str(value),
                int(head["places"]),
                int(head["meetings"]),
                head["first"],
                head["last"],
                evidence,
            )
        )
    return out


__all__ = [
    "Companion",
    "CompanionsResult",
    "Meeting",
    "companions",
    "meeting_pairs",
    "meeting_places",
    "ranked_companions",
]
