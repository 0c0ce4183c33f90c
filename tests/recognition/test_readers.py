"""The readers' bookkeeping: an image announced twice is read once, a poisoned one is marked failed
and dead-lettered with the reason, and one a reader never finished goes back in the queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.platform import Platform
from safecity.recognition.images import ImageFiles
from safecity.recognition.intake import Capture, Intake
from safecity.recognition.models import CapturedImage, ImageStatus
from safecity.recognition.plate_votes import PlateVoter
from safecity.recognition.pool import ReaderFailed
from safecity.recognition.readers import Readers
from safecity.recognition.reading import ReadResult
from safecity.store import transaction
from tests.conftest import T0
from tests.recognition.conftest import plate_jpeg
from tests.web.conftest import fresh_platform, schema_db  # noqa: F401  (the same fixture)

CAMERA = "CAM-R-1"


class FakePool:
    """Stands in for the process pool: counts reads, answers or fails as told."""

    workers = 1

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls = 0
        self.fail = fail

    async def run(self, func: Any, *args: Any) -> ReadResult:
        self.calls += 1
        await asyncio.sleep(0.05)  # a second announcement arrives while the first is being read
        if self.fail is not None:
            raise self.fail
        return ReadResult()


@pytest.fixture
def platform(schema_db: Path, tmp_path: Path) -> Iterator[Platform]:  # noqa: F811
    built = fresh_platform(schema_db, tmp_path)
    with transaction(built.session_factory) as session:
        registry.create_device(
            session,
            device_id=CAMERA,
            kind="plate_camera",
            name=CAMERA,
            lat=28.0,
            lon=120.7,
            area_id=None,
            now=T0,
        )
    yield built
    built.engine.dispose()


def _readers(platform: Platform, pool: FakePool, refused: list[str]) -> Readers:
    async def submit(parts: Any) -> Any:
        raise AssertionError("nothing was read, nothing is submitted")

    async def refuse(parts: Any, reason: str) -> Any:
        refused.append(reason)
        return []

    return Readers(
        platform.bus,
        platform.session_factory,
        platform.service(ImageFiles),
        pool,  # type: ignore[arg-type]
        submit,
        refuse,
        platform.clock,
        voter=PlateVoter(),
    )


def _kept(platform: Platform) -> str:
    accepted = platform.service(Intake).keep(
        Capture(CAMERA, T0.isoformat(), framing="crop"), plate_jpeg("浙A12345")
    )
    return accepted.image_id


def _status(platform: Platform, image_id: str) -> tuple[str, str | None]:
    with platform.session_factory() as session:
        row = session.get(CapturedImage, image_id)
        assert row is not None
        return row.status, row.error


def test_an_image_announced_twice_is_read_once(platform: Platform) -> None:
    pool, refused = FakePool(), []
    readers = _readers(platform, pool, refused)
    image_id = _kept(platform)

    async def twice() -> list[Any]:
        return list(await asyncio.gather(readers.read(image_id), readers.read(image_id)))

    results = asyncio.run(twice())
    assert pool.calls == 1 and results.count(None) == 1
    assert _status(platform, image_id) == (ImageStatus.READ, None)


def test_a_poisoned_image_is_marked_failed_and_dead_lettered(platform: Platform) -> None:
    pool, refused = FakePool(ReaderFailed("the reader crashed on this image, alone in its process")), []
    readers = _readers(platform, pool, refused)
    image_id = _kept(platform)
    assert asyncio.run(readers.read(image_id)) is None
    status, error = _status(platform, image_id)
    assert status == ImageStatus.FAILED and error is not None and "crashed" in error
    assert refused == ["image not read: the reader crashed on this image, alone in its process"]


def test_an_image_a_reader_never_finished_goes_back_in_the_queue(platform: Platform) -> None:
    image_id = _kept(platform)
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    with transaction(platform.session_factory) as session:
        row = session.get(CapturedImage, image_id)
        assert row is not None
        row.status, row.read_at = ImageStatus.READING, T0
    intake = platform.service(Intake)
    clock.set(T0 + timedelta(seconds=60))
    asyncio.run(intake.requeue(older_than_s=0, stuck_after_s=120))
    assert _status(platform, image_id)[0] == ImageStatus.READING  # not yet: it may still be read
    clock.set(T0 + timedelta(seconds=200))
    assert asyncio.run(intake.requeue(older_than_s=0, stuck_after_s=120)) == 1
    assert _status(platform, image_id)[0] == ImageStatus.QUEUED


class PlatePool(FakePool):
    """Answers each image with the next plate reading of a passing vehicle."""

    def __init__(self, readings: list[tuple[str, float]]) -> None:
        super().__init__()
        self.readings = readings

    async def run(self, func: Any, *args: Any) -> ReadResult:
        from safecity.recognition.reading import PlateSeen

        plate, confidence = self.readings[self.calls]
        self.calls += 1
        return ReadResult(plates=[PlateSeen(plate, plate, confidence, (0, 0, 10, 3), "blue", "ordinary")])


def test_a_vehicles_frames_read_late_are_still_one_read(platform: Platform) -> None:
    """Frames of one pass read an hour after they were taken (a backlog, the demo's fast clock)
    are voted together by when they arrive: one record, not one per frame."""
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    sent: list[Any] = []

    async def submit(parts: Any) -> Any:
        sent.extend(e for part in parts for e in part.events)
        from safecity.ingest.pipeline import IngestResult

        return [IngestResult(batch_id="b")]

    wall = [T0]
    readers = Readers(
        platform.bus,
        platform.session_factory,
        platform.service(ImageFiles),
        PlatePool([("浙C7M2K9", 0.96), ("浙C7M2K9", 0.95), ("浙C7M2K8", 0.5)]),  # type: ignore[arg-type]
        submit,
        submit,  # type: ignore[arg-type]
        clock,
        voter=PlateVoter(gap_s=2.0),
        arrival=lambda: wall[0],
    )
    images = [_kept(platform) for _ in range(3)]
    clock.set(T0 + timedelta(hours=1))  # the platform's clock is far past the camera's times

    async def go() -> None:
        for k, image_id in enumerate(images):
            wall[0] = T0 + timedelta(milliseconds=300 * k)
            await readers.read(image_id)
            await readers.cast_due()  # the ticker runs between frames
        wall[0] = T0 + timedelta(seconds=10)
        await readers.cast_due()

    asyncio.run(go())
    assert [(e.subject, e.attrs["frames"]) for e in sent] == [("浙C7M2K9", 1)]


def test_an_unknown_plate_profile_stops_the_platform_at_start_naming_it(
    schema_db: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    from safecity.recognition.plate_format import PlateFormatError

    built = fresh_platform(schema_db, tmp_path, recognition_plate_profile="atlantis")
    try:
        with pytest.raises(PlateFormatError, match="atlantis"):
            built.workers()
    finally:
        built.engine.dispose()
