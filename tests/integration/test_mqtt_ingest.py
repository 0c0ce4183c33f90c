"""MqttAdapter against the real Mosquitto broker at 127.0.0.1:1883."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import polars as pl
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.conftest import T0
from tests.servicecheck import require_service

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.ingest import Deduplicator, DeviceDirectory, IngestLimits, IngestPipeline
from safecity.ingest.adapters import DeviceLinks, DeviceUnreachable, Intake
from safecity.ingest.adapters.mqtt import POISON_ATTEMPTS, MqttAdapter
from safecity.ingest.models import DeadLetter
from safecity.ingest.pipeline import IngestResult, Part, Rejection, StorageUnavailable
from safecity.lake import Recovery
from safecity.platform import Platform
from safecity.security.pseudonym import Pseudonymizer
from safecity.settings import Settings

pytestmark = pytest.mark.integration

HOST, PORT = "127.0.0.1", 1883


class FakePipeline:
    """Records the parts of every call; with hold=True each call waits until `release` is set."""

    def __init__(self, *, hold: bool = False) -> None:
        self.calls: list[list[Part]] = []
        self.refused: list[tuple[Part, str]] = []
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    @property
    def parts(self) -> list[Part]:
        """Every part received so far, in order."""
        return [part for call in self.calls for part in call]

    async def submit_parts(self, parts: list[Part]) -> list[IngestResult]:
        """Answer each NDJSON body: lines containing "bad" are rejected on field ts."""
        self.calls.append(parts)
        await self.release.wait()
        results = []
        for n, part in enumerate(parts):
            lines = [line for line in part.body.splitlines() if line.strip()]
            bad = [
                Rejection(i, None, "ts", "bad timestamp") for i, line in enumerate(lines) if b"bad" in line
            ]
            ok = len(lines) - len(bad)
            results.append(IngestResult(f"b{len(self.calls)}-{n}", len(lines), ok, ok, 0, 0, bad))
        return results

    async def refuse_parts(self, parts: list[Part], reason: str) -> list[IngestResult]:
        """Record the refusal."""
        self.refused.extend((part, reason) for part in parts)
        return [IngestResult(f"r{len(self.refused)}", error=reason) for _ in parts]


@dataclass
class Broker:
    """A topic prefix and an ingest client id of this test alone."""

    prefix: str
    client_id: str

    def events(self, device: str) -> str:
        """A device's events topic."""
        return f"{self.prefix}/devices/{device}/events"

    def ingest(self, pipeline: Intake, **options: Any) -> MqttAdapter:
        """An adapter on this test's prefix with a persistent session under this test's client id."""
        options = {"session_expiry_s": 60, "connect_timeout_s": 5.0, **options}
        return MqttAdapter(
            pipeline,
            asyncio.get_running_loop(),
            url=f"mqtt://{HOST}:{PORT}",
            prefix=self.prefix,
            client_id=self.client_id,
            **options,
        )


class DeviceClient:
    """A field device: publishes with QoS 1 and collects what it receives."""

    def __init__(self) -> None:
        self.received: list[mqtt.MQTTMessage] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.on_message = lambda _c, _u, msg: self.received.append(msg)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect(HOST, PORT)
        self.client.loop_start()

    async def listen(self, topic_filter: str) -> None:
        """Subscribe and wait for the broker's SUBACK."""
        self.client.subscribe(topic_filter, qos=1)
        assert await asyncio.to_thread(self._subscribed.wait, 5)

    async def publish(self, topic: str, body: bytes, correlation: bytes | None = None) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK."""
        props = None
        if correlation is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation
        info = self.client.publish(topic, body, qos=1, properties=props)
        await asyncio.to_thread(info.wait_for_publish, 5)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def purge_session(client_id: str) -> None:
    """Delete the broker's persistent session of a client id (clean start, no expiry)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect(HOST, PORT, clean_start=True)
    client.disconnect()


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    """A fresh prefix and ingest client id; the persistent session is removed afterwards."""
    require_service(HOST, PORT, "Mosquitto MQTT")
    run = uuid.uuid4().hex[:12]
    yield Broker(prefix=f"test{run}/v1", client_id=f"safecity-test-{run}")
    purge_session(f"safecity-test-{run}")


@pytest.fixture
async def device() -> AsyncIterator[DeviceClient]:
    """A connected device client."""
    require_service(HOST, PORT, "Mosquitto MQTT")
    client = DeviceClient()
    yield client
    client.close()


def unknown_topic_count() -> float:
    """How many messages the adapter acknowledged for an unknown topic shape, process-wide."""
    value = REGISTRY.get_sample_value("safecity_mqtt_messages_total", {"outcome": "unknown_topic"})
    return value or 0.0


async def next_session(broker: Broker, device: DeviceClient, body: bytes) -> FakePipeline:
    """A new adapter session on the same persistent session: publish one message and return its
    pipeline once something arrived (whatever an earlier session left unacknowledged comes too)."""
    later = FakePipeline()
    second = broker.ingest(later)
    await second.start()
    await device.publish(broker.events("st-1"), body)
    await eventually(lambda: later.parts)
    await second.stop()
    return later


async def eventually(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    """Wait until condition() is truthy, failing after timeout_s."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


async def test_device_batches_reach_the_pipeline_with_the_device_from_the_topic(
    broker: Broker, device: DeviceClient
) -> None:
    pipeline = FakePipeline()
    ingest = broker.ingest(pipeline)
    await ingest.start()

    await device.publish(broker.events("st-1"), b'{"id":"a"}\n{"id":"b"}\n')
    await device.publish(broker.events("st-2"), b'[{"id":"c"}]')
    await eventually(lambda: len(pipeline.parts) == 2)
    await ingest.stop()

    assert [(p.device_id, p.source, p.body) for p in pipeline.parts] == [
        ("st-1", "mqtt", b'{"id":"a"}\n{"id":"b"}\n'),
        ("st-2", "mqtt", b'[{"id":"c"}]'),
    ]


async def test_messages_within_the_linger_window_make_one_pipeline_call(
    broker: Broker, device: DeviceClient
) -> None:
    pipeline = FakePipeline()
    ingest = broker.ingest(pipeline, linger_s=1.0)
    await ingest.start()

    for i in range(4):
        await device.publish(broker.events(f"st-{i}"), b'{"id":"x"}')
    await eventually(lambda: len(pipeline.parts) == 4)
    await ingest.stop()

    assert [len(call) for call in pipeline.calls] == [4]


async def test_a_full_batch_is_submitted_without_waiting_for_the_window(
    broker: Broker, device: DeviceClient
) -> None:
    pipeline = FakePipeline()
    ingest = broker.ingest(pipeline, linger_s=30.0, max_batch_messages=2)
    await ingest.start()

    for i in range(4):
        await device.publish(broker.events(f"st-{i}"), b'{"id":"x"}')
    await eventually(lambda: len(pipeline.parts) == 4, timeout_s=3.0)
    await ingest.stop()

    assert [len(call) for call in pipeline.calls] == [2, 2]


async def test_unacknowledged_message_is_redelivered_when_the_subscriber_dies(
    broker: Broker, device: DeviceClient
) -> None:
    held = FakePipeline(hold=True)
    first = broker.ingest(held)
    await first.start()
    await device.publish(broker.events("st-1"), b'{"id":"e1"}')
    await eventually(lambda: held.parts)

    await first.stop(drain_timeout_s=0)  # dies while the pipeline still holds the batch

    pipeline = FakePipeline()
    second = broker.ingest(pipeline)
    await second.start()
    await eventually(lambda: pipeline.parts)
    await second.stop()
    assert [(p.device_id, p.body) for p in pipeline.parts] == [("st-1", b'{"id":"e1"}')]


async def test_acknowledged_message_is_not_redelivered_after_restart(
    broker: Broker, device: DeviceClient
) -> None:
    pipeline = FakePipeline()
    first = broker.ingest(pipeline)
    await first.start()
    await device.publish(broker.events("st-1"), b'{"id":"e1"}')
    await eventually(lambda: pipeline.parts)
    await first.stop()

    later = await next_session(broker, device, b'{"id":"e2"}')

    assert [p.body for p in later.parts] == [b'{"id":"e2"}']


async def test_batch_is_retried_until_the_pipeline_stores_it(broker: Broker, device: DeviceClient) -> None:
    class FlakyPipeline(FakePipeline):
        async def submit_parts(self, parts: list[Part]) -> list[IngestResult]:
            if not self.calls:
                self.calls.append(parts)
                raise StorageUnavailable("lake is full")
            return await super().submit_parts(parts)

    flaky = FlakyPipeline()
    first = broker.ingest(flaky)
    await first.start()
    await device.publish(broker.events("st-1"), b'{"id":"e1"}')
    await eventually(lambda: len(flaky.calls) == 2)
    await first.stop()

    later = await next_session(broker, device, b'{"id":"e2"}')

    assert [p.body for p in flaky.parts] == [b'{"id":"e1"}', b'{"id":"e1"}']
    assert [p.body for p in later.parts] == [b'{"id":"e2"}']


async def test_a_poison_message_is_dead_lettered_and_acknowledged_and_the_others_go_through(
    broker: Broker, device: DeviceClient
) -> None:
    """A message the pipeline fails on (a bug, not an outage) must not hold up the intake."""

    class Buggy(FakePipeline):
        async def submit_parts(self, parts: list[Part]) -> list[IngestResult]:
            if any(b"poison" in p.body for p in parts):
                self.calls.append(parts)
                raise ValueError("a bug this message triggers")
            return await super().submit_parts(parts)

    buggy = Buggy()
    first = broker.ingest(buggy, linger_s=0.3, retry_delay_s=0.01)
    await first.start()
    for body in (b'{"id":"e1"}', b'{"id":"poison"}', b'{"id":"e2"}'):
        await device.publish(broker.events("st-1"), body)
    await eventually(lambda: buggy.refused and len(buggy.parts) >= 5)
    await first.stop()

    stored = [call[0].body for call in buggy.calls if len(call) == 1 and b"poison" not in call[0].body]
    assert sorted(stored) == [b'{"id":"e1"}', b'{"id":"e2"}']
    assert [(p.body, p.device_id) for p, _ in buggy.refused] == [(b'{"id":"poison"}', "st-1")]
    assert "kept as a dead letter" in buggy.refused[0][1]
    # Tried in the batch, then alone three times before it was refused.
    assert sum(1 for call in buggy.calls for p in call if b"poison" in p.body) == 1 + POISON_ATTEMPTS

    # Everything was acknowledged: nothing comes back to the next session.
    later = await next_session(broker, device, b'{"id":"e3"}')
    assert [p.body for p in later.parts] == [b'{"id":"e3"}']


async def test_a_refused_message_s_result_names_no_server_path(broker: Broker, device: DeviceClient) -> None:
    """What the device reads on its results topic never carries an exception's text (issue 9, 14)."""

    class Failing(FakePipeline):
        async def submit_parts(self, parts: list[Part]) -> list[IngestResult]:
            self.calls.append(parts)
            raise OSError(28, "No space left on device", "/srv/safecity/lake/records/.tmp-01J.parquet")

    ingest = broker.ingest(Failing(), retry_delay_s=0.01)
    await ingest.start()
    await device.listen(f"{broker.prefix}/devices/st-8/results")
    await device.publish(broker.events("st-8"), b'{"id":"e1"}')
    await eventually(lambda: device.received)
    await ingest.stop()

    result = msgspec.json.decode(device.received[0].payload)
    assert result["error"] and "dead letter" in result["error"]
    assert "/srv/safecity" not in device.received[0].payload.decode()
    assert "No space" not in result["error"]


async def test_unknown_topic_shape_is_acknowledged_and_not_submitted(
    broker: Broker, device: DeviceClient
) -> None:
    unknown_before = unknown_topic_count()
    pipeline = FakePipeline()
    first = broker.ingest(pipeline)
    await first.start()
    await device.publish(f"{broker.prefix}/devices//events", b'{"id":"nobody"}')
    await device.publish(broker.events("st-1"), b'{"id":"e1"}')
    await eventually(lambda: pipeline.parts)
    await first.stop()

    later = await next_session(broker, device, b'{"id":"e2"}')

    assert [p.body for p in pipeline.parts + later.parts] == [b'{"id":"e1"}', b'{"id":"e2"}']
    assert unknown_topic_count() == unknown_before + 1


async def test_result_is_published_to_the_device_results_topic(broker: Broker, device: DeviceClient) -> None:
    ingest = broker.ingest(FakePipeline())
    await ingest.start()
    await device.listen(f"{broker.prefix}/devices/st-7/results")

    await device.publish(broker.events("st-7"), b'{"id":"ok"}\n{"id":"bad"}\n', correlation=b"req-42")
    await eventually(lambda: device.received)
    await ingest.stop()

    [msg] = device.received
    result = msgspec.json.decode(msg.payload)
    assert msg.topic == f"{broker.prefix}/devices/st-7/results"
    assert (result["received"], result["accepted"], result["error"]) == (2, 1, None)
    assert result["rejected"] == [{"index": 1, "event_id": None, "field": "ts", "reason": "bad timestamp"}]
    assert getattr(msg.properties, "CorrelationData", None) == b"req-42"


def real_pipeline(
    session_factory: sessionmaker[Session], clock: ManualClock, pseudonymizer: Pseudonymizer, sink: Any
) -> IngestPipeline:
    """The platform's ingest pipeline over this test's database, writing to `sink`."""
    return IngestPipeline(
        session_factory=session_factory,
        devices=DeviceDirectory(session_factory, h3_resolution=9),
        sink=sink,
        dedup=Deduplicator(
            load=lambda day: pl.Series([], dtype=pl.String), max_age_s=86400, future_skew_s=300
        ),
        limits=IngestLimits(
            max_event_age_s=86400,
            max_future_skew_s=300,
            max_batch_events=1000,
            max_body_bytes=1 << 20,
            h3_resolution=9,
            bbox=None,
        ),
        clock=clock,
        pseudonymizer=pseudonymizer,
    )


async def test_events_flow_through_the_real_pipeline_and_are_acknowledged(
    broker: Broker,
    device: DeviceClient,
    session_factory: sessionmaker[Session],
    clock: ManualClock,
    pseudonymizer: Pseudonymizer,
) -> None:
    with session_factory() as session, session.begin():
        registry.create_device(
            session,
            device_id="st-e2e",
            kind="rfid_station",
            name="gate",
            lat=28.0,
            lon=120.6,
            area_id=None,
            now=clock.now(),
        )
    stored: list[pl.DataFrame] = []

    class ListSink:
        def append(self, records: pl.DataFrame, *, batch: str, commit: Callable[[], None]) -> int:
            commit()
            stored.append(records)
            return records.height

        def recover(self, committed: Callable[[list[str]], set[str]]) -> Recovery:
            return Recovery()

    pipeline = real_pipeline(session_factory, clock, pseudonymizer, ListSink())
    ingest = broker.ingest(pipeline)
    await ingest.start()
    await device.listen(f"{broker.prefix}/devices/st-e2e/results")
    ts = clock.now().isoformat()
    body = (
        f'{{"id":"hb-1","kind":"heartbeat","device":"st-e2e","ts":"{ts}"}}\n'
        '{"id":"hb-2","kind":"heartbeat","device":"st-e2e","ts":"yesterday"}\n'
    ).encode()

    await device.publish(broker.events("st-e2e"), body)
    await eventually(lambda: device.received)
    await ingest.stop()

    result = msgspec.json.decode(device.received[0].payload)
    assert (result["received"], result["stored"], result["dead_lettered"]) == (2, 1, 1)
    assert result["rejected"][0]["field"] == "ts"
    records = pl.concat(stored)
    assert records.select("event_id", "device", "source").rows() == [("hb-1", "st-e2e", "mqtt")]
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(DeadLetter)) == 1


async def test_an_unreadable_message_is_refused_whole_on_the_results_topic_and_kept(
    broker: Broker,
    device: DeviceClient,
    session_factory: sessionmaker[Session],
    clock: ManualClock,
    pseudonymizer: Pseudonymizer,
) -> None:
    """The MQTT form of HTTP's 400 (issue 9, item 19): an error on the results topic, nothing
    accepted, the body kept as a dead letter, the message acknowledged."""
    pipeline = real_pipeline(session_factory, clock, pseudonymizer, FailingSink())
    ingest = broker.ingest(pipeline)
    await ingest.start()
    await device.listen(f"{broker.prefix}/devices/st-cut/results")
    body = b'{"id":"e1","kind":"heartbeat","ts":"2026-11-22T07:59:00Z'

    await device.publish(broker.events("st-cut"), body)
    await eventually(lambda: device.received)
    await ingest.stop()

    result = msgspec.json.decode(device.received[0].payload)
    assert "not JSON" in result["error"]
    assert (result["received"], result["accepted"], result["rejected"]) == (0, 0, [])
    with session_factory() as session:
        [letter] = session.scalars(select(DeadLetter)).all()
    assert (letter.idx, letter.field, letter.device_id, letter.raw) == (-1, "body", "st-cut", body.decode())
    later = await next_session(broker, device, b'{"id":"e2"}')  # acknowledged: not redelivered
    assert [p.body for p in later.parts] == [b'{"id":"e2"}']


class FailingSink:
    """A lake that must not be written to."""

    def append(self, records: pl.DataFrame, *, batch: str, commit: Callable[[], None]) -> int:
        raise AssertionError(f"nothing of an unreadable body may be stored: {records.height} rows")

    def recover(self, committed: Callable[[list[str]], set[str]]) -> Recovery:
        return Recovery()


class Whitelist(msgspec.Struct, tag_field="type", tag="whitelist"):
    """A message to a device as a capability would define it (door controllers: the cards let in)."""

    cards: list[str]


async def test_a_message_sent_to_a_device_arrives_on_its_commands_topic(
    broker: Broker, device: DeviceClient
) -> None:
    links = DeviceLinks()
    adapter = broker.ingest(FakePipeline(), links=links)
    await adapter.start()
    await device.listen(f"{broker.prefix}/devices/door-3/commands")

    link = await links.send("door-3", Whitelist(cards=["0123456789", "ABCDEF0123"]))
    await eventually(lambda: device.received)
    await adapter.stop()

    [msg] = device.received
    assert link == "mqtt" and msg.topic == f"{broker.prefix}/devices/door-3/commands" and msg.qos == 1
    assert msgspec.json.decode(msg.payload) == {"type": "whitelist", "cards": ["0123456789", "ABCDEF0123"]}
    assert links.links == ()  # a stopped adapter reaches no one


async def test_a_message_nobody_subscribes_to_is_unreachable(broker: Broker) -> None:
    adapter = broker.ingest(FakePipeline())
    await adapter.start()
    try:
        with pytest.raises(DeviceUnreachable, match="no device session subscribes"):
            await adapter.send("door-nobody", Whitelist(cards=[]))
    finally:
        await adapter.stop()
    with pytest.raises(DeviceUnreachable, match="not running"):
        await adapter.send("door-nobody", Whitelist(cards=[]))


async def test_a_device_with_a_persistent_session_gets_what_was_sent_while_it_was_away(
    broker: Broker,
) -> None:
    topic = f"{broker.prefix}/devices/door-9/commands"
    client_id = f"{broker.client_id}-door-9"
    away = persistent_client(client_id)
    subscribed = threading.Event()
    away.on_subscribe = lambda *_: subscribed.set()
    away.loop_start()
    away.subscribe(topic, qos=1)
    assert await asyncio.to_thread(subscribed.wait, 5)
    away.disconnect()
    away.loop_stop()
    adapter = broker.ingest(FakePipeline())
    await adapter.start()

    try:
        await adapter.send("door-9", Whitelist(cards=["0123456789"]))
    finally:
        await adapter.stop()
    back = persistent_client(client_id)
    received: list[mqtt.MQTTMessage] = []
    back.on_message = lambda _c, _u, msg: received.append(msg)
    back.loop_start()
    try:
        await eventually(lambda: received)
    finally:
        back.disconnect()
        back.loop_stop()
        purge_session(client_id)
    assert msgspec.json.decode(received[0].payload) == {"type": "whitelist", "cards": ["0123456789"]}


def persistent_client(client_id: str) -> mqtt.Client:
    """A device connected with a persistent session (MQTT 5, no clean start, kept for a minute)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 60
    client.connect(HOST, PORT, clean_start=False, properties=props)
    return client


async def test_the_platform_starts_the_adapter_from_the_ingest_capability_and_messages_devices_through_it(
    broker: Broker, device: DeviceClient, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        mqtt_url=f"mqtt://{HOST}:{PORT}",
        mqtt_topic_prefix=broker.prefix,
        mqtt_client_id=broker.client_id,
    )
    platform = Platform.build(settings, clock=ManualClock(T0))
    with platform.session_factory() as session, session.begin():
        registry.create_device(
            session,
            device_id="BS-3",
            kind="rfid_station",
            name="gate",
            lat=28.0,
            lon=120.6,
            area_id=None,
            now=T0,
        )
    await device.listen(f"{broker.prefix}/devices/BS-3/#")  # its own events come back too
    await platform.start()
    try:
        assert "mqtt" in [w.name for w in platform._running]
        await device.publish(
            broker.events("BS-3"), b'{"id":"hb-1","kind":"heartbeat","ts":"2026-11-22T07:59:00Z"}'
        )
        await eventually(lambda: heard(device, "results"))
        assert await platform.device_links.send("BS-3", Whitelist(cards=["0123456789"])) == "mqtt"
        await eventually(lambda: heard(device, "commands"))
    finally:
        await platform.stop()

    [result], [command] = heard(device, "results"), heard(device, "commands")
    assert result.topic.endswith("/BS-3/results") and msgspec.json.decode(result.payload)["stored"] == 1
    assert command.topic.endswith("/BS-3/commands")
    assert platform.lake.count() == 1
    assert platform.device_links.links == ()


def heard(device: DeviceClient, topic_kind: str) -> list[mqtt.MQTTMessage]:
    """What the device received on one of its topics (results, commands)."""
    return [m for m in device.received if m.topic.endswith(f"/{topic_kind}")]
