"""Vectorised validation and enrichment: wire columns in, accepted records and reasons out.

Every check is a Polars expression over the whole batch; the first failing check of an event
becomes its reason, naming the field. Accepted events are enriched from the device registry
(position, area, H3 cell) and shaped to the record schema.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from safecity.core.geo import BBox, cell_expr
from safecity.core.ids import EVENT_ID_PATTERN, SUBJECT_FORMAT_HINTS, subject_valid_expr
from safecity.core.kinds import KIND_SPECS, SubjectKind
from safecity.core.record import RECORD_SCHEMA, UTC_MS, WIRE_VERSION

_KINDS = sorted(k.value for k in KIND_SPECS)
_SUBJECT_KIND = {k.value: s.subject_kind.value for k, s in KIND_SPECS.items()}
_SUBJECT_REQUIRED = [k.value for k, s in KIND_SPECS.items() if s.subject_required]
_MOVING = [k.value for k, s in KIND_SPECS.items() if not s.location_from_device]

_EPOCH_MS = r"^\d{10,14}$"  # integer epoch milliseconds, as the wire contract allows
_OPTIONAL = ("lat", "lon", "code", "corr", "attrs")
DEVICE_FRAME_SCHEMA = {
    "device": pl.String,
    "device_kind": pl.String,
    "dev_lat": pl.Float64,
    "dev_lon": pl.Float64,
    "dev_cell": pl.UInt64,
    "area": pl.String,
    "active": pl.Boolean,
}


class DeviceTable:
    """The registry's devices as validation looks them up: by id, through a dict built once per
    reload of the directory, not a hash join built again for every batch (~2 ms a batch)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self._values = frame.drop("device")
        self._row = {device: i for i, device in enumerate(frame["device"].to_list())}

    def rows_of(self, devices: pl.Series) -> pl.DataFrame:
        """The registry's columns (all but `device`) for each device id; nulls where unknown."""
        row = self._row
        at = pl.Series([row.get(device) for device in devices.to_list()], dtype=pl.UInt32)
        return self._values[at]


@dataclass(frozen=True, slots=True)
class Limits:
    """What an acceptable event looks like, beyond its types."""

    now: datetime
    max_age: timedelta
    max_skew: timedelta
    bbox: BBox | None
    h3_resolution: int
    max_text_len: int = 256
    max_attrs_len: int = 4096


def _parse_ts(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ts_parsed: RFC 3339 with 'Z' or an offset, or integer epoch milliseconds; else null."""
    ts = frame["ts"]
    millis = _all_epoch_ms(ts)
    if millis is not None:
        # Decoded binary reports and most devices send epoch milliseconds: no text to parse.
        return frame.hstack([millis.cast(UTC_MS).alias("ts_parsed")])
    try:
        # Arrow's ISO 8601 cast runs at ~25 M/s against ~1.5 M/s for strptime, but fails the
        # whole array on one bad value: then the slower per-value path below explains it.
        return frame.with_columns(_arrow_ts(ts))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # RFC 3339 (section 5.6) lets "T" and "Z" be written "t" and "z"; Arrow and strptime do not.
    ts = ts.str.to_uppercase()
    try:
        return frame.with_columns(_arrow_ts(ts))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = ts.str.strptime(UTC_MS, "%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, cache=False)
    epoch = pl.when(ts.str.contains(_EPOCH_MS)).then(ts.cast(pl.Int64, strict=False).cast(UTC_MS))
    return frame.with_columns(pl.select(pl.coalesce(text, epoch)).to_series().alias("ts_parsed"))


_POWERS_OF_TEN = np.array([10**k for k in range(15)], dtype=np.int64)


def _all_epoch_ms(ts: pl.Series) -> pl.Series | None:
    """The times as integers if every one is 10 to 14 digits (`_EPOCH_MS`), else None.

    Without the regular expression, which costs ~0.4 ms a batch: each text must read as an
    integer of 10 to 14 digits and be exactly as long as its digits, so that no sign, space or
    leading zero passes (a text with one is left to the slower path, which judges it).
    """
    values = ts.cast(pl.Int64, strict=False)
    if values.null_count() or not len(values):
        return None
    low, high = values.min(), values.max()
    if not (isinstance(low, int) and isinstance(high, int) and low >= 10**9 and high < 10**14):
        return None
    digits = np.searchsorted(_POWERS_OF_TEN, values.to_numpy(), side="right")  # exact, unlike log10
    if not np.array_equal(digits, ts.str.len_bytes().to_numpy()):
        return None
    return values


def _arrow_ts(ts: pl.Series) -> pl.Series:
    """Every value as an instant by Arrow's ISO 8601 cast; raises if any value is not one."""
    arrow = pc.cast(ts.to_arrow(), pa.timestamp("ns", tz="UTC"))
    return pl.Series("ts_parsed", arrow).cast(UTC_MS)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _instant(at: datetime) -> pl.Expr:
    """A UTC instant as a millisecond literal: a datetime literal costs ~0.25 ms a batch to convert."""
    return pl.lit((at - _EPOCH) // _MS, dtype=pl.Int64).cast(UTC_MS)


Check = tuple[str, pl.Expr, pl.Expr]


def _checks(limits: Limits, present: set[str]) -> tuple[Check, ...]:
    """(field, failed?, reason) in the order they are reported; the first failure wins.

    Checks of optional fields that no event of the batch carries (`present` lists those some
    event does) are left out: a batch of station reads has no coordinates, codes or attrs.
    The time window is read from the columns `_oldest` and `_newest` (`validate` adds them),
    so that the expressions, which cost ~2 ms a batch to build, are built once per shape.
    """
    return _checks_for(
        frozenset(present),
        limits.bbox,
        limits.max_age,
        limits.max_skew,
        limits.max_text_len,
        limits.max_attrs_len,
    )


@functools.lru_cache(maxsize=64)
def _checks_for(
    present: frozenset[str],
    bbox: BBox | None,
    max_age: timedelta,
    max_skew: timedelta,
    max_text_len: int,
    max_attrs_len: int,
) -> tuple[Check, ...]:
    c = pl.col
    lit = pl.lit
    oldest, newest = c("_oldest"), c("_newest")
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        (
            "v",
            c("v").fill_null(WIRE_VERSION) != WIRE_VERSION,
            pl.format("unsupported schema version {}; this server accepts v{}", c("v"), lit(WIRE_VERSION)),
        ),
        ("id", c("id").is_null(), lit("the event id is missing")),
        (
            "id",
            ~c("id").str.contains(EVENT_ID_PATTERN),
            pl.format("event id '{}' must be 1 to 64 of A-Z a-z 0-9 _ . : -", c("id").str.slice(0, 80)),
        ),
        ("kind", c("kind").is_null(), lit("the kind is missing")),
        (
            "kind",
            ~c("kind").is_in(_KINDS),
            pl.format(
                "unknown kind '{}'; known kinds: {}", c("kind").str.slice(0, 40), lit(", ".join(_KINDS))
            ),
        ),
        ("device", c("device").is_null(), lit("the device is missing (the request is not tied to a device)")),
        (
            "device",
            c("auth_device").is_not_null() & (c("device") != c("auth_device")),
            pl.format(
                "device '{}' does not match the authenticated device '{}'", c("device"), c("auth_device")
            ),
        ),
        ("device", c("active").is_null(), pl.format("unknown device '{}'", c("device").str.slice(0, 80))),
        ("device", ~c("active"), pl.format("device '{}' is disabled", c("device"))),
        ("ts", c("ts").is_null(), lit("the timestamp is missing")),
        (
            "ts",
            c("ts_parsed").is_null(),
            pl.format(
                "timestamp '{}' is neither RFC 3339 with a timezone nor epoch milliseconds",
                c("ts").str.slice(0, 40),
            ),
        ),
        (
            "ts",
            c("ts_parsed") < oldest,
            pl.format("timestamp {} is older than the {} day limit", c("ts"), lit(max_age.days)),
        ),
        (
            "ts",
            c("ts_parsed") > newest,
            pl.format(
                "timestamp {} is more than {} s in the future",
                c("ts"),
                lit(int(max_skew.total_seconds())),
            ),
        ),
    ]
    if present & {"lat", "lon"}:
        # Each refusal names the coordinate at fault: the missing one, the one off the globe.
        checks += [
            ("lat", c("lat").is_null() & c("lon").is_not_null(), lit("lat and lon must be given together")),
            ("lon", c("lon").is_null() & c("lat").is_not_null(), lit("lat and lon must be given together")),
            (
                "lat",
                ~c("lat").is_between(-90, 90),
                pl.format("latitude {} is not on the globe (-90 to 90)", c("lat")),
            ),
            (
                "lon",
                ~c("lon").is_between(-180, 180),
                pl.format("longitude {} is not on the globe (-180 to 180)", c("lon")),
            ),
        ]
    if bbox is not None and present & {"lat", "lon"}:
        box = bbox
        outside = pl.format("coordinates ({}, {}) are outside the city", c("lat"), c("lon"))
        checks += [
            ("lat", ~c("lat").is_between(box.south, box.north), outside),
            ("lon", ~c("lon").is_between(box.west, box.east), outside),
        ]
    checks += [
        (
            "lat",
            c("kind").is_in(_MOVING) & c("lat").is_null(),
            pl.format("a {} must carry lat and lon", c("kind")),
        ),
        (
            "lat",
            c("lat").is_null() & c("dev_lat").is_null(),
            pl.format("no position: the event gives none and device '{}' has no registered one", c("device")),
        ),
        (
            "subject",
            c("kind").is_in(_SUBJECT_REQUIRED) & c("subject").is_null(),
            pl.format("a {} needs a subject", c("kind")),
        ),
        (
            "subject",
            c("subject").is_not_null() & ~c("subject_ok"),
            pl.format("subject '{}' is not {}", c("subject").str.slice(0, 64), c("subject_hint")),
        ),
    ]
    optional: list[tuple[str, pl.Expr, pl.Expr]] = [
        (
            "code",
            c("code").str.len_chars() > max_text_len,
            lit(f"the code is longer than {max_text_len} characters"),
        ),
        ("corr", c("corr").str.len_chars() > 64, lit("the correlation id is longer than 64 characters")),
        (
            "attrs",
            c("attrs").str.len_bytes() > max_attrs_len,
            lit(f"attrs is larger than {max_attrs_len} bytes"),
        ),
        (
            "attrs",
            c("attrs").is_not_null() & ~c("attrs").str.starts_with("{"),
            lit("attrs must be an object"),
        ),
    ]
    return tuple(checks + [check for check in optional if check[0] in present])


@functools.lru_cache(maxsize=64)
def _subject_exprs(kinds: tuple[str, ...]) -> tuple[pl.Expr, pl.Expr]:
    """subject_ok and subject_hint, with a check only for the subject kinds present in the batch."""
    ok: pl.Expr = pl.lit(True)
    hint: pl.Expr = pl.lit("")
    for kind in kinds:
        sk = SubjectKind(kind)
        is_kind = pl.col("subject_kind") == kind
        ok = pl.when(is_kind).then(subject_valid_expr(sk, pl.col("subject"))).otherwise(ok)
        hint = pl.when(is_kind).then(pl.lit(SUBJECT_FORMAT_HINTS[sk])).otherwise(hint)
    return ok, hint


def validate(frame: pl.DataFrame, devices: DeviceTable, limits: Limits) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a decoded batch into accepted records (+ `part`) and rejections.

    Rejections have the columns part, idx, event_id, field and reason.

    `frame` holds the wire columns plus `part`, `idx`, `auth_device` and `source`. The work is one
    lazy query, so that Polars fuses it: a micro-batch of a few events costs little more than
    its fixed overhead, a large one runs at column speed.
    """
    frame = _parse_ts(frame).with_columns(
        pl.coalesce("device", "auth_device").alias("device"),
        pl.col("kind")
        .replace_strict(_SUBJECT_KIND, default=None, return_dtype=pl.String)
        .alias("subject_kind"),
        _instant(limits.now - limits.max_age).alias("_oldest"),
        _instant(limits.now + limits.max_skew).alias("_newest"),
    )
    kinds = tuple(sorted(k for k in frame["subject_kind"].unique().to_list() if k is not None))
    ok, hint = _subject_exprs(kinds)
    present = {col for col in _OPTIONAL if frame[col].null_count() < frame.height}
    checks = _checks(limits, present)
    # One pass decides which rows fail; reasons are formatted only for those (usually none).
    frame = (
        frame.hstack(devices.rows_of(frame["device"]))
        .lazy()
        .with_columns(ok.alias("subject_ok"))
        .with_columns(pl.any_horizontal([f.fill_null(False) for _, f, _ in checks]).alias("_bad"))
        .collect()
    )
    if not frame["_bad"].any():  # the usual batch: no copy of it without the bad rows
        return _to_records(frame, limits), pl.DataFrame(schema=REJECTION_SCHEMA)
    good = frame.filter(~pl.col("_bad"))
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    fld: pl.Expr = pl.lit(None, dtype=pl.String)
    for name, hit, why in reversed(checks):
        reason = pl.when(hit.fill_null(False)).then(why).otherwise(reason)
        fld = pl.when(hit.fill_null(False)).then(pl.lit(name)).otherwise(fld)
    # The format hint is text per row: built only for the rows that failed.
    bad = (
        frame.filter(pl.col("_bad"))
        .with_columns(hint.alias("subject_hint"))
        .select("part", "idx", pl.col("id").alias("event_id"), fld.alias("field"), reason.alias("reason"))
    )
    return _to_records(good, limits), bad


REJECTION_SCHEMA = {
    "part": pl.Int64,
    "idx": pl.Int64,
    "event_id": pl.String,
    "field": pl.String,
    "reason": pl.String,
}


def _to_records(good: pl.DataFrame, limits: Limits) -> pl.DataFrame:
    """Fill positions from the device registry, compute cells, and shape to the record schema."""
    own_position = good["lat"].is_not_null()
    # One query from here (cells, shape, types): each eager step would cost its own dispatch.
    lazy = good.lazy()
    if own_position.all():  # trackers, plates on the move: no registry position to mix in
        lazy = lazy.with_columns(cell_expr("lat", "lon", limits.h3_resolution).alias("cell"))
    elif own_position.any():
        # H3 runs at ~1.7 M points/s: only for events that carry their own position.
        own = good.filter(own_position).with_columns(
            cell_expr("lat", "lon", limits.h3_resolution).alias("cell")
        )
        fixed = good.filter(~own_position).with_columns(pl.col("dev_cell").alias("cell"))
        lazy = pl.concat([own, fixed], how="vertical_relaxed").lazy()
    else:
        lazy = lazy.with_columns(pl.col("dev_cell").alias("cell"))
    return (
        lazy.select(
            "part",
            pl.col("id").alias("event_id"),
            pl.coalesce("corr", "id").alias("corr_id"),
            "kind",
            pl.col("subject_kind").fill_null(SubjectKind.DEVICE.value),
            pl.coalesce("subject", "device").alias("subject"),
            "device",
            pl.col("ts_parsed").alias("ts"),
            pl.coalesce("lat", "dev_lat").alias("lat"),
            pl.coalesce("lon", "dev_lon").alias("lon"),
            "cell",
            "area",
            "code",
            "value",
            "attrs",
            "source",
            _instant(limits.now).alias("received_at"),
        )
        .cast(RECORD_SCHEMA)  # type: ignore[arg-type]  # plus `part`, which the pipeline drops
        .collect()
    )
