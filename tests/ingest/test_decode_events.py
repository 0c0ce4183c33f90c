"""Decoded events become columns straight from their fields: exactly what reading their NDJSON gives.

`decode_bodies` builds the wire columns of an adapter's events from the events themselves when
every field has a type the contract allows, and otherwise reads their NDJSON rendering like a
device's body. Whatever the events hold, the frame, the errors and the refusals must be those of
the read; only `attrs` is written differently (msgspec's compact JSON instead of the reader's),
and must hold the same JSON value.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec
import polars as pl
from hypothesis import event, given, settings
from hypothesis import strategies as st

from safecity.core.record import WireEvent
from safecity.ingest.decode import Body, Decoded, _read_bodies, decode_bodies, events_body, normalise_body

texts = st.text(max_size=12)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
)
# Mostly what the contract allows, sometimes what a decoder's slip would put there.
slips = st.one_of(st.booleans(), st.lists(st.integers(), max_size=2), st.floats(), texts)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False), texts)
attrs = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=6), st.one_of(scalars, st.lists(scalars, max_size=2)), max_size=4),
)


def typed_events(fields: dict[str, st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[WireEvent]:
    """Events whose fields have the contract's types (numbers of any size, NaN, infinities)."""
    usual: dict[str, st.SearchStrategy[Any]] = {
        "id": st.from_regex(r"[A-Za-z0-9:-]{1,20}", fullmatch=True),
        "kind": st.sampled_from(["tracker_fix", "alarm", "heartbeat"]),
        "ts": st.one_of(st.integers(-(2**66), 2**66), st.integers(0, 2**42)),
        "v": st.one_of(st.none(), st.just(1), st.integers(-5, 5)),
        "device": st.one_of(st.none(), st.just("TRK-1")),
        "subject": st.one_of(st.none(), texts),
        "lat": st.one_of(st.none(), numbers),
        "lon": st.one_of(st.none(), numbers),
        "code": st.one_of(st.none(), texts),
        "value": st.one_of(st.none(), numbers),
        "corr": st.one_of(st.none(), texts),
        "attrs": attrs,
    }
    return st.builds(WireEvent, **(usual | (fields or {})))


# A decoder's slip: one field of a type the contract does not allow there (msgspec does not
# check types when a struct is built), or text times among numeric ones.
slipped = st.sampled_from(["id", "kind", "ts", "v", "device", "lat", "lon", "value", "attrs"]).flatmap(
    lambda name: typed_events({name: slips})
)
text_times = typed_events({"ts": st.just("2026-12-07T03:00:00Z")})
events = st.one_of(typed_events(), typed_events(), typed_events(), typed_events(), slipped, text_times)


parts = st.lists(st.lists(events, min_size=0, max_size=4), min_size=1, max_size=4)


def bodies_of(parts: list[list[WireEvent]]) -> dict[int, Body]:
    return {p: events_body(events, max_events=100) for p, events in enumerate(parts)}


def as_read(bodies: dict[int, Body]) -> Decoded:
    """What reading every body's NDJSON gives (the path for bodies of other types)."""
    return _read_bodies(bodies, [p for p, b in bodies.items() if b.count])


def json_value(text: str | None) -> Any:
    """An object's JSON value, numbers as floats (the reader writes 30.0 as 30, and 6.45e16 as
    its digits); any other attrs (which validation refuses) as the text read."""
    return json.loads(text, parse_int=float) if text is not None and text.startswith("{") else text


def same_frames(ours: pl.DataFrame, theirs: pl.DataFrame) -> None:
    assert ours.schema == theirs.schema
    assert ours.drop("attrs").equals(theirs.drop("attrs"), null_equal=True)
    # JSON values, not texts, are compared.
    ours_attrs = [json_value(a) for a in ours["attrs"].to_list()]
    theirs_attrs = [json_value(a) for a in theirs["attrs"].to_list()]
    assert ours_attrs == theirs_attrs


@settings(max_examples=300, deadline=None)
@given(parts)
def test_decoded_events_give_the_frame_errors_and_refusals_of_their_ndjson_read(
    parts: list[list[WireEvent]],
) -> None:
    try:
        for events in parts:
            msgspec.json.encode(events)
    except (msgspec.EncodeError, OverflowError):
        return  # not renderable at all: no read to compare with (adapters give only scalars)
    bodies = bodies_of(parts)
    ours = decode_bodies(bodies)
    event("columns" if not any(b.ndjson for b in bodies.values()) else "read")
    theirs = as_read(bodies_of(parts))
    same_frames(ours.frame, theirs.frame)
    assert ours.errors == theirs.errors
    assert ours.refused == theirs.refused


def plain_fix(n: int, **over: Any) -> WireEvent:
    event = WireEvent(
        id=f"gt06-1-{n:04x}", kind="tracker_fix", ts=1796612400000 + n, subject="8647", lat=27.9, lon=120.6
    )
    return msgspec.structs.replace(event, **over)


def test_plain_fixes_take_the_columns_and_keep_attrs_compact() -> None:
    fixes = [plain_fix(n, attrs={"valid": True, "speed_kmh": 30.0, "satellites": 9}) for n in range(3)]
    bodies = bodies_of([fixes])

    decoded = decode_bodies(bodies)

    assert not bodies[0].ndjson  # never rendered: built from the fields
    assert decoded.frame["attrs"].to_list() == ['{"valid":true,"speed_kmh":30.0,"satellites":9}'] * 3
    assert decoded.frame["ts"].to_list() == [str(1796612400000 + n) for n in range(3)]
    assert decoded.frame.select("part", "idx").rows() == [(0, 0), (0, 1), (0, 2)]
    same_frames(decoded.frame, as_read(bodies_of([fixes])).frame)


def test_non_finite_coordinates_are_null_as_in_the_rendering() -> None:
    fixes = [plain_fix(0, lat=math.nan, lon=math.inf), plain_fix(1, value=-math.inf)]

    frame = decode_bodies(bodies_of([fixes])).frame

    assert frame.select("lat", "lon", "value").rows() == [(None, None, None), (27.9, 120.6, None)]


def test_a_batch_of_bodies_and_decoded_events_keeps_part_order() -> None:
    body = b'{"id": "r1", "kind": "rfid_read", "ts": "2026-12-07T03:00:00Z", "subject": "E1"}'
    bodies = {
        0: events_body([plain_fix(0)], max_events=10),
        1: normalise_body(body, max_events=10, max_bytes=10_000),
        2: events_body([plain_fix(1, lat=True)], max_events=10),  # a slip: read as text
        3: events_body([plain_fix(2), plain_fix(3)], max_events=10),
    }

    frame = decode_bodies(bodies).frame

    assert frame.select("part", "idx", "id").rows() == [
        (0, 0, "gt06-1-0000"),
        (1, 0, "r1"),
        (3, 0, "gt06-1-0002"),
        (3, 1, "gt06-1-0003"),
    ]
