"""Faults under HTTP load: the server killed, its lake made read-only, one partition unwritable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.faults.harness import HttpDevices, Server, assert_each_stored_once, ndjson, readings
from tests.storage_faults import read_only_mount

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

BATCHES = 20  # per station: 4 x 20 x 100 = 8,000 events


def through_http_load(server: Server, secrets: dict[str, str], fault: Callable[[HttpDevices], None]) -> None:
    """Start the server and the stations' uploads, apply the fault once a third is acknowledged, wait
    for every batch to be acknowledged, and check that each event is stored once."""
    server.start()
    devices = HttpDevices(server, secrets, BATCHES)
    threads = devices.start()
    devices.wait_for(len(secrets) * BATCHES // 3)
    fault(devices)
    for thread in threads:
        thread.join()

    assert devices.unexpected == []
    assert devices.acknowledged == len(secrets) * BATCHES
    assert_each_stored_once(server, devices.sent)


def test_kill_9_under_http_load_loses_nothing_and_stores_nothing_twice(
    server: Server, secrets: dict[str, str]
) -> None:
    def kill_and_restart(_: HttpDevices) -> None:
        server.kill()  # mid-batch: some staged, some committed, some answered but not yet read
        server.start()

    through_http_load(server, secrets, kill_and_restart)


def test_storage_turning_read_only_mid_run_is_answered_503_and_every_retry_is_stored_once(
    server: Server, secrets: dict[str, str]
) -> None:
    def lake_read_only_for_a_while(devices: HttpDevices) -> None:
        with read_only_mount(server.data_dir / "lake"):
            devices.wait_for_refusals(2 * len(secrets))  # stations meet the read-only disk, and retry

    through_http_load(server, secrets, lake_read_only_for_a_while)


def test_a_batch_with_one_unwritable_partition_is_refused_whole_and_its_retry_stored_once(
    server: Server, secrets: dict[str, str]
) -> None:
    """The tester's case: today's heartbeat folder unwritable, 20 tag reads and 20 heartbeats."""
    server.start()
    device, secret = next(iter(secrets.items()))
    at = datetime.now(UTC) - timedelta(seconds=30)
    post = lambda body: httpx.post(  # noqa: E731
        f"{server.url}/api/v1/ingest", content=body, auth=(device, secret), timeout=15
    )
    first = readings(device, "seed", 1000, 5, at=at)  # creates today's heartbeat folder
    assert post(ndjson(first)).status_code == 200
    reads = [e for e in readings(device, "b", 0, 25, at=at) if e["kind"] == "rfid_read"]
    beats = [{"id": f"{device}-hb-{n}", "kind": "heartbeat", "ts": at.isoformat()} for n in range(20)]
    batch = ndjson(reads + beats)
    partition = server.data_dir / "lake" / "records" / f"date={at.date().isoformat()}" / "kind=heartbeat"

    with read_only_mount(partition):
        refused = post(batch)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "storage_unavailable"
        assert len(server.stored_ids()) == len(first)  # nothing of the batch became visible
        server.reconcile()
    retry = post(batch)

    assert retry.status_code == 200, retry.text
    assert (retry.json()["stored"], retry.json()["duplicates"]) == (40, 0)
    assert_each_stored_once(server, {e["id"] for e in first + reads + beats})
