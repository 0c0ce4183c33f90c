"""Decode request bodies (NDJSON or a JSON array of v1 events) into one columnar frame.

Events an adapter decoded itself (from a binary protocol) become columns straight from their
fields when every field has a type the contract allows (`_events_frame`: no text to write and
read back; `attrs` is written by msgspec as compact JSON). Any other such body is rendered as
NDJSON and joins the read of the bodies, so that it is checked, explained and dead-lettered
exactly like a body; a refused event's raw text is always its NDJSON rendering.

Bodies are first normalised to NDJSON with a known event count, then every body of a
micro-batch is read by one call of Polars' NDJSON reader (Rust, no Python object per event):
per-body overhead would otherwise dominate when thousands of stations upload a few reads each.
Only when that read fails are bodies decoded alone, and only a failing body is decoded event
by event with msgspec, to say exactly which event was wrong and where. A body that is not UTF-8,
or none of whose lines is JSON, cannot be read as a whole: it is refused whole (`Decoded.refused`).

The columnar reader turns any scalar into text (`"subject": 12345678` reads as "12345678"), so
the contract's JSON types are checked after it: the few values whose text could be a number,
true/false, an object or an array are looked up in their raw line and decoded by msgspec, all
in one call (`_check_types`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
import numpy as np
import polars as pl

from safecity.core.record import WIRE_COLUMNS, WireEvent

_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_EVENT = msgspec.json.Decoder(WireEvent)
_ENCODER = msgspec.json.Encoder()
_READ_SCHEMA = dict(WIRE_COLUMNS)
_POLARS_ERRORS = (pl.exceptions.PolarsError, OverflowError)
# msgspec raises these outside DecodeError: nesting deeper than its cap, invalid UTF-8 in a string.
_MALFORMED = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)

# (part, idx, field, reason, event id)
DecodeError = tuple[int, int, str | None, str, str | None]
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark, which some editors and libraries write first
MALFORMED = "malformed JSON"


class _Types(msgspec.Struct):
    """The JSON types of the fields the columnar read takes as text (docs/ingest.md section 1)."""

    id: str | int | None = None
    kind: str | None = None
    device: str | None = None
    subject: str | None = None
    code: str | None = None
    corr: str | None = None


_TYPES = msgspec.json.Decoder(_Types)
_TYPES_LIST = msgspec.json.Decoder(list[_Types])
# `kind` and `device` are left out (each check costs ~1 ms per 50,000 events): they must spell a
# known kind and the sending device, so another type's text is refused as unknown unless it
# spells exactly that (a device registered as "12345" sending `"device": 12345`).
_TEXT_FIELDS = ("subject", "code", "corr")
# The text a number (integers never have a leading zero), true/false, an object or an array
# becomes in a String column: a string field whose text looks like one may have been sent as one.
_NOT_TEXT = r"^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$|true$|false$|[\[{])"
# An id may be an integer: only a fraction or true/false betrays a type it may not have.
_NOT_ID = r"^(?:-?[0-9]+\.[0-9]+|true|false)$"


class BodyError(ValueError):
    """The body as a whole cannot be read (not JSON, not a list, too many events)."""


@dataclass(slots=True)
class Body:
    """One body as NDJSON. `count` is exact once `exact` (always after `clean`).

    A body of an adapter's decoded events keeps them (`events`) and is rendered as NDJSON only
    when its text is needed (`text`): read as text, or a refused event's raw text.
    """

    ndjson: bytes
    count: int
    _lines: list[bytes] | None = None
    exact: bool = True
    # Python events whose text fields are all text (`events_body` checked): the columnar read
    # cannot have turned another JSON type into text, so `_check_types` skips it.
    typed: bool = False
    events: Sequence[WireEvent] | None = None

    def text(self) -> bytes:
        """The body as NDJSON (decoded events are rendered on first use)."""
        if self.events is not None and not self.ndjson and self.count:
            self.ndjson = render_events(self.events)[:-1]
        return self.ndjson

    def clean(self) -> None:
        """Drop blank lines and surrounding whitespace; count exactly."""
        if not self.exact:
            lines = [line.strip() for line in self.ndjson.replace(b"\r", b"\n").split(b"\n") if line.strip()]
            self.ndjson, self.count, self._lines, self.exact = b"\n".join(lines), len(lines), lines, True

    def lines(self) -> list[bytes]:
        """The raw event texts, by index."""
        self.clean()
        if self._lines is None:
            self._lines = self.text().split(b"\n")[: self.count] if self.count else []
        return self._lines

    def pick(self, idx: Sequence[int]) -> list[bytes]:
        """The raw texts of a few events, by index, once the body has been read whole."""
        if self.exact:
            lines = self.lines()
            return [lines[i] for i in idx]
        # Read as received: the columnar read found one event a line, so line i is event i, and
        # the newline offsets find a few without making an object of every line.
        newlines = np.flatnonzero(np.frombuffer(self.ndjson, dtype=np.uint8) == ord("\n"))
        at = np.asarray(idx, dtype=np.int64)
        starts = np.where(at > 0, newlines[np.maximum(at - 1, 0)] + 1, 0) if newlines.size else at * 0
        ends = np.append(newlines, len(self.ndjson))[np.minimum(at, newlines.size)]
        return [self.ndjson[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


@dataclass(slots=True)
class Decoded:
    """The events of several bodies: wire columns + `part` + `idx`, and what could not be read.

    `refused` names the bodies that cannot be read as a whole, with the reason: none of their
    events is in `frame` or `errors`.
    """

    frame: pl.DataFrame
    errors: list[DecodeError] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def normalise_body(body: bytes, *, max_events: int, max_bytes: int) -> Body:
    """Take a JSON array or NDJSON body as NDJSON with its event count (exact after reading)."""
    if len(body) > max_bytes:
        raise BodyError(f"the body is {len(body)} bytes; at most {max_bytes} are accepted per batch")
    if body.startswith(BOM):
        body = body[len(BOM) :]
    start = body[:64].lstrip()[:1] or body.lstrip()[:1]
    if start == b"{":
        # Taken as it is (no copy, no scan): if blank lines make the count wrong, the columnar
        # read notices (row count != line count) and the body is cleaned and read again.
        count = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
        _check_count(count, max_events)
        return Body(body, count, exact=False)
    if start == b"[":
        try:
            items = [bytes(raw).replace(b"\n", b" ") for raw in _RAW_LIST.decode(body)]
        except _MALFORMED as exc:
            raise BodyError(f"the body is not a valid JSON array: {exc}") from exc
        _check_count(len(items), max_events)
        return Body(b"\n".join(items), len(items), items)
    if not start:
        raise BodyError("the body is empty; send NDJSON or a JSON array of events")
    raise BodyError("the body must be NDJSON (one JSON object per line) or a JSON array of objects")


def render_events(events: Sequence[WireEvent]) -> bytes:
    """Decoded events as NDJSON: one compact object a line, fields left out written as null."""
    return _ENCODER.encode_lines(events)


def events_body(events: Sequence[WireEvent], *, max_events: int) -> Body:
    """Events an adapter decoded, as a body; the byte limit is the transport's (its frames)."""
    _check_count(len(events), max_events)
    # Exact once rendered: msgspec escapes any newline inside a string, so a line is an event.
    return Body(b"", len(events), typed=_all_text(events), events=events)


_TEXT = (str, type(None))


def _all_text(events: Sequence[WireEvent]) -> bool:
    """Whether every event's id and text fields hold text (or nothing): a Struct does not check
    its field types when built, so an adapter's int subject would otherwise pass as text."""
    for e in events:  # a loop, not all(generator): most parts hold one read's few events
        if type(e.id) is not str or not (
            type(e.subject) in _TEXT and type(e.code) in _TEXT and type(e.corr) in _TEXT
        ):
            return False
    return True


def _check_count(count: int, max_events: int) -> None:
    if count > max_events:
        raise BodyError(f"the batch holds {count} events; at most {max_events} are accepted per batch")


def decode_bodies(bodies: dict[int, Body]) -> Decoded:
    """Read every body (keyed by part number) into one frame, explaining unreadable events."""
    parts = [p for p, b in bodies.items() if b.count]
    events = [p for p in parts if bodies[p].events is not None and bodies[p].typed]
    columns = _events_frame(bodies, events) if events else None
    if columns is None:
        return _read_bodies(bodies, parts)
    if len(events) == len(parts):
        return Decoded(frame=columns)  # typed: `_check_types` has nothing to look at
    columnar = set(events)
    texts = [p for p in parts if p not in columnar]
    decoded = _read_bodies(bodies, texts)
    # In part order, as one read of them all would have them.
    decoded.frame = pl.concat([decoded.frame, columns], how="vertical").sort("part", "idx")
    return decoded


def _read_bodies(bodies: dict[int, Body], parts: list[int]) -> Decoded:
    """Read the texts of these bodies together (alone if that fails) into one frame."""
    if not parts:
        return Decoded(frame=_empty())
    counts = np.array([bodies[p].count for p in parts], dtype=np.int64)
    try:
        joined = b"\n".join(bodies[p].text() for p in parts)  # one part: its own bytes, no copy
        frame = _read(joined, int(counts.sum()))
    except _POLARS_ERRORS:
        return _check_types(_decode_alone(bodies, parts), bodies)
    frame = frame.hstack(_numbering(parts, counts))
    return _check_types(Decoded(frame=frame), bodies)


def _numbering(parts: list[int], counts: np.ndarray) -> list[pl.Series]:
    """The `part` and `idx` columns of bodies read one after another."""
    starts = np.cumsum(counts) - counts
    part_col = np.repeat(np.array(parts, dtype=np.int64), counts)
    idx_col = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
    return [pl.Series("part", part_col), pl.Series("idx", idx_col)]


# The Python types each field of a decoded event may have for its column to be built directly;
# any other (a bool where a number goes, a list for attrs, an int ts beside a text one) sends
# the body to the NDJSON read, which explains it as it would in a device's body.
_TYPES_OF: dict[str, tuple[frozenset[type], ...]] = {
    "v": (frozenset({int, type(None)}),),
    "id": (frozenset({str}),),
    "kind": (frozenset({str}),),
    "ts": (frozenset({int}), frozenset({str})),
    "device": (frozenset({str, type(None)}),),
    "subject": (frozenset({str, type(None)}),),
    "lat": (frozenset({float, int, type(None)}),),
    "lon": (frozenset({float, int, type(None)}),),
    "code": (frozenset({str, type(None)}),),
    "value": (frozenset({float, int, type(None)}),),
    "corr": (frozenset({str, type(None)}),),
    "attrs": (frozenset({dict, type(None)}),),
}
_FLOATS = ("lat", "lon", "value")


def _events_frame(bodies: dict[int, Body], parts: list[int]) -> pl.DataFrame | None:
    """The wire columns (+ part, idx) of decoded events, built from their fields; None when a
    field has a type the contract does not allow there, or a value that does not fit its column."""
    events = [e for p in parts for e in cast(Sequence[WireEvent], bodies[p].events)]
    columns: dict[str, pl.Series] = {}
    for name, allowed in _TYPES_OF.items():
        values = [getattr(e, name) for e in events]
        types = set(map(type, values))
        if not any(types <= ok for ok in allowed):
            return None
        try:
            if name == "attrs":
                columns[name] = _attrs_column(values)
            elif name == "ts" and int in types:
                # Epoch milliseconds, as the text a JSON number reads as.
                columns[name] = pl.Series(name, values, dtype=pl.Int64).cast(pl.String)
            else:
                columns[name] = pl.Series(name, values, dtype=_READ_SCHEMA[name], strict=True)
        except (TypeError, OverflowError, msgspec.EncodeError, *_POLARS_ERRORS):
            return None
    for name in _FLOATS:
        # msgspec writes NaN and infinities as null: so does this, as the read would. (NumPy:
        # a Polars expression costs ~70 µs a call, the copy to NumPy a few.)
        column = columns[name]
        if column.null_count() < column.len():
            odd = ~np.isfinite(column.to_numpy())  # nulls become NaN here, and stay null
            if odd.any():
                columns[name] = column.set(pl.Series(odd), None)
    counts = np.array([bodies[p].count for p in parts], dtype=np.int64)
    return pl.DataFrame([*columns.values(), *_numbering(parts, counts)])


def _attrs_column(values: list[dict[str, Any] | None]) -> pl.Series:
    """Each event's attrs as compact JSON text (null where it has none)."""
    texts = [None if v is None else _ENCODER.encode(v).decode() for v in values]
    return pl.Series("attrs", texts, dtype=pl.String)


def _decode_alone(bodies: dict[int, Body], parts: list[int]) -> Decoded:
    """Decode each body on its own (their joint read failed), refusing those unreadable as a whole."""
    frames, errors, refused = [], [], {}
    for p in parts:
        body = bodies[p]
        try:
            body.text().decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = body.ndjson[exc.start]
            refused[p] = f"the body is not UTF-8 text (byte 0x{bad:02x} cannot be read); send JSON as UTF-8"
            continue
        body.clean()
        one = decode_events(body.lines(), part=p)
        if one.errors and all(e[3].startswith(MALFORMED) for e in one.errors) and not one.frame.height:
            refused[p] = f"the body is not JSON (nor NDJSON): {one.errors[0][3]}"
            continue
        frames.append(one.frame)
        errors += one.errors
    return Decoded(frame=pl.concat(frames) if frames else _empty(), errors=errors, refused=refused)


def _check_types(decoded: Decoded, bodies: dict[int, Body]) -> Decoded:
    """Refuse the events whose text fields were sent as another JSON type (a number, say).

    Only values whose text could be another type's are looked up in their raw lines, and those
    lines are decoded by one msgspec call; only if one is wrong is each decoded alone, to say which.
    """
    frame = decoded.frame
    untyped = [p for p, body in bodies.items() if not body.typed]
    if not untyped:
        return decoded  # every body rendered from checked Python events (decoded binary frames)
    suspect: pl.Expr = pl.col("id").str.contains(_NOT_ID)
    for name in _TEXT_FIELDS:
        if frame[name].null_count() < frame.height:  # absent from most batches: skipped
            suspect = suspect | pl.col(name).str.contains(_NOT_TEXT)
    if len(untyped) < len(bodies):
        suspect = suspect & pl.col("part").is_in(untyped)
    rows = frame.lazy().filter(suspect.fill_null(False)).select("part", "idx").collect()
    if not rows.height:
        return decoded
    found: list[tuple[int, int, bytes]] = []
    of_part, of_idx = rows["part"].to_numpy(), rows["idx"].to_numpy()
    for p in np.unique(of_part).tolist():
        idx = of_idx[of_part == p].tolist()
        found += [(p, i, raw) for i, raw in zip(idx, bodies[p].pick(idx), strict=True)]
    try:
        _TYPES_LIST.decode(b"[" + b",".join(raw for _, _, raw in found) + b"]")
        return decoded
    except msgspec.ValidationError:
        pass
    wrong = []
    for p, i, raw in found:
        try:
            _TYPES.decode(raw)
        except msgspec.ValidationError as exc:
            wrong.append((p, i))
            decoded.errors.append((p, i, _field_of(str(exc)), str(exc), _id_of(raw)))
    drop = pl.DataFrame(wrong, schema={"part": pl.Int64, "idx": pl.Int64}, orient="row")
    decoded.frame = frame.join(drop, on=["part", "idx"], how="anti")
    return decoded


def decode_events(items: list[bytes], *, part: int = 0) -> Decoded:
    """Read one body's raw event texts, explaining every event that cannot be read."""
    try:
        frame = _read(b"\n".join(items), len(items))
        return Decoded(frame=_numbered(frame, part, list(range(len(items)))))
    except _POLARS_ERRORS:
        pass
    good: list[int] = []
    errors: list[DecodeError] = []
    for i, raw in enumerate(items):
        try:
            _EVENT.decode(raw)
        except msgspec.ValidationError as exc:
            errors.append((part, i, _field_of(str(exc)), str(exc), _id_of(raw)))
            continue
        except _MALFORMED as exc:
            errors.append((part, i, None, f"{MALFORMED}: {exc}", None))
            continue
        good.append(i)
    try:
        frame = _numbered(_read(b"\n".join(items[i] for i in good), len(good)), part, good)
    except _POLARS_ERRORS:
        # msgspec accepted what Polars will not (a number too large for Int64): read one by one.
        frames = []
        for i in good:
            try:
                frames.append(_numbered(_read(items[i], 1), part, [i]))
            except _POLARS_ERRORS as exc:
                errors.append((part, i, None, f"unreadable event: {exc}", _id_of(items[i])))
        frame = pl.concat(frames) if frames else _empty()
    return Decoded(frame=frame, errors=errors)


def _read(ndjson: bytes, expected: int) -> pl.DataFrame:
    if not expected:
        return pl.DataFrame(schema=_READ_SCHEMA)
    frame = pl.read_ndjson(io.BytesIO(ndjson), schema=_READ_SCHEMA)
    if frame.height != expected:  # e.g. two objects on one line: find out event by event
        raise pl.exceptions.ComputeError(f"read {frame.height} events, expected {expected}")
    if b"\\" in ndjson and frame["attrs"].null_count() < frame.height:
        frame = _escaped_attrs(frame, ndjson)
    return frame


class _Attrs(msgspec.Struct):
    attrs: Any = None


_ATTRS = msgspec.json.Decoder(_Attrs)


def _escaped_attrs(frame: pl.DataFrame, ndjson: bytes) -> pl.DataFrame:
    """The reader writes an attrs object back as text without escaping its strings again
    (`{"k": "a\\"b"}` becomes `{"k": "a"b"}`, not JSON): an object on a line with an escape is
    written again from the line, as compact JSON by msgspec."""
    lines = [line for line in ndjson.split(b"\n") if line.strip()]
    if len(lines) != frame.height:  # not one event a line: decoded event by event instead
        raise pl.exceptions.ComputeError("cannot tell which line is which event")
    rows, texts = [], []
    for i, line in enumerate(lines):
        if b"\\" in line:
            try:
                value = _ATTRS.decode(line).attrs
            except _MALFORMED as exc:  # read by Polars, not by msgspec: explained event by event
                raise pl.exceptions.ComputeError(str(exc)) from exc
            if isinstance(value, dict):
                rows.append(i)
                texts.append(_ENCODER.encode(value).decode())
    if not rows:
        return frame
    return frame.with_columns(frame["attrs"].scatter(rows, texts))


def _numbered(frame: pl.DataFrame, part: int, idx: list[int]) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(part, dtype=pl.Int64).alias("part"), pl.Series("idx", idx, dtype=pl.Int64)
    )


def _empty() -> pl.DataFrame:
    return _numbered(pl.DataFrame(schema=_READ_SCHEMA), 0, [])


def _id_of(raw: bytes) -> str | None:
    """Best-effort event id of an event that failed typed decoding, to name it in the reply."""
    try:
        value = msgspec.json.decode(raw)
    except _MALFORMED:
        return None
    event_id = value.get("id") if isinstance(value, dict) else None
    return str(event_id)[:128] if isinstance(event_id, str | int) else None


def _field_of(message: str) -> str | None:
    """Pull the field name out of a msgspec error such as "... - at `$.lat`"."""
    marker = "at `$."
    pos = message.rfind(marker)
    if pos < 0:
        return None
    return message[pos + len(marker) :].rstrip("`").split(".")[0].split("[")[0] or None
