"""MQTT device adapter: QoS 1 device batches in, acknowledged only once the pipeline made them durable.

Devices publish v1 event batches (NDJSON or a JSON array) with QoS 1 to
`{prefix}/devices/{device_id}/events` and may listen on `{prefix}/devices/{device_id}/results`
for what was accepted and refused. The device id is taken from the topic, so the broker must
authenticate every device and pin it with an ACL to its own two topics; this adapter trusts the
topic as the identity.

paho runs the network loop in its own thread. `on_message` only hands the message to the
asyncio loop (`call_soon_threadsafe`), never waits; on the loop, messages are coalesced for at
most `linger_s` (or `max_batch_messages` / `max_batch_bytes`) into one `submit_parts` call, and
each message gets its PUBACK (`client.ack`) after that call returned. The session is persistent
(MQTT 5, clean_start=False, a fixed client id), so whatever was not acknowledged when the
process died is redelivered to the next session, and the pipeline drops the ids it already has.

A batch that fails while the lake or database is away is retried for as long as it takes. Any
other failure is blamed on a message: the batch is retried message by message, and a message
that fails alone three times is refused whole and kept as a dead letter (`refuse_parts`), then
acknowledged, so one poison message cannot hold up every device behind it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec
import paho.mqtt.client as mqtt
import sqlalchemy.exc
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import Counter, Histogram

from safecity.ingest.pipeline import IngestResult, Part, StorageUnavailable

log = structlog.get_logger(__name__)

MESSAGES = Counter("safecity_mqtt_messages", "MQTT messages by outcome", ["outcome"])
PIPELINE_FAILURES = Counter("safecity_mqtt_pipeline_failures", "submit_parts calls that raised (retried)")
BATCH_MESSAGES = Histogram(
    "safecity_mqtt_batch_messages",
    "MQTT messages per pipeline call",
    buckets=(1, 2, 5, 10, 50, 100, 500, 1000),
)

_STOP = object()


class PartsPipeline(Protocol):
    """The pipeline calls the adapter needs (IngestPipeline implements them)."""

    async def submit_parts(self, parts: list[Part]) -> list[IngestResult]:
        """Make the parts durable; one result per part, in order."""
        ...

    async def refuse_parts(self, parts: list[Part], reason: str) -> list[IngestResult]:
        """Keep parts as dead letters, refused whole with the reason; one result per part."""
        ...


# Failures that say nothing about the message: the lake or the database is away. Retried for
# as long as it takes, since acknowledging would lose the message.
TRANSIENT = (StorageUnavailable, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)
# Any other failure on a message alone, this many times in a row, makes it a poison message.
POISON_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Inbound:
    """One device message waiting for its batch."""

    device_id: str
    body: bytes
    mid: int
    qos: int
    session: int  # connection it arrived on: a PUBACK is only valid on that connection
    arrived_s: float  # time.monotonic()
    correlation: bytes | None  # MQTT 5 CorrelationData, echoed on the result


def device_of(topic: str, prefix: str) -> str | None:
    """The device id of an events topic `{prefix}/devices/{id}/events`, or None for any other shape."""
    head = f"{prefix}/devices/"
    if not topic.startswith(head) or not topic.endswith("/events"):
        return None
    device = topic[len(head) : -len("/events")]
    return device if device and "/" not in device else None


def result_json(result: IngestResult) -> bytes:
    """The JSON a device receives on its results topic."""
    return msgspec.json.encode(result)


class MqttIngest:
    """Subscribes to device event topics and feeds coalesced batches to the ingest pipeline."""

    name = "mqtt"  # as a platform worker

    def __init__(
        self,
        pipeline: PartsPipeline,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        url: str = "mqtt://127.0.0.1:1883",
        prefix: str = "safecity/v1",
        client_id: str = "safecity-ingest",
        session_expiry_s: int = 3600,
        receive_maximum: int = 1000,
        linger_s: float = 0.05,
        max_batch_messages: int = 500,
        max_batch_bytes: int = 8 << 20,
        connect_timeout_s: float = 10.0,
        keepalive_s: int = 30,
        retry_delay_s: float = 0.5,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            raise ValueError(f"expected mqtt://host:port or mqtts://host:port, got {url!r}")
        self._pipeline = pipeline
        self._loop = loop
        self.host = parts.hostname
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._tls = parts.scheme == "mqtts"
        self._username, self._password = parts.username, parts.password
        self.prefix = prefix.rstrip("/")
        self.client_id = client_id
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self.linger_s = linger_s
        self.max_batch_messages = max_batch_messages
        self.max_batch_bytes = max_batch_bytes
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self.retry_delay_s = retry_delay_s  # the first back-off after a failure; doubles to 10 s
        self._client: mqtt.Client | None = None
        self._queue: asyncio.Queue[Inbound | object] = asyncio.Queue()
        self._subscribed = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._session = 0
        self._accepting = False

    @property
    def events_filter(self) -> str:
        """The subscription: every device's events topic."""
        return f"{self.prefix}/devices/+/events"

    def results_topic(self, device_id: str) -> str:
        """Where a device's results are published."""
        return f"{self.prefix}/devices/{device_id}/results"

    async def start(self) -> None:
        """Connect, subscribe and start feeding the pipeline; raises TimeoutError if never subscribed."""
        self._loop = self._loop or asyncio.get_running_loop()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if self._tls:
            client.tls_set()
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum  # the broker's window of unacknowledged messages
        self._client = client
        self._accepting = True
        self._worker = self._loop.create_task(self._run())
        client.connect_async(
            self.host, self.port, keepalive=self.keepalive_s, clean_start=False, properties=props
        )
        client.loop_start()
        try:
            await asyncio.wait_for(self._subscribed.wait(), self.connect_timeout_s)
        except TimeoutError:
            await self.stop(drain_timeout_s=0)
            broker = f"{self.host}:{self.port}"
            raise TimeoutError(f"no MQTT subscription at {broker} after {self.connect_timeout_s} s") from None
        log.info("mqtt_ingest_started", broker=f"{self.host}:{self.port}", topic=self.events_filter)

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Finish the messages already received (up to drain_timeout_s), then disconnect.

        Anything not finished by then stays unacknowledged in the broker's session and comes
        back to the next start.
        """
        self._accepting = False
        if self._worker is not None:
            self._queue.put_nowait(_STOP)
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), drain_timeout_s)
            except TimeoutError:
                self._worker.cancel()
                await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        self._subscribed.clear()
        self._queue = asyncio.Queue()

    # paho's network thread: hand over and return at once.

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt_connect_refused", reason=str(reason))
            return
        self._session += 1
        log.info("mqtt_connected", session_present=flags.session_present, session=self._session)
        client.subscribe(self.events_filter, options=SubscribeOptions(qos=1))

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("mqtt_subscribe_refused", topic=self.events_filter, reasons=[str(r) for r in reasons])
            return
        self._call_in_loop(self._subscribed.set)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._accepting:
            log.warning("mqtt_disconnected", reason=str(reason))

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting:
            return  # stopping: left unacknowledged for the next session
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "<not UTF-8>"
        device = device_of(topic, self.prefix)
        if device is None:
            # E.g. a subscription left in the persistent session by an older prefix.
            MESSAGES.labels("unknown_topic").inc()
            log.warning("mqtt_unknown_topic", topic=topic, bytes=len(msg.payload))
            client.ack(msg.mid, msg.qos)
            return
        props = msg.properties
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        item = Inbound(
            device, bytes(msg.payload), msg.mid, msg.qos, self._session, time.monotonic(), correlation
        )
        MESSAGES.labels("received").inc()
        self._call_in_loop(self._queue.put_nowait, item)

    def _call_in_loop(self, func: Any, *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(func, *args)
        except RuntimeError:
            log.warning("mqtt_loop_closed")  # shutting down; the broker redelivers

    # The asyncio loop: coalesce, submit, acknowledge.

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = await self._next_batch()
            if not batch:
                continue
            try:
                await self._handle(batch)
            except Exception:
                # Never let one bad batch end the intake; its messages stay unacknowledged.
                log.exception("mqtt_batch_failed", messages=len(batch))

    async def _next_batch(self) -> tuple[list[Inbound], bool]:
        first = await self._queue.get()
        if first is _STOP:
            return [], True
        assert isinstance(first, Inbound)
        batch, size = [first], len(first.body)
        # The window opens when the first message arrived, not when the previous batch ended.
        deadline = asyncio.get_running_loop().time() + max(
            0.0, first.arrived_s + self.linger_s - time.monotonic()
        )
        try:
            async with asyncio.timeout_at(deadline):
                while len(batch) < self.max_batch_messages and size < self.max_batch_bytes:
                    item = await self._queue.get()
                    if item is _STOP:
                        return batch, True
                    assert isinstance(item, Inbound)
                    batch.append(item)
                    size += len(item.body)
        except TimeoutError:
            pass
        return batch, False

    async def _handle(self, batch: list[Inbound]) -> None:
        parts = [Part(body=m.body, device_id=m.device_id, source="mqtt") for m in batch]
        BATCH_MESSAGES.observe(len(batch))
        delay_s, failures = self.retry_delay_s, 0
        while True:
            try:
                results = await self._pipeline.submit_parts(parts)
                if len(results) != len(parts):
                    raise RuntimeError(f"{len(results)} results for {len(parts)} parts")
                break
            except TRANSIENT as exc:
                # Nothing is acknowledged: keep the messages and try again (the broker's receive
                # window holds new ones back meanwhile).
                PIPELINE_FAILURES.inc()
                log.error("mqtt_pipeline_failed", messages=len(batch), error=repr(exc), retry_in_s=delay_s)
            except Exception as exc:
                PIPELINE_FAILURES.inc()
                failures += 1
                if len(batch) > 1:
                    # One message may be at fault: each is tried alone, so the others go through.
                    log.error("mqtt_batch_failed_isolating", messages=len(batch), error=repr(exc))
                    for message in batch:
                        await self._handle([message])
                    return
                if failures >= POISON_ATTEMPTS:
                    refused = await self._refuse(batch, parts, exc)
                    if refused is not None:
                        results = refused
                        break
                log.error("mqtt_message_failed", device=batch[0].device_id, error=repr(exc), attempt=failures)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, max(10.0, self.retry_delay_s))
        self._acknowledge(batch, results)

    async def _refuse(
        self, batch: list[Inbound], parts: list[Part], exc: Exception
    ) -> list[IngestResult] | None:
        """Dead-letter a poison message so that it can be acknowledged; None if that failed too."""
        reason = (
            f"the platform failed on this message {POISON_ATTEMPTS} times ({type(exc).__name__}); "
            "it is kept as a dead letter for an operator"
        )
        try:
            results = await self._pipeline.refuse_parts(parts, reason)
        except Exception as again:
            log.error("mqtt_dead_letter_failed", device=batch[0].device_id, error=repr(again))
            return None
        MESSAGES.labels("poison").inc()
        log.error(
            "mqtt_message_dead_lettered", device=batch[0].device_id, error=repr(exc), bytes=len(parts[0].body)
        )
        return results

    def _acknowledge(self, batch: list[Inbound], results: list[IngestResult]) -> None:
        client = self._client
        if client is None:
            return
        for msg, result in zip(batch, results, strict=True):
            if msg.session == self._session:
                client.ack(msg.mid, msg.qos)
                MESSAGES.labels("acked").inc()
            else:
                # The connection dropped since: this mid may now name another message, and the
                # broker resends this one anyway (the pipeline will see its ids as duplicates).
                MESSAGES.labels("ack_skipped").inc()
            props = None
            if msg.correlation is not None:
                props = Properties(PacketTypes.PUBLISH)
                props.CorrelationData = msg.correlation
            client.publish(self.results_topic(msg.device_id), result_json(result), qos=0, properties=props)
