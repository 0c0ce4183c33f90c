"""The NATS bus codec: Arrow frames, JSON notices and splitting to fit max_payload (no server needed)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.bus.nats import ARROW_STREAM, JSON, consumer_name, decode_frame, decode_payload, split_frame
from safecity.core.record import RECORD_SCHEMA


def records(n: int, attrs_bytes: int) -> pl.DataFrame:
    """A record batch whose attrs column is incompressible text of attrs_bytes per row."""
    t0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    return pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "kind": ["door_swipe"] * n,
            "ts": [t0 + timedelta(seconds=i) for i in range(n)],
            "cell": [2**64 - 1 - i for i in range(n)],
            "attrs": [os.urandom(attrs_bytes // 2).hex() for _ in range(n)],
        },
        schema={k: v for k, v in RECORD_SCHEMA.items() if k in {"event_id", "kind", "ts", "cell", "attrs"}},
    )


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(0, 300), attrs_bytes=st.integers(0, 400), max_kib=st.integers(4, 64))
def test_split_slices_fit_and_rejoin_to_the_original(rows: int, attrs_bytes: int, max_kib: int) -> None:
    frame = records(rows, attrs_bytes)

    slices = split_frame(frame, max_kib * 1024)

    assert all(len(s) <= max_kib * 1024 for s in slices)
    joined = pl.concat([decode_frame(s) for s in slices])
    assert joined.schema == frame.schema
    assert joined.equals(frame)


def test_frame_that_fits_is_not_split() -> None:
    assert len(split_frame(records(10, 10), 1 << 20)) == 1


def test_single_record_bigger_than_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="one record"):
        split_frame(records(1, 20_000), 4096)


def test_payload_decoded_by_content_type() -> None:
    [body] = split_frame(records(2, 0), 1 << 20)

    assert isinstance(decode_payload(body, ARROW_STREAM), pl.DataFrame)
    assert decode_payload(b'{"a": [1, 2]}', JSON) == {"a": [1, 2]}
    assert decode_payload(b'{"a": 1}', None) == {"a": 1}


def test_json_notice_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="object"):
        decode_payload(b"[1, 2]", JSON)


def test_consumer_name_is_per_group_and_topic_without_dots() -> None:
    assert consumer_name("records", "rules") != consumer_name("alerts", "rules")
    assert "." not in consumer_name("records.v2", "rules")
