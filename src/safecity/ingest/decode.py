"""Decode request bodies (NDJSON or a JSON array of v1 events) into a columnar frame.

The fast path hands the whole body to Polars' NDJSON reader (Rust, no Python object per
event). Only when that fails does the slow path decode event by event with msgspec, to say
exactly which event was wrong and where; the good events of that body still go through.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import msgspec
import polars as pl

from safecity.core.record import WIRE_COLUMNS, WireEvent

_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_EVENT = msgspec.json.Decoder(WireEvent)
_READ_SCHEMA = {name: dtype for name, dtype in WIRE_COLUMNS.items()}


class BodyError(ValueError):
    """The body as a whole cannot be read (not JSON, not a list, too many events)."""


@dataclass(slots=True)
class Decoded:
    """The events of one body: a frame of wire columns plus the events that could not be read."""

    frame: pl.DataFrame  # WIRE_COLUMNS + "idx" (the event's position in the body)
    errors: list[tuple[int, str | None, str, str | None]] = field(default_factory=list)  # idx, field, reason, id
    lines: list[bytes] | None = None  # raw event texts by idx (split lazily from body if None)
    body: bytes = b""

    def raw(self, idx: int) -> bytes:
        """The raw text of the event at `idx`, for its dead letter."""
        if self.lines is None:
            self.lines = _non_blank_lines(self.body)
        return self.lines[idx]


def _non_blank_lines(body: bytes) -> list[bytes]:
    return [line for line in body.split(b"\n") if line.strip()]


def decode_body(body: bytes, *, max_events: int) -> Decoded:
    """Read a body (NDJSON or a JSON array) into columns, explaining every unreadable event."""
    start = body.lstrip()[:1]
    if start == b"[":
        try:
            items = [bytes(raw) for raw in _RAW_LIST.decode(body)]
        except msgspec.DecodeError as exc:
            raise BodyError(f"the body is not a valid JSON array: {exc}") from exc
        _check_count(len(items), max_events)
        return decode_events(items)
    if start == b"{":
        # Cheap upper bound first; the exact count only when the bound is over the limit.
        if body.count(b"\n") + 1 > max_events:
            _check_count(len(_non_blank_lines(body)), max_events)
        try:
            frame = pl.read_ndjson(io.BytesIO(body), schema=_READ_SCHEMA)
        except (pl.exceptions.PolarsError, OverflowError):
            return decode_events(_non_blank_lines(body))
        frame = frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("idx"))
        return Decoded(frame=frame, lines=None, body=body)
    if not start:
        raise BodyError("the body is empty; send NDJSON or a JSON array of events")
    raise BodyError("the body must be NDJSON (one JSON object per line) or a JSON array of objects")


def _check_count(count: int, max_events: int) -> None:
    if count > max_events:
        raise BodyError(f"the batch holds {count} events; at most {max_events} are accepted per batch")


def decode_events(items: list[bytes]) -> Decoded:
    """Read raw event texts into columns, explaining every event that cannot be read."""
    if not items:
        return Decoded(frame=_frame_from_ndjson(b"", []), lines=items)
    try:
        frame = _frame_from_ndjson(b"\n".join(items), list(range(len(items))))
        return Decoded(frame=frame, lines=items)
    except (pl.exceptions.PolarsError, OverflowError):
        pass
    return _decode_slow(items)


def _frame_from_ndjson(ndjson: bytes, idx: list[int]) -> pl.DataFrame:
    if not ndjson:
        frame = pl.DataFrame(schema=_READ_SCHEMA)
    else:
        frame = pl.read_ndjson(io.BytesIO(ndjson), schema=_READ_SCHEMA)
    if frame.height != len(idx):
        raise pl.exceptions.ComputeError("line count mismatch")  # e.g. a line holding two objects
    return frame.with_columns(pl.Series("idx", idx, dtype=pl.Int64))


def _decode_slow(items: list[bytes]) -> Decoded:
    """Decode each event alone; keep the good ones, explain the rest."""
    good: list[int] = []
    errors: list[tuple[int, str | None, str, str | None]] = []
    for i, raw in enumerate(items):
        try:
            _EVENT.decode(raw)
        except msgspec.ValidationError as exc:
            errors.append((i, _field_of(str(exc)), str(exc), _id_of(raw)))
            continue
        except msgspec.DecodeError as exc:
            errors.append((i, None, f"malformed JSON: {exc}", None))
            continue
        good.append(i)
    try:
        frame = _frame_from_ndjson(b"\n".join(items[i] for i in good), good)
    except (pl.exceptions.PolarsError, OverflowError):
        # msgspec accepted what Polars will not (e.g. a number too large for Int64): read one by one.
        frames, still_good = [], []
        for i in good:
            try:
                frames.append(_frame_from_ndjson(items[i], [i]))
                still_good.append(i)
            except (pl.exceptions.PolarsError, OverflowError) as exc:
                errors.append((i, None, f"unreadable event: {exc}", _id_of(items[i])))
        frame = pl.concat(frames) if frames else _frame_from_ndjson(b"", [])
    return Decoded(frame=frame, errors=errors, lines=items)


def _id_of(raw: bytes) -> str | None:
    """Best-effort event id of an event that failed typed decoding, to name it in the reply."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    event_id = value.get("id") if isinstance(value, dict) else None
    return str(event_id)[:128] if isinstance(event_id, str | int) else None


def _field_of(message: str) -> str | None:
    """Pull the field name out of a msgspec error such as "... - at `$.lat`"."""
    marker = "at `$."
    pos = message.rfind(marker)
    if pos < 0:
        return None
    return message[pos + len(marker):].rstrip("`").split(".")[0].split("[")[0] or None
