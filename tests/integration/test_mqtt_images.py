"""Camera images over MQTT (recognition's `mqtt_images`) against the real Mosquitto broker."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select
from tests.conftest import T0
from tests.integration.test_mqtt_ingest import DeviceClient, eventually, purge_session
from tests.servicecheck import require_service
from tests.web.conftest import fresh_platform, schema_db  # noqa: F401  (the same fixture)

from safecity import registry
from safecity.ingest.models import DeadLetter
from safecity.platform import Platform
from safecity.recognition.errors import BadCapture
from safecity.recognition.intake import Accepted, Capture, Intake
from safecity.recognition.models import CapturedImage, ImageStatus
from safecity.recognition.mqtt_images import (
    HEADER_MAX_BYTES,
    MqttImages,
    dead_letter_body,
    device_of,
    parse_header,
    split_payload,
)
from safecity.recognition.plate_format import PlateColour, PlateFormat
from safecity.sim.plate_images import PlateRenderer, encode

pytestmark = pytest.mark.integration

HOST, PORT = "127.0.0.1", 1883
PLATE_CAMERA, FACE_CAMERA = "CAM-KK-01", "CAM-FC-01"
HEADER = {"ts": T0.isoformat(), "framing": "crop"}
MAX_IMAGE_BYTES = 50_000  # small, so that a too large image is cheap to send


def plate_crop(plate: str = "浙A12345") -> bytes:
    """A clean rendered plate crop, as JPEG."""
    return encode(PlateRenderer().render(plate, PlateFormat.ORDINARY, PlateColour.BLUE))


def message(header: dict[str, Any], image: bytes) -> bytes:
    """A camera's payload: the description line, a newline, the image."""
    return json.dumps(header).encode() + b"\n" + image


@dataclass
class OnBroker:
    """A platform whose recognition listens under this test's topic prefix, and a camera client."""

    platform: Platform
    prefix: str
    client_id: str
    camera: DeviceClient

    def images(self, device: str) -> str:
        """A camera's images topic."""
        return f"{self.prefix}/devices/{device}/images"

    def answers(self) -> list[dict[str, Any]]:
        """The image answers the camera heard so far (results topics), in order."""
        decoded = [msgspec.json.decode(m.payload) for m in self.camera.received]
        return [a for a in decoded if a.get("type") == "image"]

    async def post(self, device: str, payload: bytes, correlation: bytes | None = None) -> dict[str, Any]:
        """Publish one payload with QoS 1 and return the answer it got."""
        before = len(self.answers())
        await self.camera.publish(self.images(device), payload, correlation)
        await eventually(lambda: len(self.answers()) > before, timeout_s=10)
        return self.answers()[before]

    def dead_letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest first."""
        with self.platform.session_factory() as session:
            return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))

    def image(self, image_id: str) -> CapturedImage | None:
        """A kept image's row."""
        with self.platform.session_factory() as session:
            return session.get(CapturedImage, image_id)


def register_cameras(platform: Platform) -> None:
    """A plate camera and a face camera."""
    with platform.session_factory() as session, session.begin():
        for device, kind in ((PLATE_CAMERA, "plate_camera"), (FACE_CAMERA, "face_camera")):
            registry.create_device(
                session, device_id=device, kind=kind, name=device, lat=28.0, lon=120.7, area_id=None, now=T0
            )


@pytest.fixture
async def on_broker(schema_db: Path, tmp_path: Path) -> AsyncIterator[OnBroker]:  # noqa: F811
    """A platform with MQTT ingest on (so recognition's image worker too), not yet started."""
    require_service(HOST, PORT, "Mosquitto MQTT")
    run = uuid.uuid4().hex[:12]
    prefix, client_id = f"test{run}/v1", f"safecity-test-{run}"
    platform = fresh_platform(
        schema_db,
        tmp_path,
        recognition_workers=1,
        recognition_max_image_bytes=MAX_IMAGE_BYTES,
        mqtt_url=f"mqtt://{HOST}:{PORT}",
        mqtt_topic_prefix=prefix,
        mqtt_client_id=client_id,
    )
    register_cameras(platform)
    camera = DeviceClient()
    await camera.listen(f"{prefix}/devices/+/results")
    yield OnBroker(platform, prefix, client_id, camera)
    camera.close()
    purge_session(client_id)
    purge_session(f"{client_id}-images")


@pytest.fixture
async def running(on_broker: OnBroker) -> AsyncIterator[OnBroker]:
    """The same platform, started."""
    await on_broker.platform.start()
    yield on_broker
    await on_broker.platform.stop()


async def test_a_plate_crop_posted_over_mqtt_is_kept_read_and_answered(running: OnBroker) -> None:
    assert "recognition-mqtt-images" in [w.name for w in running.platform._running]
    data = plate_crop("浙A12345")

    answer = await running.post(PLATE_CAMERA, message(HEADER, data), correlation=b"shot-1")

    assert answer["status"] == "accepted" and answer["queued"] >= 1, answer
    [heard] = [m for m in running.camera.received if msgspec.json.decode(m.payload) == answer]
    assert heard.topic == f"{running.prefix}/devices/{PLATE_CAMERA}/results"
    assert getattr(heard.properties, "CorrelationData", None) == b"shot-1"

    def read() -> CapturedImage | None:
        row = running.image(answer["image_id"])
        return row if row is not None and row.status == ImageStatus.READ else None

    await eventually(read, timeout_s=60)
    row = read()
    assert row is not None and row.source == "mqtt" and row.framing == "crop" and row.purpose == "plate"
    assert row.readings is not None and [p["plate"] for p in row.readings["plates"]] == ["浙A12345"]
    path = running.platform.settings.data_dir / "images" / row.path
    assert path.read_bytes() == data
    assert running.dead_letters() == []


def _png(w: int = 64, h: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), (20, 60, 160)).save(out, format="PNG")
    return out.getvalue()


BAD = [
    # (device, payload, code, field)
    (PLATE_CAMERA, json.dumps(HEADER).encode(), "bad_capture", "header"),  # no newline, no image
    (PLATE_CAMERA, b"{'ts': 'now'}\n" + _png(), "bad_capture", "header"),  # not JSON
    (PLATE_CAMERA, b"[1, 2]\n" + _png(), "bad_capture", "header"),  # JSON, not an object
    (PLATE_CAMERA, _png(), "bad_capture", "header"),  # a bare PNG: its first line is binary
    (PLATE_CAMERA, message({"framing": "crop"}, _png()), "bad_capture", "ts"),
    (PLATE_CAMERA, message({**HEADER, "bbox": [0, 0, 8, 8]}, _png()), "bad_capture", "bbox"),
    (PLATE_CAMERA, message({**HEADER, "box": [0, 0, 500, 10]}, _png()), "bad_capture", "box"),
    (PLATE_CAMERA, message(HEADER, b"GIF89a not a picture"), "not_an_image", "image"),
    (PLATE_CAMERA, message(HEADER, plate_crop()[:400]), "corrupt_image", "image"),
    (PLATE_CAMERA, message(HEADER, b"\xff\xd8\xff" + bytes(MAX_IMAGE_BYTES)), "image_too_large", "image"),
    ("CAM-NOBODY", message(HEADER, _png()), "bad_capture", "device"),
]


async def test_bad_payloads_are_refused_dead_lettered_and_the_worker_goes_on(running: OnBroker) -> None:
    for device, payload, code, field in BAD:
        answer = await running.post(device, payload)
        assert (answer["status"], answer["code"], answer["field"]) == ("refused", code, field), (
            payload[:40],
            answer,
        )
        assert answer["message"]

    letters = running.dead_letters()
    assert [(d.device_id, d.field) for d in letters] == [(device, "body") for device, *_ in BAD]
    for letter, (_, payload, code, field) in zip(letters, BAD, strict=True):
        assert code in letter.reason and f"field {field}" in letter.reason
        note = json.loads(letter.raw.splitlines()[-1])
        assert note["payload_bytes"] == len(payload) and note["image"] == "not kept"
    # The description is kept when it is text; the image never is.
    assert letters[1].raw.startswith("{'ts': 'now'}\n")
    assert json.loads(letters[3].raw) == {
        "payload_bytes": len(BAD[3][1]),
        "image_bytes": len(BAD[3][1]) - BAD[3][1].index(b"\n") - 1,
        "header": "not kept: not UTF-8 text",
        "payload_starts_as": "png",
        "image": "not kept",
    }
    assert all("GIF89a" not in d.raw and "\x00" not in d.raw for d in letters)

    # Still listening: the next good image is kept.
    good = await running.post(PLATE_CAMERA, message(HEADER, plate_crop()))
    assert good["status"] == "accepted" and running.image(good["image_id"]) is not None
    with running.platform.session_factory() as session:
        assert [r.id for r in session.scalars(select(CapturedImage))] == [good["image_id"]]


class StallingIntake:
    """The platform's intake that keeps the image, then stalls before answering (a process about to die)."""

    def __init__(self, intake: Intake) -> None:
        self._intake = intake
        self.kept: list[Accepted] = []
        self.release = threading.Event()

    def keep(self, capture: Capture, data: bytes) -> Accepted:
        """Keep, then hold until released."""
        accepted = self._intake.keep(capture, data)
        self.kept.append(accepted)
        self.release.wait(10)
        return accepted

    async def announce(self, accepted: Accepted) -> None:
        """As the intake does."""
        await self._intake.announce(accepted)


async def test_an_image_is_acknowledged_only_once_answered_and_a_redelivered_one_is_kept_once(
    on_broker: OnBroker,
) -> None:
    platform, intake = on_broker.platform, on_broker.platform.service(Intake)
    stalling = StallingIntake(intake)

    def worker(uses: Any) -> MqttImages:
        return MqttImages(
            uses,
            platform.ingest.refuse_parts,
            platform.session_factory,
            platform.clock.now,
            url=f"mqtt://{HOST}:{PORT}",
            prefix=on_broker.prefix,
            client_id=f"{on_broker.client_id}-images",
            session_expiry_s=60,
            connect_timeout_s=5,
        )

    first = worker(stalling)
    await first.start()
    await on_broker.camera.publish(on_broker.images(FACE_CAMERA), message(HEADER, _png()))
    await eventually(lambda: stalling.kept)
    await first.stop(drain_timeout_s=0)  # dies after keeping, before acknowledging
    stalling.release.set()
    assert on_broker.answers() == []

    second = worker(intake)
    await second.start()
    try:
        await eventually(lambda: on_broker.answers())
    finally:
        await second.stop()

    [answer] = on_broker.answers()
    assert answer == {"type": "image", "status": "accepted", "image_id": stalling.kept[0].image_id}
    with platform.session_factory() as session:
        assert len(session.scalars(select(CapturedImage)).all()) == 1


async def test_the_worker_runs_only_when_mqtt_ingest_is_on(schema_db: Path, tmp_path: Path) -> None:  # noqa: F811
    platform = fresh_platform(schema_db, tmp_path)
    assert "recognition-mqtt-images" not in [w.name for w in platform.workers()]


# The message format, without the broker.


def test_a_description_gives_the_http_endpoint_s_capture() -> None:
    line, image = split_payload(b'{"ts": 1795334400000, "purpose": "face", "box": [1, 2, 3, 4]}\n\x89PNG\n..')
    assert image == b"\x89PNG\n.."
    assert parse_header(line, "CAM-1") == Capture(
        device="CAM-1", ts=1795334400000, purpose="face", framing="frame", box=(1, 2, 3, 4), source="mqtt"
    )


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (b"", "header"),
        (b"\xff\xd8\xff", "header"),
        (b'"ts"', "header"),
        (b'{"ts": true}', "ts"),
        (b'{"ts": 1.5}', "ts"),
        (b'{"ts": "x", "purpose": 3}', "purpose"),
        (b'{"ts": "x", "framing": ["crop"]}', "framing"),
        (b'{"ts": "x", "box": [1, 2, 3]}', "box"),
        (b'{"ts": "x", "box": [1, 2, 3, 4.5]}', "box"),
        (b'{"ts": "x", "box": [true, 2, 3, 4]}', "box"),
        (b'{"ts": "x", "device": "CAM-2"}', "device"),  # the topic names the camera, never the payload
    ],
)
def test_a_bad_description_is_refused_naming_the_field(line: bytes, field: str) -> None:
    with pytest.raises(BadCapture) as refused:
        parse_header(line, "CAM-1")
    assert refused.value.field == field


def test_a_description_line_longer_than_the_limit_is_no_description() -> None:
    with pytest.raises(BadCapture) as refused:
        split_payload(b"{" + b" " * HEADER_MAX_BYTES + b"}\n" + _png())
    assert refused.value.field == "header"


def test_only_a_device_s_images_topic_names_a_device() -> None:
    assert device_of("p/v1/devices/CAM-1/images", "p/v1") == "CAM-1"
    assert device_of("p/v1/devices//images", "p/v1") == ""
    assert device_of("p/v1/devices/CAM-1/events", "p/v1") is None
    assert device_of("p/v1/devices/a/b/images", "p/v1") is None
    assert device_of("p/v1/devices/images", "p/v1") is None


def _refusal(payload: bytes) -> BadCapture | None:
    try:
        line, _ = split_payload(payload)
        parse_header(line, "CAM-1")
    except BadCapture as exc:
        return exc
    return None


@given(st.binary(max_size=300), st.binary(min_size=1, max_size=300))
def test_parsing_any_payload_refuses_naming_a_field_or_describes(head: bytes, tail: bytes) -> None:
    refused = _refusal(head + tail)  # anything else raised fails the test
    assert refused is None or refused.field is not None


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=200))
def test_a_dead_letter_never_holds_the_image(head: bytes, image: bytes) -> None:
    marker = b"IMAGE-" + image  # what follows the first newline is the image
    head = head.replace(b"\n", b"")
    assume(marker not in head)
    payload = head + b"\n" + marker
    body = dead_letter_body(payload)
    assert marker not in body
    note = json.loads(body.splitlines()[-1])
    assert note["image_bytes"] == len(marker) and note["payload_bytes"] == len(payload)


async def test_a_poisoned_keep_is_dead_lettered_after_three_tries(on_broker: OnBroker) -> None:
    platform = on_broker.platform

    class Buggy:
        calls = 0

        def keep(self, capture: Capture, data: bytes) -> Accepted:
            Buggy.calls += 1
            raise KeyError("/srv/safecity/images/secret-path")

        async def announce(self, accepted: Accepted) -> None:
            raise AssertionError("nothing was kept")

    worker = MqttImages(
        Buggy(),
        platform.ingest.refuse_parts,
        platform.session_factory,
        platform.clock.now,
        url=f"mqtt://{HOST}:{PORT}",
        prefix=on_broker.prefix,
        client_id=f"{on_broker.client_id}-images",
        retry_first_s=0.01,
    )
    await worker.start()
    try:
        answer = await on_broker.post(PLATE_CAMERA, message(HEADER, _png()))
    finally:
        await worker.stop()

    assert (answer["status"], answer["code"], Buggy.calls) == ("refused", "error", 3)
    assert "secret-path" not in json.dumps(answer) and "dead letter" in answer["message"]
    [letter] = on_broker.dead_letters()
    assert letter.device_id == PLATE_CAMERA and "KeyError" in letter.reason
