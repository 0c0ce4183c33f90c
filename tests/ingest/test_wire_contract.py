"""The v1 wire contract of docs/ingest.md as a third-party producer reads it: field types, the byte-order
mark, RFC 3339 times, the field each refusal names, and bodies refused whole (issue 9, items 15, 19, 20)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from safecity.ingest import IngestPipeline, IngestResult, Part
from safecity.ingest.models import DeadLetter, IngestBatch
from safecity.ingest.reconcile import reconcile
from tests.ingest.conftest import ListSink, ndjson, read

BOM = b"\xef\xbb\xbf"


def submit(pipeline: IngestPipeline, body: bytes) -> IngestResult:
    results, _ = pipeline.process([Part(body=body, device_id="BS-000001", source="http")])
    return results[0]


def raw_event(i: int, **fields: str) -> bytes:
    """A read with some fields written as raw JSON text (to send types json.dumps would not)."""
    event = read(i)
    text = json.dumps({k: v for k, v in event.items() if k not in fields})
    return (text[:-1] + "".join(f', "{k}": {v}' for k, v in fields.items()) + "}").encode()


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("true", "id"),
        ("false", "id"),
        ("1.5", "id"),
        ("-0.25", "id"),
        ("12345678", "subject"),
        ("1234567890123456", "subject"),
        ("true", "subject"),
        ("5", "code"),
        ('{"a": 1}', "code"),
        ("7", "corr"),
    ],
)
def test_a_value_of_a_type_the_contract_does_not_allow_is_refused_naming_its_field(
    pipeline: IngestPipeline, sink: ListSink, value: str, field: str
) -> None:
    """The columnar reader turns any scalar into text; the contract's types still hold."""
    result = submit(
        pipeline, b"\n".join([ndjson([read(0)]), raw_event(1, **{field: value}), ndjson([read(2)])])
    )

    assert (result.stored, result.dead_lettered) == (2, 1)
    [rejection] = result.rejected
    assert (rejection.index, rejection.field) == (1, field)
    assert sorted(sink.all["event_id"]) == ["e0", "e2"]


def test_integer_ids_and_string_subjects_that_look_like_numbers_are_accepted(
    pipeline: IngestPipeline, sink: ListSink
) -> None:
    body = b"\n".join(
        [
            raw_event(1, id="15"),
            raw_event(2, id="-3"),
            ndjson([read(3, subject="12345678"), read(4, id="1.5")]),
        ]
    )
    result = submit(pipeline, body)

    assert (result.stored, result.rejected) == (4, [])
    assert sorted(sink.all["event_id"]) == ["-3", "1.5", "15", "e3"]


def test_wrong_types_are_refused_in_every_body_of_a_coalesced_batch(
    pipeline: IngestPipeline, sink: ListSink
) -> None:
    """Several devices' messages share one columnar read (MQTT): each keeps its own refusals."""
    parts = [
        Part(body=ndjson([read(10 * p + i) for i in range(3)]), device_id="BS-000001", source="mqtt")
        for p in range(3)
    ]
    parts[1] = Part(
        body=b"\n".join([ndjson([read(11)]), raw_event(12, subject="87654321")]),
        device_id="BS-000001",
        source="mqtt",
    )
    results, _ = pipeline.process(parts)

    assert [r.stored for r in results] == [3, 1, 3]
    assert [(x.index, x.field) for x in results[1].rejected] == [(1, "subject")]


@pytest.mark.parametrize("shape", ["ndjson", "array"])
def test_a_body_starting_with_a_byte_order_mark_is_read(
    pipeline: IngestPipeline, sink: ListSink, shape: str
) -> None:
    events = [read(1), read(2)]
    body = ndjson(events) if shape == "ndjson" else json.dumps(events).encode()
    result = submit(pipeline, BOM + body)

    assert (result.error, result.stored) == (None, 2)


def test_a_longitude_off_the_globe_is_refused_naming_lon(pipeline: IngestPipeline) -> None:
    result = submit(
        pipeline, ndjson([read(1, lat=28.0, lon=181.0), read(2, lat=95.0, lon=120.0), read(3, lon=120.0)])
    )

    assert [(r.index, r.field) for r in result.rejected] == [(0, "lon"), (1, "lat"), (2, "lat")]
    assert "longitude 181" in result.rejected[0].reason
    assert "latitude 95" in result.rejected[1].reason


@pytest.mark.parametrize(
    "ts",
    [
        "2026-11-22t07:59:00.250z",
        "2026-11-22T07:59:00.250z",
        "2026-11-22t07:59:00.250Z",
        "2026-11-22t15:59:00.25+08:00",
    ],
)
def test_rfc_3339_times_with_a_lower_case_t_or_z_are_accepted(
    pipeline: IngestPipeline, sink: ListSink, ts: str
) -> None:
    """RFC 3339 (section 5.6, note) allows "t" and "z" as well as "T" and "Z"."""
    result = submit(pipeline, ndjson([read(1, ts=ts), read(2)]))

    assert (result.stored, result.rejected) == (2, [])
    assert sink.all["ts"].to_list() == [datetime(2026, 11, 22, 7, 59, 0, 250000, tzinfo=UTC)] * 2


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"id": "e1", "kind": "rfid_read", "ts": "2026-11-22T07:59:00Z", "subj', "not JSON"),
        (b'{"id": "e1"', "not JSON"),
        (b"{garbage\n{more garbage\n", "not JSON"),
        (
            '{"id": "e1", "kind": "plate_read", "ts": "2026-11-22T07:59:00Z", "subject": "浙C12345"}'.encode(
                "gbk"
            ),
            "UTF-8",
        ),
        (ndjson([read(1)]) + b"\n" + '{"id": "e2", "code": "浙"}'.encode("gb18030"), "UTF-8"),
        (b'[{"id": "e1", "code": "\xff"}]', "UTF-8"),
    ],
)
def test_a_body_that_cannot_be_read_as_a_whole_is_refused_whole_and_kept(
    pipeline: IngestPipeline, sink: ListSink, session_factory, body: bytes, says: str
) -> None:
    """docs/ingest.md: such a body gets a 400 and nothing of it is accepted (issue 9, item 19)."""
    result = submit(pipeline, body)

    assert result.error is not None and says in result.error
    assert (result.received, result.accepted, result.stored, result.rejected) == (0, 0, 0, [])
    assert sink.frames == []
    with session_factory() as s:
        [letter] = s.scalars(select(DeadLetter)).all()
        [batch] = s.scalars(select(IngestBatch)).all()
    assert (letter.idx, letter.field, letter.reason) == (-1, "body", result.error)
    assert batch.refused == 1
    assert reconcile(session_factory, sink).ok


def test_one_unreadable_body_among_coalesced_ones_is_the_only_one_refused(
    pipeline: IngestPipeline, sink: ListSink
) -> None:
    parts = [
        Part(body=ndjson([read(1)]), device_id="BS-000001", source="mqtt"),
        Part(body=b'{"id": "e2", "kind": "rfid_re', device_id="BS-000001", source="mqtt"),
        Part(body=ndjson([read(3)]), device_id="BS-000001", source="mqtt"),
    ]
    results, _ = pipeline.process(parts)

    assert [(r.stored, r.error is None) for r in results] == [(1, True), (0, False), (1, True)]


def test_a_cut_last_line_of_a_readable_body_is_one_event_refused(pipeline: IngestPipeline) -> None:
    """A body whose other lines are read is NDJSON: only the cut line is dead-lettered."""
    result = submit(pipeline, ndjson([read(1), read(2)]) + b'\n{"id": "e3", "kind": "rf')

    assert (result.error, result.stored, [r.index for r in result.rejected]) == (None, 2, [2])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tags=st.lists(st.tuples(st.integers(10_000_000, 10**16 - 1), st.booleans()), min_size=1, max_size=30),
    newline=st.sampled_from([b"\n", b"\r\n"]),
    trailing=st.booleans(),
)
def test_exactly_the_subjects_sent_as_numbers_are_refused(
    pipeline: IngestPipeline, tags: list[tuple[int, bool]], newline: bytes, trailing: bool
) -> None:
    """Digits sent as a string are a tag; the same digits sent as a number are refused, wherever
    they stand in the body and however its lines end."""
    lines = [
        raw_event(i, subject=str(tag) if as_number else f'"{tag}"') for i, (tag, as_number) in enumerate(tags)
    ]
    batch = pipeline.process(
        [
            Part(
                body=newline.join(lines) + (newline if trailing else b""),
                device_id="BS-000001",
                source="http",
            )
        ]
    )
    [result] = batch[0]

    assert [r.index for r in result.rejected] == [i for i, (_, as_number) in enumerate(tags) if as_number]
    assert {r.field for r in result.rejected} <= {"subject"}
    assert result.received == result.accepted + result.duplicates
