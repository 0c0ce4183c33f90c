"""The ingest pipeline: what is stored, what is refused and why, idempotency and the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from safecity.ingest import IngestPipeline, Part, StorageUnavailable
from safecity.ingest.models import BatchStatus, DeadLetter, IngestBatch
from safecity.ingest.reconcile import reconcile
from tests.ingest.conftest import ListSink, ndjson, read


def submit(pipeline: IngestPipeline, body: bytes, device: str | None = "BS-000001"):
    results, _ = pipeline.process([Part(body=body, device_id=device, source="http")])
    return results[0]


def test_valid_reads_are_stored_with_the_station_position(pipeline: IngestPipeline, sink: ListSink) -> None:
    result = submit(pipeline, ndjson([read(1), read(2, subject="ABCDEF0123")]))
    assert (result.received, result.stored, result.dead_lettered, result.rejected) == (2, 2, 0, [])
    rows = sink.all.sort("event_id")
    assert rows["device"].to_list() == ["BS-000001", "BS-000001"]
    assert rows["lat"].to_list() == [28.0, 28.0]
    assert rows["cell"].null_count() == 0
    assert rows["ts"][0] == datetime(2026, 11, 22, 7, 59, 0, 250000, tzinfo=UTC)
    assert rows["corr_id"].to_list() == ["e1", "e2"]  # a raw reading correlates to itself


def test_json_array_and_ndjson_are_equivalent(pipeline: IngestPipeline, sink: ListSink) -> None:
    submit(pipeline, json.dumps([read(1), read(2)]).encode())
    submit(pipeline, ndjson([read(3), read(4)]) + b"\n\n")
    assert sink.all.height == 4


@pytest.mark.parametrize(
    ("event", "field", "fragment"),
    [
        (read(1, kind="bogus"), "kind", "unknown kind 'bogus'"),
        (read(1, subject="xyz"), "subject", "not 8 to 16 upper-case hexadecimal"),
        (read(1, subject=None), "subject", "needs a subject"),
        (read(1, ts="yesterday"), "ts", "neither RFC 3339"),
        (read(1, ts="2026-11-22T07:59:00"), "ts", "neither RFC 3339"),  # no timezone: never guessed
        (read(1, ts="2026-11-01T00:00:00Z"), "ts", "older than the 7 day limit"),
        (read(1, ts="2026-11-22T09:00:00Z"), "ts", "in the future"),
        (read(1, lat=95.0, lon=120.0), "lat", "not on the globe"),
        (read(1, lat=28.0), "lon", "given together"),  # the one missing
        (read(1, device="BS-999999"), "device", "does not match the authenticated device"),
        (read(1, v=2), "v", "unsupported schema version 2"),
        (read(1, id="has space"), "id", "event id"),
        (read(1, lat="north", lon=120.0), "lat", "got `str`"),
        (read(1, attrs=[1, 2]), "attrs", "attrs must be an object"),
    ],
)
def test_bad_events_are_refused_naming_the_field(
    pipeline: IngestPipeline, event: dict, field: str, fragment: str
) -> None:
    result = submit(pipeline, ndjson([read(0), event]))
    assert result.stored == 1
    [rejection] = result.rejected
    assert (rejection.index, rejection.field) == (1, field)
    assert fragment in rejection.reason
    assert rejection.event_id == event["id"]


def test_malformed_line_is_dead_lettered_and_the_rest_stored(
    pipeline: IngestPipeline, session_factory
) -> None:
    body = ndjson([read(1)]) + b'\n{"id": "e2", "kind": \n' + ndjson([read(3)])
    result = submit(pipeline, body)
    assert (result.stored, result.dead_lettered) == (2, 1)
    assert result.rejected[0].index == 1 and "malformed JSON" in result.rejected[0].reason
    with session_factory() as s:
        [letter] = s.scalars(select(DeadLetter)).all()
    assert letter.raw == '{"id": "e2", "kind":'  # the line as sent, without surrounding blanks
    assert letter.batch_id == result.batch_id


def test_tracker_fix_needs_coordinates_and_gets_a_cell(pipeline: IngestPipeline, sink: ListSink) -> None:
    fix = {"id": "f1", "kind": "tracker_fix", "ts": "2026-11-22T07:58:00+08:00", "subject": "TRK-0001"}
    result = submit(
        pipeline, ndjson([fix, {**fix, "id": "f2", "lat": 27.99, "lon": 120.69}]), device="TRK-0001"
    )
    assert result.rejected[0].field == "lat" and result.stored == 1
    assert sink.all["cell"].null_count() == 0


def test_unknown_device_in_replay_is_refused(pipeline: IngestPipeline) -> None:
    result = submit(pipeline, ndjson([read(1, device="BS-424242"), read(2)]), device=None)
    assert [r.field for r in result.rejected] == ["device", "device"]
    assert "unknown device 'BS-424242'" in result.rejected[0].reason
    assert "the device is missing" in result.rejected[1].reason


def test_resending_a_batch_stores_nothing_twice(pipeline: IngestPipeline, sink: ListSink) -> None:
    body = ndjson([read(1), read(2), read(2)])
    first = submit(pipeline, body)
    again = submit(pipeline, body)
    assert (first.stored, first.duplicates) == (2, 1)
    assert (again.stored, again.duplicates, again.accepted) == (0, 3, 0)
    assert sink.all.height == 2


def test_oversized_batch_is_refused_whole(pipeline: IngestPipeline, sink: ListSink) -> None:
    result = submit(pipeline, ndjson([read(i) for i in range(1001)]))
    assert result.error is not None and "at most 1000" in result.error
    assert sink.frames == []


@pytest.mark.parametrize("body", [b"", b"hello", b"[1, 2", b"   ", b"{" + b" " * 100_000 + b"}"])
def test_unreadable_bodies_are_refused_kept_and_reconciled(
    pipeline: IngestPipeline, sink: ListSink, session_factory, body: bytes
) -> None:
    result = submit(pipeline, body)
    assert result.error and result.accepted == 0
    with session_factory() as s:
        [letter] = s.scalars(select(DeadLetter)).all()
    assert (letter.idx, letter.field, letter.reason) == (-1, "body", result.error)
    assert len(letter.raw) <= 64 * 1024
    assert reconcile(session_factory, sink).ok


async def test_a_part_refused_whole_is_kept_as_a_dead_letter_and_reconciles(
    pipeline: IngestPipeline, sink: ListSink, session_factory
) -> None:
    """What the MQTT adapter does with a poison message: refuse it, keep it, account for it."""
    body = ndjson([read(1), read(2)])
    [result] = await pipeline.refuse_parts(
        [Part(body=body, device_id="BS-000001", source="mqtt")], "it broke"
    )
    assert (result.error, result.accepted, result.stored) == ("it broke", 0, 0)
    with session_factory() as s:
        [letter] = s.scalars(select(DeadLetter)).all()
        [batch] = s.scalars(select(IngestBatch)).all()
    assert (letter.idx, letter.field, letter.reason, letter.device_id) == (
        -1,
        "body",
        "it broke",
        "BS-000001",
    )
    assert letter.raw.encode() == body
    assert (batch.status, batch.refused, batch.source) == (BatchStatus.STORED, 1, "mqtt")
    assert sink.frames == []
    assert reconcile(session_factory, sink).ok


def test_lake_failure_accepts_nothing_and_a_retry_succeeds(
    pipeline: IngestPipeline, sink: ListSink, session_factory
) -> None:
    sink.fail = True
    with pytest.raises(StorageUnavailable):
        submit(pipeline, ndjson([read(1), read(2, kind="bogus")]))
    sink.fail = False
    retry = submit(pipeline, ndjson([read(1), read(2, kind="bogus")]))
    assert retry.stored == 1  # not mistaken for a duplicate of the failed attempt
    with session_factory() as s:
        statuses = sorted(b.status for b in s.scalars(select(IngestBatch)))
    assert statuses == [BatchStatus.FAILED, BatchStatus.STORED]
    assert reconcile(session_factory, sink).ok


events = st.one_of(
    st.builds(lambda i: read(i), st.integers(0, 40)),
    st.builds(lambda i: read(i, kind="nope"), st.integers(0, 40)),
    st.builds(lambda i: read(i, subject="bad"), st.integers(0, 40)),
    st.builds(lambda i: read(i, ts="2026-11-22T07:59:00"), st.integers(0, 40)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(events, max_size=12), min_size=1, max_size=5))
def test_counts_always_reconcile(pipeline: IngestPipeline, sink: ListSink, session_factory, batches) -> None:
    for batch in batches:
        result = submit(pipeline, ndjson(batch) if batch else b"[]")
        assert result.received == result.accepted + result.duplicates
        assert result.accepted == result.stored + result.dead_lettered
    assert reconcile(session_factory, sink).ok


def test_epoch_milliseconds_and_offsets_are_the_same_instant(
    pipeline: IngestPipeline, sink: ListSink
) -> None:
    millis = int(datetime(2026, 11, 22, 7, 59, 0, 250000, tzinfo=UTC).timestamp() * 1000)
    result = submit(pipeline, ndjson([read(1, ts=millis), read(2, ts="2026-11-22T15:59:00.25+08:00")]))
    assert result.stored == 2
    assert sink.all["ts"].n_unique() == 1


def test_a_bad_line_in_a_body_ending_with_a_newline_is_the_only_rejection(pipeline: IngestPipeline) -> None:
    result = submit(pipeline, ndjson([read(1), read(2, lat="x", lon=1.0), read(3)]) + b"\n")
    assert (result.received, result.stored, [r.index for r in result.rejected]) == (3, 2, [1])


def test_unknown_device_ids_do_not_reload_the_registry_each_time(session_factory, secrets_) -> None:
    from safecity.ingest import DeviceDirectory

    directory = DeviceDirectory(session_factory, h3_resolution=9)
    assert directory.authenticate("BS-000001", secrets_["BS-000001"]).ok
    loaded_at = directory._loaded_at
    for n in range(50):
        assert not directory.authenticate(f"BS-9{n:05d}", "guess").ok
    assert directory._loaded_at == loaded_at  # no reload within MIN_RELOAD_S


@pytest.mark.parametrize(
    "attrs",
    [
        {"note": 'said "help"', "path": "C:\\temp"},
        {'a"b': "line one\nline two\ttab", "é": "\u0001"},
        {"nested": {"q": '"', "list": ["\\", {"k": "\n"}]}, "n": 30.0},
    ],
)
def test_attrs_with_escaped_text_are_stored_as_the_json_sent(
    pipeline: IngestPipeline, sink: ListSink, attrs: dict
) -> None:
    # The columnar reader writes an object back as text without escaping its strings again.
    body = ndjson([read(1), read(2, attrs=attrs), read(3, attrs={"rssi": -61})]) + b"\n"

    result = submit(pipeline, body)

    assert (result.stored, result.rejected) == (3, [])
    stored = dict(sink.all.select("event_id", "attrs").rows())
    assert json.loads(stored["e2"]) == attrs
    assert json.loads(stored["e3"]) == {"rssi": -61}
    assert stored["e1"] is None
