"""A 503 means nothing was stored, and a retry never stores an event twice (issue 9, item 9)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.ingest import IngestPipeline, Part, StorageUnavailable
from safecity.ingest.models import BatchStatus, IngestBatch
from safecity.ingest.reconcile import reconcile
from safecity.lake import Lake
from safecity.lake.layout import partition_path
from tests.conftest import T0
from tests.ingest.conftest import ndjson, read


@pytest.fixture
def sink(lake: Lake) -> Lake:
    """The pipeline of tests/ingest/conftest.py writes to a real lake."""
    return lake


def forty() -> bytes:
    """20 tag reads and 20 heartbeats: two partitions of one day."""
    reads = [read(i) for i in range(20)]
    beats = [read(100 + i, kind="heartbeat", subject=None) for i in range(20)]
    return ndjson(reads + beats)


def send(pipeline: IngestPipeline, body: bytes):
    [result], _ = pipeline.process([Part(body=body, device_id="BS-000001", source="http")])
    return result


def test_a_batch_refused_for_one_unwritable_partition_stores_nothing_and_its_retry_stores_it_once(
    pipeline: IngestPipeline, lake: Lake, session_factory: sessionmaker[Session]
) -> None:
    # Today's heartbeat folder cannot be written (a file stands where it should be; root too).
    blocked = partition_path(lake.root, T0.date(), "heartbeat")
    blocked.parent.mkdir(parents=True)
    blocked.write_bytes(b"")

    with pytest.raises(StorageUnavailable):
        send(pipeline, forty())
    assert lake.count() == 0
    assert reconcile(session_factory, lake).ok

    blocked.unlink()
    retry = send(pipeline, forty())

    assert (retry.stored, retry.duplicates) == (40, 0)
    ids = (
        lake.scan(start=T0.replace(hour=0), end=T0.replace(hour=23)).select("event_id").collect()["event_id"]
    )
    assert (ids.len(), ids.n_unique()) == (40, 40)
    result = reconcile(session_factory, lake)
    assert result.ok, result.as_dict()
    with session_factory() as s:
        statuses = sorted(b.status for b in s.scalars(select(IngestBatch)))
    assert statuses == [BatchStatus.FAILED, BatchStatus.STORED]


class Crash(BaseException):
    """The process dying inside the ledger commit: the lake cannot tell whether it committed."""


def stage_and_crash(pipeline: IngestPipeline, lake: Lake, body: bytes) -> str:
    """Prepare a batch and stage it in the lake, dying in the commit; return its batch id."""
    prepared = pipeline.prepare([Part(body=body, device_id="BS-000001", source="http")])

    def die() -> None:
        raise Crash

    with pytest.raises(Crash):
        lake.append(prepared.records, batch=prepared.batch_id, commit=die)
    return prepared.batch_id


def test_batches_a_crash_left_staged_are_published_or_removed_as_the_ledger_says(
    pipeline: IngestPipeline, lake: Lake, session_factory: sessionmaker[Session]
) -> None:
    committed = stage_and_crash(pipeline, lake, forty())
    lost = stage_and_crash(pipeline, lake, ndjson([read(200 + i) for i in range(5)]))
    with session_factory() as s, s.begin():  # only the first one's ledger entry was committed
        s.add(
            IngestBatch(
                id=committed,
                source="http",
                device_id="BS-000001",
                parts=1,
                refused=0,
                received_at=T0,
                status=BatchStatus.STORED,
                received=40,
                duplicates=0,
                accepted=40,
                stored=40,
                dead_lettered=0,
                error=None,
            )
        )
    assert lake.count() == 0

    report = pipeline.recover()

    assert (report.published, report.discarded) == ([committed], [lost])
    assert lake.count() == 40
    assert reconcile(session_factory, lake).ok


async def test_a_request_cancelled_while_its_batch_waits_is_still_stored_once(
    pipeline: IngestPipeline, lake: Lake
) -> None:
    """A caller that gives up (a client gone, a shutdown) must not leave its ids taken but unstored:
    the device's retry would then be counted a duplicate and its events lost."""
    part = Part(body=forty(), device_id="BS-000001", source="http")
    async with pipeline._commit_lock:  # another batch is being written
        waiting = asyncio.create_task(pipeline.submit_parts([part]))
        await asyncio.sleep(0.5)  # prepared: its ids are taken
        waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.5)

    [retry] = await pipeline.submit_parts([part])

    assert retry.stored + retry.duplicates == 40
    assert lake.count() == 40
