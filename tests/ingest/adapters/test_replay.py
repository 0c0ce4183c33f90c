"""The replay adapter: a recorded file in batches, every event naming its device, totals that add up."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from safecity.ingest import IngestPipeline
from safecity.ingest.adapters.replay import ReplayTotals, replay
from safecity.ingest.reconcile import reconcile
from tests.ingest.conftest import ListSink, ndjson, read


def test_a_file_is_replayed_in_batches_through_validation_and_dead_letters(
    pipeline: IngestPipeline, sink: ListSink, session_factory, tmp_path: Path
) -> None:
    events = [read(i, device="BS-000001") for i in range(30)]
    events += [read(30, device="BS-424242"), read(31), read(0, device="BS-000001")]
    path = tmp_path / "recording.ndjson"
    path.write_bytes(ndjson(events) + b"\n")

    totals = ReplayTotals()
    with path.open("rb") as fh:
        batches = list(replay(pipeline, fh, batch_events=5))
    for batch in batches:
        totals.add(batch.result)

    assert len(batches) > 1
    assert sum(b.bytes_read for b in batches) == path.stat().st_size
    assert asdict(totals) == {"received": 33, "stored": 30, "dead_lettered": 2, "duplicates": 1}
    assert set(sink.all["source"]) == {"replay"}
    assert reconcile(session_factory, sink).ok
