"""The record schemas: the v1 wire event devices send, and the columnar record the platform keeps.

A *record* is one accepted sighting or event. Inside the platform records travel as Polars
DataFrames (micro-batches) with exactly the columns of `RECORD_SCHEMA`; the lake stores the
same columns. `WireEvent` is the strict per-event form used to explain a rejected event.
"""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec
import polars as pl

WIRE_VERSION = 1


class WireEvent(msgspec.Struct, kw_only=True):
    """One event as a device sends it (schema v1); see docs/ingest.md for the field meanings."""

    id: str | int
    kind: str
    ts: str | int  # RFC 3339 with offset, or integer epoch milliseconds
    v: int = WIRE_VERSION
    device: str | None = None
    subject: str | None = None
    lat: float | None = None
    lon: float | None = None
    code: str | None = None
    value: float | None = None
    corr: str | None = None
    attrs: dict[str, Any] | None = None


# How the JSON fields are read into columns before validation. The reader takes any scalar as
# text (an integer id becomes a string); ingest then checks the types the contract allows.
WIRE_COLUMNS: dict[str, pl.DataType] = {
    "v": pl.Int64(),
    "id": pl.String(),
    "kind": pl.String(),
    "ts": pl.String(),
    "device": pl.String(),
    "subject": pl.String(),
    "lat": pl.Float64(),
    "lon": pl.Float64(),
    "code": pl.String(),
    "value": pl.Float64(),
    "corr": pl.String(),
    "attrs": pl.String(),  # kept as compact JSON text
}

UTC_MS = pl.Datetime("ms", "UTC")

# The accepted record: what the bus carries, rules read and the lake stores.
RECORD_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "corr_id": pl.String(),
    "kind": pl.String(),
    "subject_kind": pl.String(),
    "subject": pl.String(),
    "device": pl.String(),
    "ts": UTC_MS,
    "lat": pl.Float64(),
    "lon": pl.Float64(),
    "cell": pl.UInt64(),  # H3 cell at the configured resolution
    "area": pl.String(),  # community (or other smallest area) of the reporting device
    "code": pl.String(),
    "value": pl.Float64(),
    "attrs": pl.String(),
    "source": pl.String(),  # http, mqtt, replay, sim
    "received_at": UTC_MS,
}


def empty_records() -> pl.DataFrame:
    """Return an empty record batch with the record schema."""
    return pl.DataFrame(schema=RECORD_SCHEMA)


def kinds_in(kinds: pl.Series) -> list[str]:
    """The distinct kinds of a batch's `kind` column: most batches hold one, which `min` and
    `max` tell in microseconds (`unique` costs ~0.1 ms, on every batch of the hot path)."""
    lowest, highest = kinds.min(), kinds.max()
    if lowest is None:
        return []
    return [str(lowest)] if lowest == highest else kinds.unique().to_list()


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> str:
    """Return a new 26-character, time-ordered unique id (ULID layout: 48-bit ms + 80 random bits)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "".join(reversed(chars))
