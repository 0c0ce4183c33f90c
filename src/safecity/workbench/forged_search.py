"""Forged plates over the past: plate reads of a period against the vehicle registry (Ibis).

The search behind `Workbench.forged_plates`: the same two tests as the rule kinds of
`forged.py` (a vehicle unlike its registration; a plate of the city's provinces not registered
as in use), written once as an Ibis expression over the lake's plate reads joined to the
registry, so it runs on DuckDB or Spark alike. The registry comes from the rules' in-memory
copy (`vehicle_facts.py`), reduced to its plates, statuses and comparison keys, and is handed
to the engine as a table of the question; a read's attrs are read with the patterns the rule
uses (`vehicle_vocabulary.py`).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any

import ibis
import ibis.expr.types as ir
import polars as pl
import pyarrow as pa

from safecity.workbench.engine import SIGHTING_COLUMNS, one_of
from safecity.workbench.vehicle_vocabulary import (
    CONFIDENCE_PATTERN,
    OBSERVED_FIELDS,
    REGISTERED_COLUMN,
    ObservedField,
    comparison_keys,
    observed_pattern,
)

PLATE_READ_COLUMNS = {**SIGHTING_COLUMNS, "attrs": "string"}
MAX_EVIDENCE = 10  # reads shown per plate (all are counted)
MAX_PLATES = 500
READ_FIELDS = ("event_id", "device", "ts", "lat", "lon", "area")
_REGISTRY_ARROW = pa.schema(
    [("plate", pa.string()), ("status", pa.string())] + [(f"held_{f}", pa.string()) for f in OBSERVED_FIELDS]
)


def registry_table(registry: pl.DataFrame, *, coarse_types: bool) -> pa.Table:
    """The registry as the search joins it: plate, status and each field's comparison key."""
    keys = {
        f"held_{f}": pl.col(REGISTERED_COLUMN[f]).replace_strict(
            comparison_keys(f, coarse_types=coarse_types), default=None, return_dtype=pl.String
        )
        for f in OBSERVED_FIELDS
    }
    return registry.select("plate", "status", **keys).to_arrow().cast(_REGISTRY_ARROW)


def forged_reads_expr(
    sightings: ir.Table,
    registry: ir.Table,
    *,
    start: datetime,
    end: datetime,
    areas: list[str] | None,
    fields: Sequence[ObservedField] = OBSERVED_FIELDS,
    coarse_types: bool = True,
    provinces: Sequence[str] = (),
    void_statuses: Sequence[str],
    min_confidence: float = 0.0,
    plates: list[str] | None = None,
    check_unregistered: bool = True,
) -> ir.Table:
    """Every plate read in [start, end) unlike its registration (`mismatch`) or of the provinces
    and not registered as in use (`unregistered`, unless `check_unregistered` is off: an empty
    registry), with what the camera saw, in time order."""
    t = sightings
    terms = [t.subject_kind == "plate", t.ts >= ibis.literal(start), t.ts < ibis.literal(end)]
    if plates:
        terms.append(one_of(t.subject, plates))
    reads = t.filter(*terms)
    if areas is not None:
        reads = reads.filter(one_of(reads.area, areas))
    number = reads.attrs.re_extract(CONFIDENCE_PATTERN, 1).nullif("").cast("float64")
    seen = reads.select(
        "subject",
        "event_id",
        "device",
        "ts",
        "lat",
        "lon",
        "area",
        confidence=ibis.ifelse(number > 1, number / 100, number),
        **{f"seen_{f}": reads.attrs.re_extract(observed_pattern(f), 1).nullif("") for f in OBSERVED_FIELDS},
    )
    joined = seen.left_join(registry, seen.subject == registry.plate)
    registered = joined.plate.notnull()
    differs = {f: _differs(joined, f, coarse_types=coarse_types) for f in OBSERVED_FIELDS}
    mismatch = registered & reduce(operator.or_, (differs[f] for f in fields))
    unregistered = ~registered | joined.status.isin(list(void_statuses))
    if provinces:
        unregistered &= reduce(operator.or_, (joined.subject.startswith(p) for p in provinces))
    if not check_unregistered:
        unregistered = ibis.literal(False)
    flagged = joined.select(
        *(c for c in seen.columns),
        registered=registered,
        mismatch=mismatch,
        unregistered=unregistered,
        **{f"differs_{f}": differs[f] if f in fields else ibis.literal(False) for f in OBSERVED_FIELDS},
    )
    sure = flagged.confidence.isnull() | (flagged.confidence >= min_confidence)
    return flagged.filter(sure & (flagged.mismatch | flagged.unregistered)).order_by(
        ["subject", "ts", "event_id"]
    )


def _differs(joined: ir.Table, field: ObservedField, *, coarse_types: bool) -> ir.BooleanValue:
    """The read's word and the registration's are both known and name different things."""
    keys = comparison_keys(field, coarse_types=coarse_types)
    seen = joined[f"seen_{field}"].lower().substitute(keys, else_=ibis.null("string"))
    held = joined[f"held_{field}"]
    return (seen.notnull() & held.notnull() & (seen != held)).fill_null(False)


def per_plate_expr(reads: ir.Table) -> ir.Table:
    """The first `MAX_EVIDENCE` flagged reads of each of up to `MAX_PLATES` plates, with the
    plate's read count, last read and which tests and fields any of its reads failed."""
    ordered = ibis.window(group_by=reads.subject, order_by=[reads.ts, reads.event_id])
    plate = ibis.window(group_by=reads.subject)
    flags = ["mismatch", "unregistered", *(f"differs_{f}" for f in OBSERVED_FIELDS)]
    ranked = reads.mutate(
        nth=ibis.row_number().over(ordered),
        reads=reads.event_id.count().over(plate),
        last_ts=reads.ts.max().over(plate),
        # Spark and DuckDB agree on max over integers; a boolean any() compiles differently.
        **{f"any_{f}": reads[f].cast("int8").max().over(plate) for f in flags},
    )
    kept = ranked.filter(ranked.nth < MAX_EVIDENCE)
    return kept.order_by(["subject", "nth"]).limit(MAX_PLATES * MAX_EVIDENCE)


@dataclass(frozen=True, slots=True)
class ForgedRead:
    """One read of a suspect plate, with what the camera saw."""

    event_id: str
    device: str | None
    ts: datetime
    lat: float | None
    lon: float | None
    area: str | None
    observed: dict[str, str | None]
    confidence: float | None


@dataclass(frozen=True, slots=True)
class ForgedPlate:
    """A plate read on a vehicle unlike its registration, or not registered as in use."""

    plate: str
    mismatch: bool
    unregistered: bool
    differs: list[str]  # the fields some read contradicted
    reads: int
    last_seen: datetime
    registration: dict[str, Any] | None  # as registered; None: not in the registry
    evidence: list[ForgedRead]  # the first MAX_EVIDENCE reads


@dataclass(frozen=True, slots=True)
class ForgedPlatesAnswer:
    """The plates of a period read on the wrong vehicle or not registered, under the case."""

    case_id: str
    start: datetime
    end: datetime
    plates: list[ForgedPlate]
    query_id: int


def forged_plates(rows: Any, registrations: dict[str, dict[str, Any]]) -> list[ForgedPlate]:
    """The per-plate rows (`per_plate_expr`, as a Polars frame) as plates with their evidence."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows.iter_rows(named=True):
        grouped.setdefault(row["subject"], []).append(row)
    out = []
    for plate, reads in grouped.items():
        head = reads[0]
        held = registrations.get(plate)
        out.append(
            ForgedPlate(
                plate=plate,
                mismatch=bool(head["any_mismatch"]),
                unregistered=bool(head["any_unregistered"]),
                differs=[f for f in OBSERVED_FIELDS if head[f"any_differs_{f}"]],
                reads=int(head["reads"]),
                last_seen=head["last_ts"],
                registration=None if held is None else _registration(held),
                evidence=[
                    ForgedRead(
                        **{k: r[k] for k in READ_FIELDS},
                        observed={f: r[f"seen_{f}"] for f in OBSERVED_FIELDS},
                        confidence=r["confidence"],
                    )
                    for r in reads
                ],
            )
        )
    return out


def _registration(held: dict[str, Any]) -> dict[str, Any]:
    keep = ("plate_colour", "vehicle_type", "body_colour", "make_model", "status", "registered_at")
    return {k: held[k] for k in keep}


__all__ = [
    "MAX_EVIDENCE",
    "MAX_PLATES",
    "PLATE_READ_COLUMNS",
    "ForgedPlate",
    "ForgedPlatesAnswer",
    "ForgedRead",
    "forged_plates",
    "forged_reads_expr",
    "per_plate_expr",
    "registry_table",
]
