"""Events an adapter decoded itself (DecodedPart): the same checks, dead letters, ledger and ids as a body."""

from __future__ import annotations

import json

import msgspec
from sqlalchemy import select

from safecity.core.record import WireEvent
from safecity.ingest import DecodedPart, IngestPipeline, Part
from safecity.ingest.models import DeadLetter, IngestBatch
from safecity.ingest.reconcile import reconcile
from tests.ingest.conftest import ListSink, ndjson, read

TS = "2026-11-22T07:59:00Z"


def fix(n: int, **over: object) -> WireEvent:
    """A tracker fix as a binary-protocol adapter would decode it: no device, the adapter knows it."""
    event = WireEvent(
        id=f"TRK-0001:{n}", kind="tracker_fix", ts=TS, subject="TRK-0001", lat=27.99, lon=120.69
    )
    return msgspec.structs.replace(event, **over)


def decoded(*events: WireEvent, device: str | None = "TRK-0001") -> DecodedPart:
    return DecodedPart(events=list(events), device_id=device, source="gt06")


def test_a_bad_field_is_dead_lettered_with_its_reason_and_the_good_events_stored(
    pipeline: IngestPipeline, sink: ListSink, session_factory
) -> None:
    good = fix(1, attrs={"battery_pct": 80})
    bad = fix(2, lat=95.0)

    [result], _ = pipeline.process([decoded(good, bad)])

    assert (result.received, result.stored, result.dead_lettered) == (2, 1, 1)
    [rejection] = result.rejected
    assert (rejection.index, rejection.event_id, rejection.field) == (1, "TRK-0001:2", "lat")
    assert "not on the globe" in rejection.reason
    [row] = sink.all.select("event_id", "device", "source", "attrs").rows()
    assert row[:3] == ("TRK-0001:1", "TRK-0001", "gt06")  # the device is the adapter's
    assert json.loads(row[3]) == {"battery_pct": 80}
    with session_factory() as s:
        [letter] = s.scalars(select(DeadLetter)).all()
        [batch] = s.scalars(select(IngestBatch)).all()
    # The raw text of a decoded event is its JSON rendering.
    assert msgspec.json.decode(letter.raw, type=WireEvent) == bad
    assert (letter.field, letter.device_id, letter.reason) == ("lat", "TRK-0001", rejection.reason)
    assert (batch.source, batch.device_id, batch.accepted, batch.stored) == ("gt06", "TRK-0001", 2, 1)
    assert reconcile(session_factory, sink).ok


def test_a_field_of_the_wrong_type_is_explained_like_a_bad_body(
    pipeline: IngestPipeline, sink: ListSink
) -> None:
    # msgspec does not check types when a struct is built: a decoder's slip reaches the pipeline.
    [result], _ = pipeline.process([decoded(fix(1), fix(2, lat="north"), fix(3))])

    assert (result.stored, [(r.index, r.field) for r in result.rejected]) == (2, [(1, "lat")])
    assert "got `str`" in result.rejected[0].reason
    assert sorted(sink.all["event_id"]) == ["TRK-0001:1", "TRK-0001:3"]


def test_a_number_where_text_belongs_is_refused_though_decoded_bodies_skip_the_type_recheck(
    pipeline: IngestPipeline, sink: ListSink
) -> None:
    # Rendered as JSON, 12345 would read back as the text "12345": the pipeline must still see it.
    typed = decoded(fix(1), fix(2))
    slipped = decoded(fix(3), fix(4, subject=12345))

    [ok, wrong], _ = pipeline.process([typed, slipped])

    assert (ok.stored, ok.rejected) == (2, [])
    assert (wrong.stored, [(r.index, r.field) for r in wrong.rejected]) == (1, [(1, "subject")])
    assert sorted(sink.all["event_id"]) == ["TRK-0001:1", "TRK-0001:2", "TRK-0001:3"]


def test_an_event_naming_another_device_is_refused(pipeline: IngestPipeline) -> None:
    [result], _ = pipeline.process([decoded(fix(1, device="BS-000001"))])

    assert result.rejected[0].field == "device"
    assert "does not match the authenticated device 'TRK-0001'" in result.rejected[0].reason


def test_a_decoded_event_sent_again_is_a_duplicate_also_after_a_body(
    pipeline: IngestPipeline, sink: ListSink
) -> None:
    body = Part(body=ndjson([read(1)]), device_id="BS-000001", source="http")
    first, _ = pipeline.process([body, decoded(fix(1), fix(2))])
    again, _ = pipeline.process(
        [decoded(fix(2), fix(3)), Part(body=ndjson([read(1)]), device_id="BS-000001", source="http")]
    )

    assert [(r.stored, r.duplicates) for r in first] == [(1, 0), (2, 0)]
    assert [(r.stored, r.duplicates) for r in again] == [(1, 1), (0, 1)]
    assert sink.all.height == 4


def test_too_many_decoded_events_are_refused_whole_and_kept(
    pipeline: IngestPipeline, sink: ListSink, session_factory
) -> None:
    [result], _ = pipeline.process([decoded(*(fix(i) for i in range(1001)))])

    assert result.error is not None and "at most 1000" in result.error
    assert sink.frames == []
    with session_factory() as s:
        [letter] = s.scalars(select(DeadLetter)).all()
    assert (letter.idx, letter.field) == (-1, "body")
    assert msgspec.json.decode(letter.raw.splitlines()[0], type=WireEvent) == fix(0)
    assert reconcile(session_factory, sink).ok


async def test_a_decoded_part_refused_whole_keeps_its_events_as_ndjson(
    pipeline: IngestPipeline, sink: ListSink, session_factory
) -> None:
    """What an adapter does with a poison message, for decoded events too."""
    part = decoded(fix(1), fix(2))

    [result] = await pipeline.refuse_parts([part], "it broke")

    assert (result.error, result.accepted) == ("it broke", 0)
    with session_factory() as s:
        [letter] = s.scalars(select(DeadLetter)).all()
    assert [msgspec.json.decode(line, type=WireEvent) for line in letter.raw.splitlines()] == [fix(1), fix(2)]
    assert reconcile(session_factory, sink).ok


async def test_an_empty_decoded_part_is_an_empty_batch(pipeline: IngestPipeline, sink: ListSink) -> None:
    [result] = await pipeline.submit_parts([decoded()])

    assert (result.error, result.received, result.accepted) == (None, 0, 0)
    assert sink.frames == []
