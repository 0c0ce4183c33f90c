"""Benchmark `recognition_latency` (issue 14): a camera image to a hit waiting in the review queue, at 50/s.

A real embedded platform (SQLite, memory bus, local lake, the system clock) with recognition as
configured by default: the reader pool has `recognition_workers` processes (the machine's cores
less one). One fugitive is enrolled through the enrolment use case from the astronaut's portrait
(`sim.face_images.astronaut`, the one large frontal real face the wheels ship); one face camera
posts images through `Intake.keep` + `Intake.announce`, as the HTTP and MQTT edges do, at
`RATE` images/s offered (each post is its own task at its scheduled time, as concurrent
requests are) for `DURATION_S`.

The images are **face crops**, as a face camera with edge detection sends its snapshots: the
face the camera found, cut out with half a face of margin on each side (`framing: crop`, no
`box`), so the platform detects the face in the crop and computes its descriptor. One image in
`FUGITIVE_EVERY` is the fugitive (the portrait augmented under a seed: light, tilt, framing,
blur, noise, JPEG); the others are Grace Hopper (matplotlib's sample portrait, augmented) and
the LFW crops scikit-image ships (25 px, scaled up to 150 px as a distant face is). Only
fugitive crops that the synchronous reader matches are used, so every one is a hit to wait for.

* `image_to_review_p95_ms`: for each fugitive image, from its scheduled post to its pending
  `face_reviews` row existing (polled every `POLL_S`, committed rows only); p95, with
  `image_to_review_p50_ms`. Baseline: the same fugitive crops read synchronously in this
  process, one at a time (decode, dlib detect, descriptor, exact match against the enrolled
  descriptor), p95; ratio = baseline / value (how much the queue and the hops cost).
* `images_per_s`: images read per second from the first post to the last read;
  `offered_per_s`: the posting rate actually achieved; `queue_peak`: most images waiting for a
  reader (`captured_images` queued). When `images_per_s` is below the offered rate the queue
  grows for as long as the cameras post, every latency with it (the rows say `sustained: false`
  and the images refused as `Busy` once the queue limit is reached are counted).

An image whose review has not appeared when the drain ends (`DRAIN_S`) counts with the time it
had waited by then (`missed`, `lower_bound: true`). `load_avg_1m` says how busy the machine was.

Full size: 60 s of posting (BENCH_RATE sets another rate). BENCH_SIZE=small: 4 s (about a
minute with the set-up and the drain on two cores). Progress on stderr.
`make bench NAME=recognition_latency`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from PIL import Image
from sqlalchemy import func, select

from safecity import registry
from safecity.core.context import system_context
from safecity.recognition.enrol import Enrolments, NewEnrolment
from safecity.recognition.errors import Busy
from safecity.recognition.faces import FaceEngine
from safecity.recognition.images_decode import decode_image
from safecity.recognition.intake import Capture, Intake
from safecity.recognition.models import CapturedImage, FaceReview, ImageStatus
from safecity.recognition.settings import RecognitionSettings
from safecity.settings import Settings
from safecity.sim import face_images as fi

SMALL = os.environ.get("BENCH_SIZE") == "small"
DURATION_S = 4 if SMALL else 60
# Images/s offered: the figure. BENCH_RATE=6 measures a rate one reader sustains on 2 cores.
RATE = float(os.environ.get("BENCH_RATE", "50"))
FUGITIVE_EVERY = 8  # one image in eight is the fugitive
VARIANTS = 10 if SMALL else 60  # distinct augmented crops of each portrait (reused round-robin)
DRAIN_S = 60 if SMALL else 900  # after posting: how long the readers get to finish
POLL_S = 0.01
CAMERA = "CAM-FC-BENCH"
MAX_DISTANCE = 0.5  # the fugitive list's default (`recognition_fugitive_max_distance`)
TARGETS: dict[str, float] = {}  # the issue names the figure, not a target


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    ratio = round(baseline / value, 3) if baseline is not None and value else None
    row = {
        "bench": "recognition_latency",
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": ratio,
        "target": TARGETS.get(metric),
        **extra,
    }
    print(json.dumps(row), flush=True)


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# The images.


def face_crop(engine: FaceEngine, rgb: np.ndarray) -> np.ndarray | None:
    """The largest face the camera's detector finds, with half a face of margin; None if none."""
    faces = engine.detect(rgb)
    if not faces:
        return None
    box = max(faces, key=lambda f: f.quality.size_px).box
    margin = (box.right - box.left) // 2
    h, w = rgb.shape[:2]
    top, left = max(0, box.top - margin), max(0, box.left - margin)
    return rgb[top : min(h, box.bottom + margin), left : min(w, box.right + margin)]


def grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    sample = cbook.get_sample_data("grace_hopper.jpg")  # a file object: asfileobj defaults to True
    assert not isinstance(sample, np.ndarray)
    with sample as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


@dataclass
class Images:
    """The crops to post, and the synchronous reader's time for each fugitive crop."""

    fugitive: list[bytes] = field(default_factory=list)
    others: list[bytes] = field(default_factory=list)
    baseline_ms: list[float] = field(default_factory=list)


def read_synchronously(engine: FaceEngine, data: bytes, enrolled: np.ndarray) -> tuple[float, float]:
    """Decode, detect, describe and match one crop as one process would; (ms, nearest distance)."""
    started = time.perf_counter()
    rgb = decode_image(data)
    faces = engine.detect(rgb)
    distances = [float(np.linalg.norm(enrolled - f.embedding, axis=1).min()) for f in faces]
    ms = (time.perf_counter() - started) * 1000
    return ms, min(distances, default=9.0)


def prepare(engine: FaceEngine, portrait: bytes) -> Images:
    """Augmented crops of both portraits and the LFW faces; fugitive crops the reader matches."""
    enrolled = engine.enrolment_embedding([portrait]).embedding[None, :]
    images = Images()
    seed = 0
    while len(images.fugitive) < VARIANTS:
        seed += 1
        crop = face_crop(engine, fi.augment(fi.astronaut(), seed))
        if crop is None:
            continue  # the camera found no face in this frame: it sends nothing
        data = fi.encode(crop)
        ms, distance = read_synchronously(engine, data, enrolled)
        if distance <= MAX_DISTANCE:
            images.fugitive.append(data)
            images.baseline_ms.append(ms)
    hopper = grace_hopper()
    for seed in range(1, VARIANTS + 1):
        crop = face_crop(engine, fi.augment(hopper, 1000 + seed))
        if crop is not None:
            images.others.append(fi.encode(crop))
    for face in fi.lfw_faces():
        up = Image.fromarray(face).resize((150, 150), Image.Resampling.BICUBIC)
        images.others.append(fi.encode(np.asarray(up)))
    return images


# The platform.


async def build(data_dir: Path) -> Any:
    """A started embedded platform with a face camera and the enrolled fugitive."""
    from safecity.platform import Platform

    platform = Platform.build(Settings(data_dir=data_dir))
    with platform.session_factory() as session, session.begin():
        registry.create_device(
            session,
            device_id=CAMERA,
            kind="face_camera",
            name="station entrance",
            lat=28.0,
            lon=120.7,
            area_id=None,
            now=platform.clock.now(),
        )
    await platform.start()
    await platform.service(Enrolments).enrol(
        system_context(),
        NewEnrolment("fugitive", "bench fugitive (sample photograph)", "benchmark"),
        [fi.encode(fi.astronaut())],
        resource="bench",
    )
    return platform


class Watch:
    """Polls the database: when each review row first exists, and the queue's length."""

    def __init__(self, platform: Any) -> None:
        self._sessions = platform.session_factory
        self.seen: dict[str, float] = {}  # image id -> monotonic time its review row was seen
        self.queue_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last_review, polls = 0, 0
        while not self._stop.is_set():
            with self._sessions() as session:
                rows = session.execute(
                    select(FaceReview.id, FaceReview.image_id).where(FaceReview.id > last_review)
                ).all()
                now = time.monotonic()
                for review_id, image_id in rows:
                    self.seen.setdefault(image_id, now)
                    last_review = max(last_review, review_id)
                if polls % 10 == 0:  # the queue every 0.1 s: a count, cheap enough not to load SQLite
                    self.queue_peak = max(self.queue_peak, Intake.queued(session))
            polls += 1
            time.sleep(POLL_S)


def count_read(platform: Any) -> tuple[int, int]:
    """Images read (or failed) and still queued."""
    with platform.session_factory() as session:
        done = session.scalar(
            select(func.count())
            .select_from(CapturedImage)
            .where(CapturedImage.status.not_in((ImageStatus.QUEUED, ImageStatus.READING)))
        )
        return int(done or 0), Intake.queued(session)


@dataclass
class Posted:
    """What the cameras posted."""

    fugitive: dict[str, float] = field(default_factory=dict)  # image id -> scheduled post time
    accepted: int = 0
    busy: int = 0
    first_at: float = 0.0
    last_at: float = 0.0


async def post_all(intake: Intake, images: Images, now: Any) -> Posted:
    """Post at RATE for DURATION_S, each image in its own task at its time."""
    posted = Posted()
    total = int(RATE * DURATION_S)
    start = time.monotonic() + 0.5
    posted.first_at = start
    tasks = []

    async def one(i: int, at: float) -> None:
        is_fugitive = i % FUGITIVE_EVERY == 0
        pool = images.fugitive if is_fugitive else images.others
        data = pool[(i // FUGITIVE_EVERY if is_fugitive else i) % len(pool)]
        capture = Capture(device=CAMERA, ts=now().isoformat(), framing="crop", source="sim")
        try:
            accepted = await asyncio.to_thread(intake.keep, capture, data)
        except Busy:
            posted.busy += 1
            return
        await intake.announce(accepted)
        posted.accepted += 1
        if is_fugitive:
            posted.fugitive[accepted.image_id] = at

    for i in range(total):
        at = start + i / RATE
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        tasks.append(asyncio.create_task(one(i, at)))
        if i and i % int(RATE * 2) == 0:
            say(f"  posted {i} of {total}")
    posted.last_at = time.monotonic()
    await asyncio.gather(*tasks)
    return posted


async def run(images: Images) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-recognition-") as tmp:
        platform = await build(Path(tmp))
        try:
            workers = platform.settings.section(RecognitionSettings).recognition_workers
            say(f"platform up; {workers} reader process(es); warming the readers")
            intake = platform.service(Intake)
            for data in images.fugitive[:workers] + images.others[:workers]:
                await intake.announce(
                    intake.keep(Capture(CAMERA, platform.clock.now().isoformat(), framing="crop"), data)
                )
            while count_read(platform)[1]:
                await asyncio.sleep(0.1)
            warm_read, _ = count_read(platform)
            watch = Watch(platform)
            watch.start()
            say(f"posting {RATE:g} images/s for {DURATION_S} s")
            posted = await post_all(intake, images, platform.clock.now)
            say(f"posted: {posted.accepted} kept, {posted.busy} refused as busy; draining")
            deadline = time.monotonic() + DRAIN_S
            while time.monotonic() < deadline:
                read, queued = count_read(platform)
                if not queued and all(i in watch.seen for i in posted.fugitive):
                    break
                await asyncio.sleep(0.1)
            finished_at = time.monotonic()
            read, queued = count_read(platform)
            watch.stop()
            report(images, posted, watch, workers, read - warm_read, queued, finished_at)
        finally:
            await platform.stop()


def report(
    images: Images, posted: Posted, watch: Watch, workers: int, read: int, left: int, finished_at: float
) -> None:
    # An image still without its review when the drain ended counts with the time it had waited
    # by then: the percentiles are then a lower bound (`lower_bound: true`), never flattered.
    latencies = [watch.seen.get(i, finished_at) - at for i, at in posted.fugitive.items()]
    missed = sum(1 for i in posted.fugitive if i not in watch.seen)
    ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    offered = int(RATE * DURATION_S) / (posted.last_at - posted.first_at)
    throughput = read / (finished_at - posted.first_at)
    sustained = throughput >= 0.95 * RATE and posted.busy == 0
    baseline = float(np.percentile(images.baseline_ms, 95))
    common = {
        "recognition_workers": workers,
        "rate_offered_per_s": RATE,
        "duration_s": DURATION_S,
        "sustained": sustained,
        "load_avg_1m": round(os.getloadavg()[0], 2),  # other work on the machine, for reading the figures
    }
    emit(
        "image_to_review_p95_ms",
        float(np.percentile(ms, 95)),
        "ms",
        baseline=baseline,
        fugitive_images=len(posted.fugitive),
        missed=missed,
        lower_bound=missed > 0,
        **common,
    )
    emit(
        "image_to_review_p50_ms",
        float(np.percentile(ms, 50)),
        "ms",
        baseline=float(np.median(images.baseline_ms)),
        **common,
    )
    emit("images_per_s", throughput, "images/s", **common)
    emit("offered_per_s", offered, "images/s", kept=posted.accepted, refused_busy=posted.busy, **common)
    emit("queue_peak", watch.queue_peak, "images", left_unread=left, **common)
    if not sustained:
        say(
            f"NOT SUSTAINED: {throughput:.1f} images/s read against {RATE:g} offered with {workers} "
            f"reader process(es); the queue grew to {watch.queue_peak} and every latency with it"
        )


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))  # stdout: figures only
    started = time.perf_counter()
    say("preparing crops (the camera's detector, the synchronous baseline)")
    engine = FaceEngine()
    images = prepare(engine, fi.encode(fi.astronaut()))
    baseline = np.percentile(images.baseline_ms, 95)
    say(
        f"{len(images.fugitive)} fugitive crops (baseline p95 {baseline:.1f} ms), {len(images.others)} others"
    )
    asyncio.run(run(images))
    say(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
