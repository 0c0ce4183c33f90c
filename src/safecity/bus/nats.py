"""NATS JetStream backbone: durable fan-out of record batches and notices between processes.

One stream (default "SAFECITY") holds every subject under the prefix ("safecity.>") for a
bounded time and size. Each subscriber group is a durable pull consumer, so a restarted worker
resumes where its group stopped and anything it fetched but did not acknowledge comes back
after `ack_wait_s`. Record batches travel as Arrow IPC streams, notices as JSON; a batch larger
than the server's max_payload is cut into row slices that each fit, and every slice arrives as
its own batch.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec
import nats
import nats.errors
import nats.js.errors
import polars as pl
import pyarrow as pa
import structlog
from nats.aio.msg import Msg
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from prometheus_client import Counter

from safecity.bus.base import Delivery, Payload
from safecity.core import events
from safecity.core.events import EVENT_JSON, Event
from safecity.core.record import new_id

log = structlog.get_logger(__name__)

CONTENT_TYPE = "content-type"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
JSON = "application/json"
BATCH_HEADER = "safecity-batch"  # shared by the slices of one split frame
CHUNK_HEADER = "safecity-chunk"  # "i/n", 1-based
DELIVERY_COUNT_HEADER = "safecity-delivery-count"  # > 1 means a redelivery
CLOSE_TIMEOUT_S = 10.0  # each step of closing the bus waits at most this long

Compression = Literal["zstd", "lz4"] | None

# The server counts header bytes against max_payload; this covers "NATS/1.0\r\n", the
# Nats-Msg-Id and chunk headers we add, and the JetStream expected-stream header.
_HEADER_RESERVE_B = 512
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_TOPIC = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_RETRYABLE = (TimeoutError, nats.js.errors.NoStreamResponseError, nats.errors.ConnectionReconnectingError)

PUBLISHED = Counter("safecity_nats_published_messages", "Messages published to JetStream", ["topic"])
PUBLISHED_BYTES = Counter("safecity_nats_published_bytes", "Payload bytes published to JetStream", ["topic"])
SPLITS = Counter("safecity_nats_split_frames", "Record batches cut into slices to fit max_payload", ["topic"])
DELIVERED = Counter("safecity_nats_delivered_messages", "Messages handed to subscribers", ["topic", "group"])
UNDECODABLE = Counter(
    "safecity_nats_undecodable_messages", "Messages terminated because they could not be decoded", ["topic"]
)


def encode_frame(frame: pl.DataFrame, compression: Compression = "zstd") -> bytes:
    """Encode a DataFrame as one Arrow IPC stream (oldest Arrow types, so any Arrow reader can read it)."""
    table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def decode_frame(data: bytes) -> pl.DataFrame:
    """Decode an Arrow IPC stream back into a DataFrame with the sender's dtypes."""
    table = pa.ipc.open_stream(data).read_all()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def split_frame(frame: pl.DataFrame, max_bytes: int, compression: Compression = "zstd") -> list[bytes]:
    """Encode a DataFrame as one or more Arrow IPC streams of at most max_bytes each, in row order."""
    data = encode_frame(frame, compression)
    if len(data) <= max_bytes:
        return [data]
    if frame.height <= 1:
        raise ValueError(f"one record encodes to {len(data)} bytes, more than the {max_bytes} allowed")
    # Aim a little under the limit so that most slices fit at the first try; the ones that
    # do not (uneven rows, compression) are halved again.
    n_slices = max(2, math.ceil(len(data) / (max_bytes * 0.9)))
    rows = math.ceil(frame.height / n_slices)
    out: list[bytes] = []
    for start in range(0, frame.height, rows):
        out.extend(split_frame(frame.slice(start, rows), max_bytes, compression))
    return out


def decode_payload(data: bytes, content_type: str | None) -> Payload:
    """Decode a message body by its content type (JSON when none is given)."""
    if content_type == ARROW_STREAM:
        return decode_frame(data)
    if content_type == EVENT_JSON:
        return events.decode(data)
    payload = msgspec.json.decode(data)
    if not isinstance(payload, dict):
        raise ValueError(f"a JSON notice must be an object, got {type(payload).__name__}")
    return payload


def consumer_name(topic: str, group: str) -> str:
    """The durable consumer of a group on a topic (one per pair, so a group may follow several topics)."""
    return f"{group}__{topic.replace('.', '_')}"


class NatsSubscription:
    """A durable pull consumer of one group on one topic, iterated as deliveries."""

    def __init__(self, bus: NatsBus, topic: str, group: str) -> None:
        self._bus = bus
        self.topic = topic
        self.group = group
        self._psub: Any = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def ready(self) -> None:
        """Create (or bind to) the durable consumer; messages published after this reach the group."""
        async with self._lock:
            if self._psub is not None or self._closed:
                return
            bus = self._bus
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.NEW,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=bus.ack_wait_s,
                max_ack_pending=bus.max_ack_pending,
            )
            self._psub = await bus.js.pull_subscribe(
                bus.subject(self.topic),
                durable=consumer_name(self.topic, self.group),
                stream=bus.stream,
                config=config,
            )

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        await self.ready()
        pending: deque[Msg] = deque()
        try:
            while not self._closed:
                pending.extend(await self._fetch())
                while pending and not self._closed:
                    delivery = await self._delivery(pending.popleft())
                    if delivery is not None:
                        yield delivery
        finally:
            # Fetched but never handed out: give them back now rather than after ack_wait.
            for msg in pending:
                await _quietly(msg.nak())

    async def _fetch(self) -> list[Msg]:
        if self._psub is None:
            return []
        try:
            msgs: list[Msg] = await self._psub.fetch(self._bus.fetch_batch, timeout=self._bus.fetch_timeout_s)
        except TimeoutError:
            # nats-py raises both its own TimeoutError and the builtin one when a fetch expires.
            return []
        except nats.errors.Error as exc:
            if not self._closed:
                # Usually a reconnect in progress: the durable consumer keeps our place meanwhile.
                log.warning("nats_fetch_failed", topic=self.topic, group=self.group, error=repr(exc))
                await asyncio.sleep(self._bus.fetch_timeout_s)
            return []
        return msgs

    async def _delivery(self, msg: Msg) -> Delivery | None:
        headers = dict(msg.headers or {})
        try:
            payload = decode_payload(msg.data, headers.get(CONTENT_TYPE))
        except Exception as exc:
            # Redelivering an undecodable message would loop forever; keep it in the stream
            # (it can be inspected there) but stop delivering it.
            UNDECODABLE.labels(self.topic).inc()
            log.error("nats_message_undecodable", topic=self.topic, group=self.group, error=str(exc))
            await msg.term()
            return None
        visible = {k: v for k, v in headers.items() if not k.startswith("Nats-")}
        visible[DELIVERY_COUNT_HEADER] = str(msg.metadata.num_delivered)
        DELIVERED.labels(self.topic, self.group).inc()
        return Delivery(topic=self.topic, payload=payload, headers=visible, ack=msg.ack)

    async def close(self) -> None:
        """Stop fetching; the durable consumer stays, so the group resumes on its next subscribe."""
        self._closed = True
        self._bus._forget(self)
        psub, self._psub = self._psub, None
        if psub is not None:
            await _quietly(psub.unsubscribe())


class NatsBus:
    """The Bus protocol over NATS JetStream."""

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str = "SAFECITY",
        subject_prefix: str = "safecity",
        max_age_s: float = 24 * 3600,
        max_bytes: int = 1 << 30,
        ack_wait_s: float = 30.0,
        max_ack_pending: int = 1000,
        fetch_batch: int = 64,
        fetch_timeout_s: float = 1.0,
        publish_timeout_s: float = 5.0,
        publish_attempts: int = 3,
        compression: Compression = "zstd",
        client_name: str = "safecity",
    ) -> None:
        if not _NAME.fullmatch(stream) or not _TOPIC.fullmatch(subject_prefix):
            raise ValueError(f"invalid stream {stream!r} or subject prefix {subject_prefix!r}")
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.ack_wait_s = ack_wait_s
        self.max_ack_pending = max_ack_pending
        self.fetch_batch = fetch_batch
        self.fetch_timeout_s = fetch_timeout_s
        self.publish_timeout_s = publish_timeout_s
        self.publish_attempts = publish_attempts
        self.compression = compression
        self.client_name = client_name
        self._nc: Any = None
        self._js: Any = None
        self._subs: list[NatsSubscription] = []
        self._joining: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def js(self) -> Any:
        """The JetStream context (after start)."""
        if self._js is None:
            raise RuntimeError("NatsBus.start() has not been called")
        return self._js

    @property
    def max_payload(self) -> int:
        """The largest message the connected server accepts, in bytes."""
        return int(self._nc.max_payload)

    def subject(self, topic: str) -> str:
        """The NATS subject of a topic."""
        if not _TOPIC.fullmatch(topic):
            raise ValueError(f"invalid topic {topic!r}")
        return f"{self.subject_prefix}.{topic}"

    async def start(self) -> None:
        """Connect (reconnecting forever on loss) and create or update the stream."""
        self._nc = await nats.connect(
            self.url,
            name=self.client_name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            error_cb=self._on_error,
        )
        self._js = self._nc.jetstream(timeout=self.publish_timeout_s)
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.subject_prefix}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=self.max_age_s,
            max_bytes=self.max_bytes,
            duplicate_window=120.0,  # publish retries reuse the message id within this window
        )
        try:
            await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(config)
        else:
            await self._js.update_stream(config)
        log.info("nats_bus_started", url=self.url, stream=self.stream, max_payload=self.max_payload)

    async def publish(self, topic: str, payload: Payload, headers: dict[str, str] | None = None) -> None:
        """Publish a frame (split to fit max_payload) or a notice; returns when JetStream stored it."""
        subject = self.subject(topic)
        if self._joining:
            # A group that subscribed in this process before this call must see the message.
            await asyncio.gather(*self._joining, return_exceptions=True)
        base = dict(headers or {})
        if isinstance(payload, pl.DataFrame):
            base[CONTENT_TYPE] = ARROW_STREAM
            budget = self.max_payload - _HEADER_RESERVE_B - sum(len(k) + len(v) + 4 for k, v in base.items())
            bodies = split_frame(payload, budget, self.compression)
        elif isinstance(payload, Event):
            base[CONTENT_TYPE] = EVENT_JSON
            bodies = [events.encode(payload)]
        else:
            base[CONTENT_TYPE] = JSON
            bodies = [msgspec.json.encode(payload)]
        batch_id = new_id()
        if len(bodies) > 1:
            SPLITS.labels(topic).inc()
            base[BATCH_HEADER] = batch_id
        for i, body in enumerate(bodies, start=1):
            hdrs = dict(base)
            if len(bodies) > 1:
                hdrs[CHUNK_HEADER] = f"{i}/{len(bodies)}"
            hdrs["Nats-Msg-Id"] = f"{batch_id}-{i}"
            await self._publish_one(subject, body, hdrs)
            PUBLISHED.labels(topic).inc()
            PUBLISHED_BYTES.labels(topic).inc(len(body))

    async def _publish_one(self, subject: str, body: bytes, headers: dict[str, str]) -> None:
        for attempt in range(1, self.publish_attempts + 1):
            try:
                await self.js.publish(subject, body, stream=self.stream, headers=headers)
                return
            except _RETRYABLE as exc:
                # Safe to repeat: the stream drops a second copy with the same Nats-Msg-Id.
                if attempt == self.publish_attempts:
                    raise
                log.warning("nats_publish_retry", subject=subject, attempt=attempt, error=repr(exc))
                await asyncio.sleep(0.2 * attempt)

    def subscribe(self, topic: str, *, group: str) -> NatsSubscription:
        """Join a group to a topic as a durable consumer (created now when a loop is running)."""
        if not _NAME.fullmatch(group):
            raise ValueError(f"invalid group name {group!r}: letters, digits, '_' and '-' only")
        self.subject(topic)
        sub = NatsSubscription(self, topic, group)
        self._subs.append(sub)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self._js is None:
            return sub  # not started yet: the consumer is created on first iteration
        task = loop.create_task(sub.ready())
        self._joining.add(task)
        task.add_done_callback(self._joining.discard)
        return sub

    def _forget(self, sub: NatsSubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    async def delete_stream(self) -> None:
        """Delete the stream and every consumer on it (tests and decommissioning)."""
        await self.js.delete_stream(self.stream)

    async def close(self) -> None:
        """Close every subscription and drain the connection, each step bounded: a stopping
        platform must not wait forever on a consumer still being created or a drain that does
        not finish (then the connection is closed without draining, and said so)."""
        for sub in list(self._subs):
            await sub.close()
        if self._joining:
            joining = list(self._joining)
            _, pending = await asyncio.wait(joining, timeout=CLOSE_TIMEOUT_S)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("nats_close_gave_up_joining", pending=len(pending), timeout_s=CLOSE_TIMEOUT_S)
        self._closing = True
        if self._nc is not None and not self._nc.is_closed:
            try:
                await asyncio.wait_for(self._nc.drain(), timeout=CLOSE_TIMEOUT_S)
            except TimeoutError:
                log.warning("nats_drain_timed_out", timeout_s=CLOSE_TIMEOUT_S, url=self.url)
                await _quietly(self._nc.close())
        self._nc = self._js = None

    async def _on_disconnected(self) -> None:
        if not self._closing:
            log.warning("nats_disconnected", url=self.url)

    async def _on_reconnected(self) -> None:
        log.warning("nats_reconnected", url=self.url)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats_error", url=self.url, error=repr(exc))


async def _quietly(awaitable: Any) -> None:
    """Await a best-effort cleanup step whose failure changes nothing (the server redelivers)."""
    try:
        await awaitable
    except (TimeoutError, nats.errors.Error) as exc:
        log.debug("nats_cleanup_failed", error=repr(exc))
