"""The readers: a worker on the image queue that reads each stored image in the pool and turns
what it found into records, face sightings and review items.

For each `ImageCaptured` (several at once, as many as the pool has processes): the image's row
is loaded (one already read is skipped: a redelivery), read in the pool, and its readings kept
on the row. Plates then go to the voter (`plate_votes`): the readings of one passing vehicle at
one camera become one `plate_read` record, so one bad frame does not miss a car. A reading
that is already sure (a valid plate read at `EMIT_CONFIDENCE` or better) is sent at once, for
the checkpoint's sake; if the vote of its vehicle later says otherwise, a corrected read follows
naming the first (`attrs.corrects`). Records go through the ingest pipeline like a camera's own
(source `recognition`), so the lake, the rules and the checkpoint watch see them the same way.
Faces go to `FaceWatch` (sightings, matches, the review queue).

A poisoned image (its reader crashed twice, or hung) is marked failed with the reason and
dead-lettered; the other images go on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from safecity.bus import Bus, Delivery
from safecity.core.clock import Clock
from safecity.core.ids import is_valid_plate
from safecity.core.record import WireEvent
from safecity.ingest.pipeline import DecodedPart, IngestResult, Part, Submission
from safecity.recognition.errors import BadCapture
from safecity.recognition.events import IMAGES, ImageCaptured
from safecity.recognition.images import ImageFiles
from safecity.recognition.images_decode import ImageRefused
from safecity.recognition.models import CapturedImage, ImageStatus
from safecity.recognition.plate_votes import PlateObservation, PlateVoter, VotedRead
from safecity.recognition.pool import ReaderFailed, ReaderPool
from safecity.recognition.reading import PlateSeen, ReadJob, ReadResult, read_image
from safecity.store import transaction

log = structlog.get_logger(__name__)
READ = Counter("safecity_recognition_read_total", "Images read, by outcome", ["outcome"])
READ_SECONDS = Histogram(
    "safecity_recognition_read_seconds",
    "Time to read one image in the pool",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EMIT_CONFIDENCE = 0.9  # a reading this sure is sent before its vehicle's vote closes
SOURCE = "recognition"

Submit = Callable[[list[Submission]], Awaitable[list[IngestResult]]]
Refuse = Callable[[list[Submission], str], Awaitable[list[IngestResult]]]
FaceSink = Callable[[CapturedImage, ReadResult], object]


def _epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Readers:
    """Reads queued images in the pool; plates become records, faces go to the face watch."""

    GROUP = "recognition-readers"

    def __init__(
        self,
        bus: Bus,
        sessions: sessionmaker[Session],
        files: ImageFiles,
        pool: ReaderPool,
        submit: Submit,
        refuse: Refuse,
        clock: Clock,
        *,
        voter: PlateVoter,
        faces: FaceSink | None = None,
        arrival: Callable[[], datetime] | None = None,
        plate_formats: tuple[str, str | None] = ("cn", None),
    ) -> None:
        self._bus = bus
        self._sessions = sessions
        self._files = files
        self._pool = pool
        self._submit = submit
        self._refuse = refuse
        self._clock = clock
        self._voter = voter
        self._plate_formats = plate_formats  # profile and file: the readers load them themselves
        # A passing vehicle's frames are grouped by when they reached the voter, not by the
        # camera's time against the platform's clock: behind a backlog (or on the demo's fast
        # clock) the camera's times are long past when they are read, and every frame would
        # close a vote of its own.
        self._arrival: Callable[[], datetime] = arrival or (lambda: datetime.now(UTC))
        self._faces = faces
        # Reads sent early, by camera: (plate, event id, arrival), so the vote can confirm or correct them.
        self._early: dict[str, list[tuple[str, str, datetime]]] = {}
        self._lock = asyncio.Lock()  # the voter is fed from several reads at once

    async def run(self) -> None:
        """Take images off the queue, as many at once as the pool has processes (and one more)."""
        slots = asyncio.Semaphore(self._pool.workers + 1)
        tasks: set[asyncio.Task[None]] = set()
        ticker = asyncio.create_task(self._tick())
        try:
            async for delivery in self._bus.subscribe(IMAGES, group=self.GROUP):
                await slots.acquire()
                task = asyncio.create_task(self._one(delivery))
                tasks.add(task)

                def done(finished: asyncio.Task[None]) -> None:
                    tasks.discard(finished)
                    slots.release()

                task.add_done_callback(done)
        finally:
            ticker.cancel()
            for task in tasks:
                task.cancel()

    async def _tick(self) -> None:
        """Cast the votes of vehicles the cameras have gone quiet about, ten times a second."""
        while True:
            await asyncio.sleep(0.1)
            try:
                await self.cast_due()
            except Exception:
                log.exception("recognition.vote_failed")

    async def cast_due(self) -> None:
        """Close and send the votes of vehicles no frame has arrived about for the gap."""
        async with self._lock:
            closed = self._voter.due(self._arrival())
        if closed:
            await self._send_votes(closed)

    async def _one(self, delivery: Delivery) -> None:
        event = delivery.payload
        if isinstance(event, ImageCaptured):
            try:
                await self.read(event.image_id)
            except Exception:
                # Not acknowledged: a persistent bus delivers it again, and `requeue` announces it.
                log.exception("recognition.read_crashed", image=event.image_id)
                return
        await delivery.ack()

    async def read(self, image_id: str) -> ReadResult | None:
        """Read one queued image and hand on what it found; None if it was read already or failed."""
        image = self._claim(image_id)
        if image is None:
            return None
        box = (image.box[0], image.box[1], image.box[2], image.box[3]) if image.box else None
        job = ReadJob(
            str(self._files.path(image.path)), image.purpose, image.framing, box, *self._plate_formats
        )
        try:
            with READ_SECONDS.time():
                result = await self._pool.run(read_image, job)
        except (ReaderFailed, ImageRefused, BadCapture, OSError) as exc:
            await self._failed(image, str(exc))
            return None
        except Exception as exc:  # a reader's own bug on this image: isolate it like a crash
            log.exception("recognition.reader_error", image=image_id)
            await self._failed(image, f"the reader failed: {type(exc).__name__}: {exc}")
            return None
        self._store(image, result)
        READ.labels("read").inc()
        if result.plates:
            await self._plates(image, result.plates)
        if result.faces and self._faces is not None:
            await asyncio.to_thread(self._faces, image, result)
        return result

    def _claim(self, image_id: str) -> CapturedImage | None:
        """Take a queued image for this reader, or None if another has it or it is done: the same
        image announced twice (a redelivery, a requeue under backlog) is read once."""
        with transaction(self._sessions) as session:
            claimed = session.execute(
                update(CapturedImage)
                .where(CapturedImage.id == image_id, CapturedImage.status == ImageStatus.QUEUED)
                .values(status=ImageStatus.READING, read_at=self._clock.now())
            ).rowcount  # type: ignore[attr-defined]
            if not claimed:
                return None
            image = session.get(CapturedImage, image_id)
            assert image is not None
            session.expunge(image)
            return image

    def _store(self, image: CapturedImage, result: ReadResult) -> None:
        readings = {
            "plates": [asdict(p) for p in result.plates],
            "faces": [
                {"box": list(f.box), "size_px": f.size_px, "sharpness": f.sharpness} for f in result.faces
            ],
            "ms": result.ms,
        }
        with transaction(self._sessions) as session:
            row = session.get(CapturedImage, image.id)
            if row is not None:
                row.status, row.readings, row.read_at = ImageStatus.READ, readings, self._clock.now()

    async def _failed(self, image: CapturedImage, reason: str) -> None:
        READ.labels("failed").inc()
        log.warning("recognition.image_failed", image=image.id, device=image.device, reason=reason)
        with transaction(self._sessions) as session:
            row = session.get(CapturedImage, image.id)
            if row is not None:
                row.status, row.error, row.read_at = ImageStatus.FAILED, reason, self._clock.now()
        note = {
            "image": image.id,
            "device": image.device,
            "ts": image.ts.isoformat(),
            "bytes": image.size_bytes,
        }
        body = json.dumps(note, ensure_ascii=False).encode()
        try:
            await self._refuse(
                [Part(body=body, device_id=image.device, source=SOURCE)], f"image not read: {reason}"
            )
        except Exception:
            log.exception("recognition.dead_letter_failed", image=image.id)

    async def _plates(self, image: CapturedImage, plates: list[PlateSeen]) -> None:
        early: list[WireEvent] = []
        closed: list[VotedRead] = []
        arrived = self._arrival()
        async with self._lock:
            for n, plate in enumerate(plates):
                closed += self._voter.feed(
                    PlateObservation(
                        image.device,
                        arrived,
                        plate.plate,
                        plate.confidence,
                        plate.char_confidences or None,
                        ref=(image.id, n, plate),
                    )
                )
                if plate.confidence >= EMIT_CONFIDENCE and is_valid_plate(plate.plate):
                    sent = self._early.setdefault(image.device, [])
                    if not any(p == plate.plate and arrived - at <= self._window() for p, _, at in sent):
                        event_id = f"{image.id}-p{n}"
                        sent.append((plate.plate, event_id, arrived))
                        early.append(self._event(event_id, image, plate, frames=1))
        if early:
            await self._send(image.device, early)
        if closed:
            await self._send_votes(closed)

    def _window(self) -> timedelta:
        return timedelta(seconds=60)

    def _event(
        self, event_id: str, image: CapturedImage, plate: PlateSeen, *, frames: int, **extra: object
    ) -> WireEvent:
        attrs = {
            "image": image.id,
            "box": list(plate.box),
            "raw": plate.raw,
            "colour": plate.colour,
            "format": plate.format,
            "frames": frames,
            "reader": SOURCE,
            **extra,
        }
        return WireEvent(
            id=event_id,
            kind="plate_read",
            ts=_epoch_ms(image.ts),
            subject=plate.plate,
            value=plate.confidence,
            attrs=attrs,
        )

    async def _send_votes(self, closed: list[VotedRead]) -> None:
        by_camera: dict[str, list[WireEvent]] = {}
        for voted in closed:
            event = self._voted_event(voted)
            if event is not None:
                by_camera.setdefault(voted.camera, []).append(event)
        for camera, events in by_camera.items():
            await self._send(camera, events)

    def _voted_event(self, voted: VotedRead) -> WireEvent | None:
        """The vote's record: none if an early read said the same; a correction if it said otherwise."""
        sent = self._early.get(voted.camera, [])
        mine = [(p, e, at) for p, e, at in sent if voted.first_at <= at <= voted.last_at]
        for item in mine:
            sent.remove(item)
        if not sent:
            self._early.pop(voted.camera, None)
        if any(p == voted.plate for p, _, _ in mine) or not is_valid_plate(voted.plate):
            return None
        image_id, n, best = max(
            (r.ref for r in voted.readings if r.plate == voted.plate), key=lambda ref: ref[2].confidence
        )
        with self._sessions() as session:
            image = session.get(CapturedImage, image_id)
            if image is None:
                return None
            session.expunge(image)
        extra: dict[str, object] = {"agreed": voted.agreed}
        if mine:
            extra["corrects"] = [e for _, e, _ in mine]
        seen = PlateSeen(
            voted.plate, best.raw, round(voted.confidence, 4), best.box, best.colour, best.format
        )
        return self._event(f"{image_id}-v{n}", image, seen, frames=len(voted.readings), **extra)

    async def _send(self, camera: str, events: list[WireEvent]) -> None:
        [result] = await self._submit([DecodedPart(events=events, device_id=camera, source=SOURCE)])
        if result.rejected or result.error:
            log.warning(
                "recognition.reads_refused",
                camera=camera,
                error=result.error,
                rejected=[(r.event_id, r.field, r.reason) for r in result.rejected],
            )


__all__ = ["EMIT_CONFIDENCE", "Readers"]
