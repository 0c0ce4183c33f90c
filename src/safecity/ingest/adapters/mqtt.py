"""MQTT device adapter: QoS 1 device batches in, acknowledged only once the pipeline made them durable.

Devices publish v1 event batches (NDJSON or a JSON array) with QoS 1 to
`{prefix}/devices/{device_id}/events` and may listen on `{prefix}/devices/{device_id}/results`
for what was accepted and refused. The device id is taken from the topic, so the broker must
authenticate every device and pin it with an ACL to its own topics; this adapter trusts the
topic as the identity.

It is also a `DeviceLink`: a message the platform sends a device (a whitelist, a command) is
published as JSON with QoS 1 to `{prefix}/devices/{device_id}/commands`, and `send` returns once
the broker acknowledged it to a subscriber's session (a device that subscribes with a persistent
session receives what was sent while it was away; with no subscriber, `send` says so).

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
from typing import Any
from urllib.parse import urlsplit

import msgspec
import paho.mqtt.client as mqtt
import sqlalchemy.exc
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import Counter, Histogram

from safecity.ingest.adapters.base import DeviceUnreachable, Intake
from safecity.ingest.adapters.link import DeviceLinks
from safecity.ingest.pipeline import IngestResult, Part, StorageUnavailable

log = structlog.get_logger(__name__)

MESSAGES = Counter("safecity_mqtt_messages", "MQTT messages by outcome", ["outcome"])
PIPELINE_FAILURES = Counter("safecity_mqtt_pipeline_failures", "submit_parts calls that raised (retried)")
BATCH_MESSAGES = Histogram(
    "safecity_mqtt_batch_messages",
    "MQTT messages per pipeline call",
    buckets=(1, 2, 5, 10, 50, 100, 500, 1000),
)
COMMANDS = Counter("safecity_mqtt_commands", "Messages sent to devices by outcome", ["outcome"])

_STOP = object()
SOURCE = "mqtt"
NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT 5 PUBACK reason: accepted, but nobody will receive it
_MESSAGE = msgspec.json.Encoder()

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


def is_topic_segment(device_id: str) -> bool:
    """Whether a device id can stand as one topic level (no separator or wildcard)."""
    return bool(device_id) and not any(c in device_id for c in "/+#\x00")


class MqttAdapter:
    """Feeds device event topics to the pipeline in coalesced batches; sends devices messages."""

    name = "mqtt"  # as a platform worker and as a device link

    def __init__(
        self,
        pipeline: Intake,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        links: DeviceLinks | None = None,
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
        send_timeout_s: float = 10.0,
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
        self.send_timeout_s = send_timeout_s
        self._links = links
        # Messages sent to devices and not yet acknowledged by the broker, by MQTT message id; the
        # broker's answers are handed to the loop only while one waits (not for every result).
        self._sending: dict[int, asyncio.Future[None]] = {}
        self._awaiting = 0
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

    def commands_topic(self, device_id: str) -> str:
        """Where messages the platform sends a device are published."""
        return f"{self.prefix}/devices/{device_id}/commands"

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
        client.on_publish = self._on_publish
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
        if self._links is not None:
            self._links.add(self)
        log.info("mqtt_ingest_started", broker=f"{self.host}:{self.port}", topic=self.events_filter)

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Finish the messages already received (up to drain_timeout_s), then disconnect.

        Anything not finished by then stays unacknowledged in the broker's session and comes
        back to the next start.
        """
        self._accepting = False
        if self._links is not None:
            self._links.remove(self)
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
        for waiting in self._sending.values():
            if not waiting.done():
                waiting.set_exception(
                    DeviceUnreachable("the MQTT adapter stopped before the broker acknowledged")
                )
        self._sending.clear()
        self._subscribed.clear()
        self._queue = asyncio.Queue()

    # Messages to devices (DeviceLink).

    def reaches(self, device_id: str) -> bool:
        """Any device while connected: the broker delivers to its session, or `send` reports none."""
        return self._client is not None and self._accepting and is_topic_segment(device_id)

    async def send(self, device_id: str, message: msgspec.Struct) -> None:
        """Publish a message to the device's commands topic (QoS 1); return once the broker acknowledged it.

        Raises DeviceUnreachable if the adapter is not running, the device id cannot be a topic
        level, the broker refused the message or no session subscribes to the topic, and
        TimeoutError if the broker has not answered within `send_timeout_s` (paho keeps the
        message and sends it again after a reconnection).
        """
        client = self._client
        if client is None or not self._accepting:
            raise DeviceUnreachable("the MQTT adapter is not running")
        if not is_topic_segment(device_id):
            raise DeviceUnreachable(f"device id {device_id!r} cannot be an MQTT topic level")
        payload = _MESSAGE.encode(message)
        self._awaiting += 1  # before publishing: from now on the broker's answers reach the loop
        try:
            info = client.publish(self.commands_topic(device_id), payload, qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: sent on reconnection
                COMMANDS.labels("failed").inc()
                raise DeviceUnreachable(
                    f"the MQTT client did not take the message: {mqtt.error_string(info.rc)}"
                )
            # Registered before `_published` can run for this id: it runs on the loop, after this.
            acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._sending[info.mid] = acked
            try:
                await asyncio.wait_for(acked, self.send_timeout_s)
            except TimeoutError:
                COMMANDS.labels("timeout").inc()
                raise
            finally:
                if self._sending.get(info.mid) is acked:
                    del self._sending[info.mid]
        finally:
            self._awaiting -= 1
        COMMANDS.labels("sent").inc()

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

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        # Called for every publish, the QoS 0 results too; only a waiting send needs to hear.
        if self._awaiting:
            self._call_in_loop(self._published, mid, reason.value, str(reason))

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

    def _published(self, mid: int, code: int, reason: str) -> None:
        acked = self._sending.pop(mid, None)
        if acked is None or acked.done():
            return
        if code >= 0x80:
            COMMANDS.labels("refused").inc()
            acked.set_exception(DeviceUnreachable(f"the broker refused the message: {reason}"))
        elif code == NO_MATCHING_SUBSCRIBERS:
            COMMANDS.labels("no_subscriber").inc()
            acked.set_exception(DeviceUnreachable("no device session subscribes to its commands topic"))
        else:
            acked.set_result(None)

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
        parts = [Part(body=m.body, device_id=m.device_id, source=SOURCE) for m in batch]
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
        if self._links is not None:
            for device in {m.device_id for m in batch}:
                self._links.heard(device, self)
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
