"""NatsBus against the real NATS JetStream server at 127.0.0.1:4222."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.servicecheck import require_service

from safecity.bus.base import Delivery, Subscription
from safecity.bus.nats import ARROW_STREAM, CHUNK_HEADER, CONTENT_TYPE, DELIVERY_COUNT_HEADER, JSON, NatsBus
from safecity.core.record import RECORD_SCHEMA

pytestmark = pytest.mark.integration

NATS_URL = "nats://127.0.0.1:4222"
BusFactory = Callable[..., Awaitable[NatsBus]]


@pytest.fixture
async def make_bus() -> AsyncIterator[BusFactory]:
    """Start buses on a stream and subject prefix of their own; delete the stream afterwards."""
    require_service("127.0.0.1", 4222, "NATS")
    run = uuid.uuid4().hex[:12]
    buses: list[NatsBus] = []

    async def factory(**options: Any) -> NatsBus:
        options = {"fetch_timeout_s": 0.5, **options}
        bus = NatsBus(NATS_URL, stream=f"TEST_{run}", subject_prefix=f"test{run}", **options)
        await bus.start()
        buses.append(bus)
        return bus

    yield factory
    cleaner = NatsBus(NATS_URL, stream=f"TEST_{run}", subject_prefix=f"test{run}")
    await cleaner.start()
    await cleaner.delete_stream()
    await cleaner.close()
    for bus in buses:
        await bus.close()


def record_frame(n: int, *, attrs_bytes: int = 0) -> pl.DataFrame:
    """A record batch with nulls, non-ASCII text, ms UTC times and UInt64 cells above 2**63."""
    t0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    attrs = [os.urandom(attrs_bytes // 2).hex() if attrs_bytes else None for _ in range(n)]
    return pl.DataFrame(
        {
            "event_id": [f"01JEV{i:021d}" for i in range(n)],
            "corr_id": [None if i % 2 else f"c{i}" for i in range(n)],
            "kind": ["rfid_read"] * n,
            "subject_kind": ["tag"] * n,
            "subject": [f"TAG{i % 7:06d}" for i in range(n)],
            "device": ["温州-station-1"] * n,
            "ts": [t0 + timedelta(milliseconds=137 * i) for i in range(n)],
            "lat": [28.0 + i / 1e4 for i in range(n)],
            "lon": [120.6] * n,
            "cell": [2**63 + i for i in range(n)],
            "area": ["lucheng-01"] * n,
            "code": [None] * n,
            "value": [None if i % 3 else float(i) for i in range(n)],
            "attrs": attrs,
            "source": ["mqtt"] * n,
            "received_at": [t0] * n,
        },
        schema=RECORD_SCHEMA,
    )


def frame_of(delivery: Delivery) -> pl.DataFrame:
    """The record batch a delivery carries."""
    assert isinstance(delivery.payload, pl.DataFrame)
    return delivery.payload


async def take(sub: Subscription, n: int, timeout_s: float = 10.0) -> list[Delivery]:
    """Collect the next n deliveries of a subscription (failing after timeout_s)."""
    out: list[Delivery] = []

    async def collect() -> None:
        async for delivery in sub:
            out.append(delivery)
            if len(out) >= n:
                return

    await asyncio.wait_for(collect(), timeout_s)
    return out


async def test_record_frame_round_trips_with_exact_dtypes(make_bus: BusFactory) -> None:
    bus = await make_bus()
    sub = bus.subscribe("records", group="rules")
    frame = record_frame(500)

    await bus.publish("records", frame, {"batch": "b-1"})

    [got] = await take(sub, 1)
    await got.ack()
    assert frame_of(got).schema == pl.Schema(RECORD_SCHEMA)
    assert frame_of(got).equals(frame)
    assert got.topic == "records"
    assert got.headers[CONTENT_TYPE] == ARROW_STREAM
    assert got.headers["batch"] == "b-1"


async def test_dict_notice_round_trips_as_json(make_bus: BusFactory) -> None:
    bus = await make_bus()
    sub = bus.subscribe("alerts", group="push")
    notice = {
        "type": "AlertRaised",
        "alert_id": "A1",
        "score": 0.75,
        "tags": ["stolen", "ebike"],
        "area": None,
    }

    await bus.publish("alerts", notice)

    [got] = await take(sub, 1)
    await got.ack()
    assert got.payload == notice
    assert got.headers[CONTENT_TYPE] == JSON


async def test_two_groups_each_receive_every_message(make_bus: BusFactory) -> None:
    bus = await make_bus()
    rules, lake = bus.subscribe("records", group="rules"), bus.subscribe("records", group="lake")

    for i in range(5):
        await bus.publish("registry", {"seq": i})
        await bus.publish("records", record_frame(3 + i))

    for sub in (rules, lake):
        got = await take(sub, 5)
        for delivery in got:
            await delivery.ack()
        assert [frame_of(d).height for d in got] == [3, 4, 5, 6, 7]


async def test_new_group_sees_only_messages_published_after_it_joined(make_bus: BusFactory) -> None:
    bus = await make_bus()
    await bus.publish("alerts", {"seq": "before"})
    sub = bus.subscribe("alerts", group="late")
    await bus.publish("alerts", {"seq": "after"})

    [got] = await take(sub, 1)
    assert got.payload == {"seq": "after"}


async def test_unacked_message_is_redelivered_after_subscriber_restart(make_bus: BusFactory) -> None:
    first = await make_bus(ack_wait_s=1.0)
    sub = first.subscribe("records", group="rules")
    await first.publish("records", record_frame(4))
    [unacked] = await take(sub, 1)
    assert unacked.headers[DELIVERY_COUNT_HEADER] == "1"
    await first.close()  # the worker dies before acknowledging

    second = await make_bus(ack_wait_s=1.0)
    [again] = await take(second.subscribe("records", group="rules"), 1)
    await again.ack()

    assert again.headers[DELIVERY_COUNT_HEADER] == "2"
    assert frame_of(again).equals(frame_of(unacked))


async def test_acked_message_is_not_redelivered_after_restart(make_bus: BusFactory) -> None:
    first = await make_bus(ack_wait_s=1.0)
    sub = first.subscribe("alerts", group="push")
    await first.publish("alerts", {"seq": 1})
    [got] = await take(sub, 1)
    await got.ack()
    await first.close()

    second = await make_bus(ack_wait_s=1.0)
    resumed = second.subscribe("alerts", group="push")
    await second.publish("alerts", {"seq": 2})
    [next_one] = await take(resumed, 1)

    assert next_one.payload == {"seq": 2}


async def test_frame_bigger_than_max_payload_is_split_and_fully_delivered(make_bus: BusFactory) -> None:
    bus = await make_bus()
    sub = bus.subscribe("records", group="lake")
    # Random hex attrs compress to about half, so the encoded batch is about 3 times max_payload.
    frame = record_frame(3 * bus.max_payload // 1000, attrs_bytes=2000)

    await bus.publish("records", frame)

    chunks: list[Delivery] = []

    async def collect_all_slices() -> None:
        async for delivery in sub:
            chunks.append(delivery)
            if len(chunks) == int(chunks[0].headers[CHUNK_HEADER].split("/")[1]):
                return

    await asyncio.wait_for(collect_all_slices(), 20)
    n = len(chunks)
    assert n >= 3
    assert [c.headers[CHUNK_HEADER] for c in chunks] == [f"{i}/{n}" for i in range(1, n + 1)]
    joined = pl.concat([frame_of(c) for c in chunks])
    assert joined.schema == pl.Schema(RECORD_SCHEMA)
    assert joined.equals(frame)


async def test_closing_a_subscription_ends_its_iteration(make_bus: BusFactory) -> None:
    bus = await make_bus()
    sub = bus.subscribe("alerts", group="push")
    waiting = asyncio.create_task(take(sub, 1))
    await asyncio.sleep(0.2)

    await sub.close()

    assert await asyncio.wait_for(waiting, 3) == []


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_port(port: int, *, is_open: bool, timeout_s: float = 5.0) -> None:
    """Wait until 127.0.0.1:port accepts (or refuses) connections."""
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                if is_open:
                    return
            except OSError:
                if not is_open:
                    return
            await asyncio.sleep(0.05)


async def test_bus_reconnects_and_keeps_delivering_after_a_server_restart(tmp_path: Path) -> None:
    server = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(server).exists():
        message = "nats-server is not installed, so a private server cannot be restarted"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    port = free_port()
    cmd = [server, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"nats://127.0.0.1:{port}"
    bus = NatsBus(
        url,
        stream="RESTART",
        subject_prefix="restart",
        fetch_timeout_s=0.5,
        publish_timeout_s=1.0,
        publish_attempts=5,
    )
    try:
        await wait_for_port(port, is_open=True)
        await bus.start()
        sub = bus.subscribe("alerts", group="push")
        await bus.publish("alerts", {"n": 1})
        [first] = await take(sub, 1)
        await first.ack()

        proc.terminate()
        proc.wait()
        await wait_for_port(port, is_open=False)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await bus.publish("alerts", {"n": 2})  # retried through the reconnect

        [second] = await take(sub, 1)
        assert second.payload == {"n": 2}
    finally:
        await bus.close()
        proc.terminate()
        proc.wait()
