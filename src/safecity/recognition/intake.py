"""Camera images in: a camera (or edge box) posts a frame or a crop with its time and an optional
box; the image is checked, kept, and queued for the readers behind the bus.

The order makes a posted image safe before the camera is answered: the file is written and
synced, then its row committed (status `queued`), then the reader is told on the bus. If the
bus is down after the commit, the image is not lost: `requeue` (at start, and every minute)
announces every image still queued. A refused image is answered with what was wrong; nothing
of it is kept but the count and, for MQTT, a dead letter naming the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
import structlog
from prometheus_client import Counter
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from safecity.bus import Bus
from safecity.core.clock import Clock
from safecity.core.record import new_id
from safecity.ingest.devices import DeviceDirectory
from safecity.recognition.errors import BadCapture, Busy
from safecity.recognition.events import ImageCaptured
from safecity.recognition.images import ImageFiles, inspect_image
from safecity.recognition.models import CapturedImage, ImageStatus
from safecity.store import transaction

log = structlog.get_logger(__name__)
IMAGES_IN = Counter("safecity_recognition_images_total", "Camera images by outcome", ["source", "outcome"])

PURPOSES = ("plate", "face", "any")
# The device kinds that post images, and what their images are read for unless they say.
CAMERAS = {"plate_camera": "plate", "checkpoint_camera": "plate", "face_camera": "face"}
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True, slots=True)
class Capture:
    """What a camera says about an image it posts."""

    device: str
    ts: str | int  # RFC 3339 with an offset, or epoch milliseconds
    purpose: str | None = None  # plate | face | any; default: what the camera is (a plate or face camera)
    framing: str = "frame"  # frame (a whole scene) | crop (the camera cut out the plate or face)
    box: tuple[int, int, int, int] | None = None  # x, y, w, h of the plate or face in a frame
    source: str = "http"  # http | mqtt | sim


@dataclass(frozen=True, slots=True)
class Accepted:
    """An image kept and queued."""

    image_id: str
    device: str
    ts: datetime
    width: int
    height: int
    queued: int  # images waiting, this one included


@dataclass(frozen=True, slots=True)
class Limits:
    """The image limits in force."""

    max_bytes: int
    max_pixels: int
    queue_limit: int
    max_age_s: int
    max_future_s: int
    keep_hours: float  # a routine image (no hit's or review's evidence) is deleted after this


def parse_capture_ts(value: str | int, now: datetime, limits: Limits) -> datetime:
    """The capture time as UTC, refused when malformed, too old or ahead of our clock."""
    if isinstance(value, int) and not isinstance(value, bool):
        ts = datetime.fromtimestamp(value / 1000, UTC)
    elif isinstance(value, str) and value.isdigit():
        ts = datetime.fromtimestamp(int(value) / 1000, UTC)
    elif isinstance(value, str) and _RFC3339.match(value):
        ts = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    else:
        raise BadCapture(
            "ts: give RFC 3339 with an offset (2026-12-07T08:00:00+08:00) or epoch ms", field="ts"
        )
    if ts > now + timedelta(seconds=limits.max_future_s):
        raise BadCapture(f"ts: {ts.isoformat()} is ahead of the platform's clock", field="ts")
    if ts < now - timedelta(seconds=limits.max_age_s):
        raise BadCapture(f"ts: {ts.isoformat()} is older than {limits.max_age_s} s", field="ts")
    return ts


def check_capture(capture: Capture, purpose: str, width: int, height: int) -> None:
    """Refuse a description that does not fit the image (naming the field)."""
    if purpose not in PURPOSES:
        raise BadCapture(f"purpose: one of {', '.join(PURPOSES)}", field="purpose")
    if capture.framing not in ("frame", "crop"):
        raise BadCapture("framing: `frame` (a whole scene) or `crop`", field="framing")
    if capture.box is not None:
        x, y, w, h = capture.box
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise BadCapture(
                f"box: {list(capture.box)} is not inside the {width}x{height} image", field="box"
            )


class Intake:
    """Takes camera images: check, keep, queue."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        files: ImageFiles,
        devices: DeviceDirectory,
        bus: Bus,
        clock: Clock,
        limits: Limits,
    ) -> None:
        self._sessions = sessions
        self._files = files
        self._devices = devices
        self._bus = bus
        self._clock = clock
        self.limits = limits

    def keep(self, capture: Capture, data: bytes) -> Accepted:
        """Check and store an image (file, then row); raise a DomainError naming what was wrong."""
        try:
            return self._keep(capture, data)
        except Exception as exc:
            IMAGES_IN.labels(capture.source, getattr(exc, "code", "error")).inc()
            raise

    def _keep(self, capture: Capture, data: bytes) -> Accepted:
        now = self._clock.now()
        [device] = self._devices.table.rows_of(pl.Series([capture.device], dtype=pl.String)).to_dicts()
        if device["device_kind"] not in CAMERAS:
            raise BadCapture(f"device: {capture.device!r} is not a registered camera", field="device")
        if not device["active"]:
            raise BadCapture(f"device: {capture.device} is disabled", field="device")
        ts = parse_capture_ts(capture.ts, now, self.limits)
        info = inspect_image(data, max_bytes=self.limits.max_bytes, max_pixels=self.limits.max_pixels)
        purpose = capture.purpose or CAMERAS[device["device_kind"]]
        check_capture(capture, purpose, info.width, info.height)
        with self._sessions() as session:
            queued = self.queued(session)
        if queued >= self.limits.queue_limit:
            raise Busy(f"{queued} images wait for a reader; retry in a few seconds", field="image")
        image_id = new_id()
        relative = ImageFiles.relative(image_id, ts, info.extension)
        self._files.write(relative, data)
        try:
            with transaction(self._sessions) as session:
                session.add(
                    CapturedImage(
                        id=image_id,
                        device=capture.device,
                        area=device["area"],
                        ts=ts,
                        received_at=now,
                        source=capture.source,
                        purpose=purpose,
                        framing=capture.framing,
                        box=list(capture.box) if capture.box else None,
                        content_type=info.content_type,
                        size_bytes=info.size_bytes,
                        width=info.width,
                        height=info.height,
                        sha256=info.sha256,
                        path=relative,
                        status=ImageStatus.QUEUED,
                        retain_until=ts + timedelta(hours=self.limits.keep_hours),
                    )
                )
        except Exception:
            self._files.remove(relative)  # never a file without the row that names it
            raise
        IMAGES_IN.labels(capture.source, "accepted").inc()
        return Accepted(image_id, capture.device, ts, info.width, info.height, queued + 1)

    async def announce(self, accepted: Accepted) -> None:
        """Tell the readers; a failure is logged, not raised: `requeue` announces it later."""
        try:
            await self._bus.publish(
                ImageCaptured.topic, ImageCaptured(image_id=accepted.image_id, device=accepted.device)
            )
        except Exception as exc:
            log.warning("recognition.announce_failed", image=accepted.image_id, error=str(exc))

    @staticmethod
    def queued(session: Session) -> int:
        """Images waiting for a reader."""
        stmt = (
            select(func.count()).select_from(CapturedImage).where(CapturedImage.status == ImageStatus.QUEUED)
        )
        return int(session.scalar(stmt) or 0)

    async def requeue(self, *, older_than_s: float = 30.0, stuck_after_s: float = 120.0) -> int:
        """Announce again every image queued for longer than `older_than_s` (a lost message, a
        restart), after putting back in the queue those a reader claimed `stuck_after_s` ago and
        never finished (its process went down with the platform). A reader claims an image before
        reading it, so an image announced twice is still read once."""
        now = self._clock.now()
        cutoff = now - timedelta(seconds=older_than_s)
        with transaction(self._sessions) as session:
            session.execute(
                update(CapturedImage)
                .where(
                    CapturedImage.status == ImageStatus.READING,
                    CapturedImage.read_at < now - timedelta(seconds=stuck_after_s),
                )
                .values(status=ImageStatus.QUEUED, read_at=None)
            )
        with self._sessions() as session:
            waiting = session.execute(
                select(CapturedImage.id, CapturedImage.device)
                .where(CapturedImage.status == ImageStatus.QUEUED, CapturedImage.received_at < cutoff)
                .order_by(CapturedImage.received_at)
                .limit(self.limits.queue_limit)
            ).all()
        for image_id, device in waiting:
            await self._bus.publish(ImageCaptured.topic, ImageCaptured(image_id=image_id, device=device))
        if waiting:
            log.info("recognition.requeued", images=len(waiting))
        return len(waiting)


__all__ = ["PURPOSES", "Accepted", "Capture", "Intake", "Limits", "check_capture", "parse_capture_ts"]
