"""The recognition capability: camera images in, plates and faces read in a process pool, vehicle
lists matched at checkpoints, face hits reviewed by a person before any alert, a lost person's
photo searched across recent sightings, and images kept no longer than their purpose."""

from __future__ import annotations

from typing import Any

from safecity.core.capabilities import Capability, Service
from safecity.core.worker import Every, Task
from safecity.ingest.settings import IngestSettings
from safecity.recognition.checkpoints import Checkpoints, CheckpointWatch, WatchSource
from safecity.recognition.enrol import Enrolments
from safecity.recognition.facewatch import CameraFaceMatches, EnrolledFaces, FaceWatch
from safecity.recognition.images import ImageFiles
from safecity.recognition.intake import Intake, Limits
from safecity.recognition.keeping import RETENTION, Housekeeping
from safecity.recognition.lists import load_lists
from safecity.recognition.lost import LostPersonSearch
from safecity.recognition.mqtt_images import images_over_mqtt
from safecity.recognition.plate_format import PlateFormats
from safecity.recognition.plate_votes import PlateVoter
from safecity.recognition.pool import ReaderPool
from safecity.recognition.readers import Readers
from safecity.recognition.review import Reviews
from safecity.recognition.settings import SECTION, RecognitionSettings
from safecity.recognition.shown import ShownImages

REQUEUE_S = 60.0
HOUSEKEEPING_S = 300.0


def _settings(platform: Any) -> RecognitionSettings:
    return platform.settings.section(RecognitionSettings)


def _files(platform: Any) -> ImageFiles:
    s = _settings(platform)
    return ImageFiles(s.recognition_images_dir or platform.settings.data_dir / "images")


def _pool(platform: Any) -> ReaderPool:
    s = _settings(platform)
    return ReaderPool(s.recognition_workers, timeout_s=s.recognition_image_timeout_s)


def _intake(platform: Any) -> Intake:
    s, ingest = _settings(platform), platform.settings.section(IngestSettings)
    limits = Limits(
        max_bytes=s.recognition_max_image_bytes,
        max_pixels=s.recognition_max_pixels,
        queue_limit=s.recognition_queue_limit,
        max_age_s=ingest.max_event_age_s,
        max_future_s=ingest.max_future_skew_s,
        keep_hours=s.recognition_image_hours,
    )
    return Intake(
        platform.session_factory,
        platform.service(ImageFiles),
        platform.devices,
        platform.bus,
        platform.clock,
        limits,
    )


def _shown(platform: Any) -> ShownImages:
    return ShownImages(platform.session_factory, platform.service(ImageFiles), platform.service(ReaderPool))


def _checkpoints(platform: Any) -> Checkpoints:
    return Checkpoints(
        platform.session_factory, platform.security, platform.clock, platform.service(ShownImages)
    )


def _enrolled(platform: Any) -> EnrolledFaces:
    s = _settings(platform)
    thresholds = {
        "fugitive": s.recognition_fugitive_max_distance,
        "missing_person": s.recognition_missing_max_distance,
    }
    return EnrolledFaces(platform.session_factory, platform.facts.watchlist, thresholds)


def _reviews(platform: Any) -> Reviews:
    return Reviews(
        platform.session_factory,
        platform.security,
        platform.clock,
        platform.service(ShownImages),
        platform.service(ImageFiles),
        platform.facts.entry_facts,
        platform.handle_findings,
        expiry_minutes=_settings(platform).recognition_review_expiry_minutes,
    )


def _enrolments(platform: Any) -> Enrolments:
    s = _settings(platform)
    return Enrolments(
        platform.session_factory,
        platform.security,
        platform.clock,
        platform.service(ImageFiles),
        platform.service(ReaderPool),
        max_bytes=s.recognition_max_image_bytes,
        max_pixels=s.recognition_max_pixels,
    )


def _lost(platform: Any) -> LostPersonSearch:
    s = _settings(platform)
    return LostPersonSearch(
        platform.session_factory,
        platform.security,
        platform.clock,
        platform.service(ImageFiles),
        platform.service(ReaderPool),
        platform.service(ShownImages),
        keep_hours=s.recognition_unmatched_face_hours,
        max_bytes=s.recognition_max_image_bytes,
        max_pixels=s.recognition_max_pixels,
    )


def _locator(platform: Any) -> Any:
    def locate(device: str) -> tuple[float | None, float | None]:
        frame = platform.devices.frame
        row = frame.filter(frame["device"] == device)
        if not row.height:
            return None, None
        return row["dev_lat"][0], row["dev_lon"][0]

    return locate


class PoolKeeper:
    """Stops the reader processes with the platform."""

    name = "recognition-pool"

    def __init__(self, pool: ReaderPool) -> None:
        self._pool = pool

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._pool.close()


def _workers(platform: Any) -> list[Any]:
    s = _settings(platform)
    policies = load_lists(s.recognition_lists_file, platform.settings.data_dir)
    # A wrong profile or file stops the platform at start, naming it, not each reader at each image.
    PlateFormats.load(s.recognition_plate_profile, s.recognition_plate_formats_file)
    formats_file = str(s.recognition_plate_formats_file) if s.recognition_plate_formats_file else None
    enrolled = platform.service(EnrolledFaces)
    faces = FaceWatch(
        platform.session_factory,
        enrolled,
        _locator(platform),
        platform.clock,
        unmatched_hours=s.recognition_unmatched_face_hours,
    )
    readers = Readers(
        platform.bus,
        platform.session_factory,
        platform.service(ImageFiles),
        platform.service(ReaderPool),
        platform.ingest.submit_parts,
        platform.ingest.refuse_parts,
        platform.clock,
        voter=PlateVoter(gap_s=s.recognition_plate_group_gap_s),
        faces=faces.take,
        plate_formats=(s.recognition_plate_profile, formats_file),
    )
    watch = CheckpointWatch(
        platform.bus,
        platform.session_factory,
        WatchSource(platform.facts.watchlist, policies),
        platform.facts.entry_facts,
        platform.handle_findings,
        platform.clock,
    )
    cameras = CameraFaceMatches(platform.bus, platform.session_factory, enrolled, platform.clock)
    intake, reviews = platform.service(Intake), platform.service(Reviews)
    keeping = Housekeeping(platform.session_factory, platform.service(ImageFiles), platform.clock)

    async def requeue() -> None:
        import asyncio

        while True:
            await asyncio.sleep(REQUEUE_S)
            await intake.requeue(
                older_than_s=REQUEUE_S / 2, stuck_after_s=2 * s.recognition_image_timeout_s + 30
            )

    return [
        PoolKeeper(platform.service(ReaderPool)),
        Task("recognition-readers", readers.run),
        Task("recognition-checkpoints", watch.run),
        Task("recognition-face-matches", cameras.run),
        Task("recognition-requeue", requeue),
        Every("recognition-housekeeping", HOUSEKEEPING_S, lambda: (reviews.expire(), keeping.run())),
        *images_over_mqtt(platform),  # cameras' images over MQTT, when MQTT ingest is on
    ]


CAPABILITY = Capability(
    name="recognition",
    summary="Checkpoints and recognition: plates and faces read from camera images, vehicle lists at "
    "checkpoints, face hits reviewed before any alert, a lost person's photo searched",
    requires=("registry", "security"),
    extensions=(
        SECTION,
        *RETENTION,
        Service(ImageFiles, _files),
        Service(ReaderPool, _pool),
        Service(ShownImages, _shown),
        Service(Intake, _intake),
        Service(Checkpoints, _checkpoints),
        Service(EnrolledFaces, _enrolled),
        Service(Reviews, _reviews),
        Service(Enrolments, _enrolments),
        Service(LostPersonSearch, _lost),
    ),
    build=_workers,
)

__all__ = ["CAPABILITY"]
