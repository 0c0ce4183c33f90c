"""Camera images over MQTT: a camera publishes a described image, the platform keeps it and answers.

A camera (or edge box) publishes with QoS 1 to `{prefix}/devices/{device_id}/images` a payload of
one line of UTF-8 JSON describing the image (`ts`, and optionally `purpose`, `framing`, `box`:
the fields and checks of the HTTP endpoint), a newline, then the JPEG or PNG bytes. Each image
goes through `Intake.keep` (file, then row) and `Intake.announce` (the readers' queue), like one
posted over HTTP, and the camera hears the outcome on `{prefix}/devices/{device_id}/results`: a
JSON answer of type `image`, accepted with the image's id, or refused with the code, field and
message. As with the events adapter, the broker authenticates cameras and pins each to its own
topics; the device id is taken from the topic.

A refused image (a bad description, not an image, too large, a device that is not a registered
camera) is dead-lettered through the ingest pipeline's `refuse_parts` with the description line
and a note of the image's size, never the image itself (a dead letter is text an operator reads,
and a face in it would outlive every retention rule of images). A message the platform fails on
for another reason is tried `POISON_ATTEMPTS` times and then dead-lettered the same way, so one
poisoned message never stops the camera behind it. While the readers' queue is full (`Busy`) or
the database or disk is away, the message is held and tried again: unacknowledged, it holds the
broker's window shut (`RECEIVE_MAXIMUM`), which is the back-pressure a camera can understand.

paho runs the network in its own thread; `on_message` only hands the message to the platform's
loop. There each image is taken in a task, at most `KEEP_SLOTS` at once (a keep is a synced file
write and a row commit, done in a thread), and acknowledged once it is kept or dead-lettered.
PUBACKs go out in the order the messages arrived (MQTT 5, 4.6: a QoS 1 receiver acknowledges in
order), so a fast image waits for a slower one before it. The session is persistent under its
own client id (the ingest adapter's with `-images`): what was not acknowledged when the process
stopped is redelivered, marked DUP, and an image already kept from that camera with the same
bytes is answered with its first id instead of being kept twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec
import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.errors import DomainError
from safecity.ingest.adapters.mqtt import POISON_ATTEMPTS, TRANSIENT
from safecity.ingest.pipeline import IngestResult, Part, Submission
from safecity.ingest.settings import IngestSettings
from safecity.recognition.errors import BadCapture, Busy
from safecity.recognition.intake import Accepted, Capture, Intake
from safecity.recognition.models import CapturedImage

log = structlog.get_logger(__name__)
IMAGES = Counter("safecity_recognition_mqtt_images_total", "Camera images over MQTT by outcome", ["outcome"])

SOURCE = "mqtt"
HEADER_MAX_BYTES = 4096  # the description is a few dozen bytes; a longer first line is not one
FIELDS = ("ts", "purpose", "framing", "box")
KEEP_SLOTS = 4  # keeps at once: enough to overlap file syncs, few enough not to queue on the database
RECEIVE_MAXIMUM = 32  # images the broker sends before waiting for acknowledgements (32 x 8 MB at most)
REDELIVERY_WINDOW = timedelta(hours=1)  # how far back a redelivered image is looked for
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 10.0
_SIGNATURES = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"))


class ImageIntake(Protocol):
    """What the worker needs of `intake.Intake`."""

    def keep(self, capture: Capture, data: bytes) -> Accepted: ...

    async def announce(self, accepted: Accepted) -> None: ...


Refuse = Callable[[Sequence[Submission], str], Awaitable[list[IngestResult]]]


class Answer(msgspec.Struct, tag_field="type", tag="image", omit_defaults=True):
    """What a camera reads on its results topic about one image."""

    status: str  # accepted | refused
    image_id: str | None = None
    queued: int | None = None  # images waiting for a reader, this one included
    code: str | None = None
    field: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One image message as paho handed it over."""

    device: str | None  # None: the topic is not a device's images topic (not UTF-8, say)
    payload: bytes
    mid: int
    qos: int
    session: int  # the connection it arrived on: a PUBACK is valid on that connection only
    dup: bool  # the broker delivered it before (a session that ended unacknowledged)
    correlation: bytes | None  # MQTT 5 CorrelationData, echoed on the answer


@dataclass(slots=True)
class _Pending:
    message: Inbound
    done: bool = False


def device_of(topic: str, prefix: str) -> str | None:
    """The device id of `{prefix}/devices/{id}/images` (possibly empty), or None for another shape."""
    head, tail = f"{prefix}/devices/", "/images"
    if not topic.startswith(head) or not topic.endswith(tail) or len(topic) < len(head) + len(tail):
        return None
    device = topic[len(head) : -len(tail)]
    return None if "/" in device else device


def split_payload(payload: bytes) -> tuple[bytes, bytes]:
    """The description line and the image bytes; BadCapture if there is no line to split at."""
    cut = payload.find(b"\n", 0, HEADER_MAX_BYTES + 1)
    if cut < 0:
        raise BadCapture(
            f"header: start with one line of JSON describing the image (at most {HEADER_MAX_BYTES} "
            "bytes), a newline, then the JPEG or PNG bytes",
            field="header",
        )
    return payload[:cut], payload[cut + 1 :]


def parse_header(line: bytes, device: str) -> Capture:
    """The camera's description of its image, with the HTTP endpoint's fields; BadCapture naming one."""
    try:
        fields = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        raise BadCapture(
            'header: the first line must be a JSON object such as {"ts": "2026-12-07T08:00:00+08:00"}',
            field="header",
        )
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        # Refused, not ignored: a misspelt `bbox` would otherwise send a frame to be read whole.
        raise BadCapture(
            f"{unknown[0]}: not a field of an image's description ({', '.join(FIELDS)})", field=unknown[0]
        )
    ts = fields.get("ts")
    if ts is None or isinstance(ts, bool) or not isinstance(ts, str | int):
        raise BadCapture("ts: when the camera took the image (RFC 3339 or epoch ms) is required", field="ts")
    purpose, framing, box = fields.get("purpose"), fields.get("framing"), fields.get("box")
    if purpose is not None and not isinstance(purpose, str):
        raise BadCapture("purpose: plate, face or any", field="purpose")
    if framing is not None and not isinstance(framing, str):
        raise BadCapture("framing: `frame` (a whole scene) or `crop`", field="framing")
    if box is not None and not (isinstance(box, list) and len(box) == 4 and all(type(v) is int for v in box)):
        raise BadCapture("box: four whole numbers [x, y, w, h]", field="box")
    return Capture(
        device=device,
        ts=ts,
        purpose=purpose or None,
        framing=framing or "frame",
        box=(box[0], box[1], box[2], box[3]) if box is not None else None,
        source=SOURCE,
    )


def dead_letter_body(payload: bytes) -> bytes:
    """What a refused message leaves for an operator: its description line (when it is text) and a
    note of the image's size, never the image's bytes."""
    cut = payload.find(b"\n", 0, HEADER_MAX_BYTES + 1)
    header = payload[:cut] if cut >= 0 else b""
    note: dict[str, Any] = {
        "payload_bytes": len(payload),
        "image_bytes": len(payload) - cut - 1 if cut >= 0 else 0,
    }
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError:
        # Binary before the first newline is the image itself, sent without a description.
        text, note["header"] = "", "not kept: not UTF-8 text"
    if cut < 0:
        note["header"] = f"none: no newline in the first {HEADER_MAX_BYTES} bytes"
        note["image_bytes"] = len(payload)
    starts = next((kind for magic, kind in _SIGNATURES if payload.startswith(magic)), None)
    if starts is not None:
        note["payload_starts_as"] = starts  # the camera sent a bare image: say so
    note["image"] = "not kept"
    body = json.dumps(note, separators=(",", ":"))
    return f"{text}\n{body}".encode() if text else body.encode()


def _kept_before(sessions: sessionmaker[Session], device: str, data: bytes, now: datetime) -> str | None:
    """The id of the same image from the same camera kept within the redelivery window, if any."""
    digest = hashlib.sha256(data).hexdigest()
    with sessions() as session:
        return session.scalar(
            select(CapturedImage.id)
            .where(
                CapturedImage.device == device,
                CapturedImage.sha256 == digest,
                CapturedImage.received_at >= now - REDELIVERY_WINDOW,
            )
            .limit(1)
        )


class MqttImages:
    """Subscribes the cameras' images topics; keeps each image and answers the camera."""

    name = "recognition-mqtt-images"

    def __init__(
        self,
        intake: ImageIntake,
        refuse: Refuse,
        sessions: sessionmaker[Session],
        now: Callable[[], datetime],
        *,
        url: str,
        prefix: str,
        client_id: str,
        session_expiry_s: int = 3600,
        receive_maximum: int = RECEIVE_MAXIMUM,
        keep_slots: int = KEEP_SLOTS,
        connect_timeout_s: float = 10.0,
        keepalive_s: int = 30,
        retry_first_s: float = RETRY_FIRST_S,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            raise ValueError(f"expected mqtt://host:port or mqtts://host:port, got {url!r}")
        self._intake = intake
        self._refuse = refuse
        self._sessions = sessions
        self._now = now
        self.host, self.port = parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._tls = parts.scheme == "mqtts"
        self._username, self._password = parts.username, parts.password
        self.prefix = prefix.rstrip("/")
        self.client_id = client_id
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self.retry_first_s = retry_first_s
        self._slots = asyncio.Semaphore(keep_slots)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None
        self._subscribed = asyncio.Event()
        self._order: deque[_Pending] = deque()  # arrival order, for in-order PUBACKs
        self._tasks: set[asyncio.Task[None]] = set()
        self._session = 0
        self._accepting = False

    @property
    def images_filter(self) -> str:
        """The subscription: every device's images topic."""
        return f"{self.prefix}/devices/+/images"

    def results_topic(self, device: str) -> str:
        """Where a camera hears what became of its images (shared with the events adapter's results)."""
        return f"{self.prefix}/devices/{device}/results"

    async def start(self) -> None:
        """Connect and subscribe; raises TimeoutError if the broker never confirmed the subscription."""
        self._loop = asyncio.get_running_loop()
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
        props.ReceiveMaximum = self.receive_maximum
        self._client, self._accepting = client, True
        client.connect_async(
            self.host, self.port, keepalive=self.keepalive_s, clean_start=False, properties=props
        )
        client.loop_start()
        try:
            await asyncio.wait_for(self._subscribed.wait(), self.connect_timeout_s)
        except TimeoutError:
            await self.stop(drain_timeout_s=0)
            raise TimeoutError(
                f"no MQTT subscription at {self.host}:{self.port} after {self.connect_timeout_s} s"
            ) from None
        log.info(
            "recognition.mqtt_images_started", broker=f"{self.host}:{self.port}", topic=self.images_filter
        )

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Finish the images in hand (up to `drain_timeout_s`), then disconnect; the rest come back."""
        self._accepting = False
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=drain_timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        self._order.clear()
        self._subscribed.clear()

    # paho's network thread: hand over and return at once.

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("recognition.mqtt_connect_refused", reason=str(reason))
            return
        self._session += 1  # here, before paho hands over any message of this connection
        client.subscribe(self.images_filter, options=SubscribeOptions(qos=1))

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("recognition.mqtt_subscribe_refused", topic=self.images_filter)
            return
        self._call_in_loop(self._subscribed.set)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._accepting:
            log.warning("recognition.mqtt_disconnected", reason=str(reason))

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting:
            return  # stopping: left unacknowledged for the next session
        try:
            device = device_of(msg.topic, self.prefix)
        except UnicodeDecodeError:
            device = None
        props = msg.properties
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        item = Inbound(
            device, bytes(msg.payload), msg.mid, msg.qos, self._session, bool(msg.dup), correlation
        )
        self._call_in_loop(self._arrived, item)

    def _call_in_loop(self, func: Any, *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(func, *args)
        except RuntimeError:
            log.warning("recognition.mqtt_loop_closed")  # shutting down; the broker redelivers

    # The platform's loop: keep, answer, acknowledge in order.

    def _arrived(self, item: Inbound) -> None:
        pending = _Pending(item)
        self._order.append(pending)
        task = asyncio.get_running_loop().create_task(self._take(pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take(self, pending: _Pending) -> None:
        item = pending.message
        try:
            async with self._slots:
                answer = await self._handle(item)
        except asyncio.CancelledError:
            raise  # stopping: not acknowledged, redelivered to the next session
        except Exception:
            # `_handle` answers every failure itself; reaching here is a bug of this module. The
            # message stays unacknowledged (redelivered to the next session) rather than lost,
            # and leaves the order so that the messages behind it are acknowledged.
            log.exception("recognition.mqtt_image_crashed", device=item.device)
            self._order.remove(pending)
            self._acknowledge_ready()
            return
        pending.done = True
        self._answer(item, answer)
        self._acknowledge_ready()

    async def _handle(self, item: Inbound) -> Answer:
        if item.device is None:
            return await self._refused(item, BadCapture("topic: not a device's images topic", field="topic"))
        try:
            line, data = split_payload(item.payload)
            capture = parse_header(line, item.device)
        except BadCapture as exc:
            return await self._refused(item, exc)
        if item.dup:
            try:
                earlier = await asyncio.to_thread(
                    _kept_before, self._sessions, item.device, data, self._now()
                )
            except TRANSIENT:
                earlier = None  # the database is away: `_keep` waits for it
            if earlier is not None:
                IMAGES.labels("redelivered").inc()
                return Answer("accepted", image_id=earlier)
        return await self._keep(item, capture, data)

    async def _keep(self, item: Inbound, capture: Capture, data: bytes) -> Answer:
        """Keep and announce; held while nothing can be kept, refused when the image is at fault."""
        delay_s, failures = self.retry_first_s, 0
        while True:
            try:
                accepted = await asyncio.to_thread(self._intake.keep, capture, data)
            except Busy as exc:
                log.info(
                    "recognition.mqtt_image_held", device=item.device, reason=exc.message, retry_in_s=delay_s
                )
            except DomainError as exc:
                return await self._refused(item, exc)
            except (*TRANSIENT, OSError) as exc:
                # The database or the image folder is away: no fault of the image's.
                log.error(
                    "recognition.mqtt_image_not_kept", device=item.device, error=repr(exc), retry_in_s=delay_s
                )
            except Exception as exc:
                failures += 1
                log.exception("recognition.mqtt_image_failed", device=item.device, attempt=failures)
                if failures >= POISON_ATTEMPTS:
                    return await self._poisoned(item, exc)
            else:
                await self._intake.announce(accepted)
                IMAGES.labels("accepted").inc()
                return Answer("accepted", image_id=accepted.image_id, queued=accepted.queued)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, RETRY_MAX_S)

    async def _refused(self, item: Inbound, exc: DomainError) -> Answer:
        reason = f"image refused ({exc.code}, field {exc.field}): {exc.message}"
        await self._dead_letter(item, reason)
        IMAGES.labels("refused").inc()
        log.info("recognition.mqtt_image_refused", device=item.device, code=exc.code, field=exc.field)
        return Answer("refused", code=exc.code, field=exc.field, message=exc.message)

    async def _poisoned(self, item: Inbound, exc: Exception) -> Answer:
        reason = (
            f"the platform failed on this image {POISON_ATTEMPTS} times ({type(exc).__name__}); "
            "its description is kept as a dead letter for an operator"
        )
        await self._dead_letter(item, reason)
        IMAGES.labels("poison").inc()
        # The camera is told what happened, never the exception's text (it may name server paths).
        return Answer("refused", code="error", message=reason)

    async def _dead_letter(self, item: Inbound, reason: str) -> None:
        """Keep the refusal; tried until it is kept, since only then may the message be acknowledged."""
        part = Part(body=dead_letter_body(item.payload), device_id=item.device, source=SOURCE)
        delay_s = self.retry_first_s
        while True:
            try:
                await self._refuse([part], reason)
                return
            except Exception as exc:
                log.error("recognition.mqtt_dead_letter_failed", device=item.device, error=repr(exc))
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, RETRY_MAX_S)

    def _answer(self, item: Inbound, answer: Answer) -> None:
        client = self._client
        if client is None or not item.device:
            return  # no topic to answer on
        props = None
        if item.correlation is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = item.correlation
        client.publish(self.results_topic(item.device), msgspec.json.encode(answer), qos=0, properties=props)

    def _acknowledge_ready(self) -> None:
        """PUBACK every finished message not behind an unfinished one, in arrival order."""
        client = self._client
        while self._order and self._order[0].done:
            item = self._order.popleft().message
            if client is not None and item.session == self._session:
                client.ack(item.mid, item.qos)
            # Otherwise the connection dropped since: the mid may name another message now, and
            # the broker redelivers this one (found kept, by its bytes, and answered again).


def images_over_mqtt(platform: Any) -> list[MqttImages]:
    """The worker, when MQTT ingest is on: the ingest adapter's broker and prefix, its own session."""
    s = platform.settings.section(IngestSettings)
    if not s.mqtt_url:
        return []
    return [
        MqttImages(
            platform.service(Intake),
            platform.ingest.refuse_parts,
            platform.session_factory,
            platform.clock.now,
            url=s.mqtt_url,
            prefix=s.mqtt_topic_prefix,
            client_id=f"{s.mqtt_client_id}-images",
        )
    ]


__all__ = [
    "Answer",
    "MqttImages",
    "dead_letter_body",
    "device_of",
    "images_over_mqtt",
    "parse_header",
    "split_payload",
]
