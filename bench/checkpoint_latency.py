"""Benchmark `checkpoint_latency` (issue 14, "Done when"): a listed plate's image at a checkpoint
camera to its hit at the checkpoint view.

A real embedded platform (SQLite, memory bus, local lake, the system clock, the default reader
pool), one road checkpoint camera, one plate on the wanted-vehicle list among `LISTED` others.
The camera posts plate crops (`framing: crop`, rendered by `sim.plate_images` with the demo's
degradations) through `Intake.keep` + `Intake.announce` as the HTTP edge does, `RATE` a second
for `DURATION_S`: one in `EVERY` is a wanted car (each a different one: the same car seen again
within a minute at one camera is the same pass, one read), the rest routine traffic.

* `image_to_hit_p95_ms`: from each listed image's post to its `checkpoint_hits` row (polled every
  10 ms), p95 (and the median). The checkpoint view polls every 0.7 s on top of this.
  Baseline: the same crop read synchronously (decode, regions skipped, recognise, match) in
  this process; ratio = baseline / value.
* `images_per_s`: images read a second.

Full size: 60 s. BENCH_SIZE=small: 10 s. Progress on stderr. `make bench NAME=checkpoint_latency`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from sqlalchemy import select

from safecity import registry
from safecity.core.context import system_context
from safecity.recognition.checkpoints import Checkpoints
from safecity.recognition.intake import Capture, Intake
from safecity.recognition.models import CapturedImage, CheckpointHit
from safecity.recognition.plate_format import PlateFormat
from safecity.recognition.plate_match import PlateMatcher
from safecity.recognition.plate_reader import PlateReader
from safecity.registry.actions import PlateListing
from safecity.settings import Settings
from safecity.sim.plate_images import PlateRenderer, degrade, encode, random_plate

SMALL = os.environ.get("BENCH_SIZE") == "small"
DURATION_S = 10.0 if SMALL else 60.0
RATE = 4.0  # images a second: a busy checkpoint lane's frames, on a 2-core machine with one reader
EVERY = 4
LISTED = 10_000
CAMERA = "KK-BENCH"
PLATE = "闽C7K2M5"
TARGETS = {"image_to_hit_p95_ms": 1000.0}
POLL_S = 0.01


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    ratio = round(baseline / value, 2) if baseline is not None and value else None
    row = {
        "bench": "checkpoint_latency",
        "metric": metric,
        "value": round(value, 2),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 2),
        "ratio": ratio,
        "target": TARGETS.get(metric),
        **extra,
    }
    print(json.dumps(row, ensure_ascii=False), flush=True)


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def crops(n: int, wanted: list[str]) -> list[tuple[bytes, bool]]:
    """`n` crops in posting order: a wanted car every EVERY-th, degraded like the demo's."""
    rng = np.random.default_rng(14)
    renderer = PlateRenderer()
    out = []
    for i in range(n):
        listed = i % EVERY == 0
        plate = wanted[i // EVERY] if listed else random_plate(rng, PlateFormat.ORDINARY)[0]
        what = tuple(
            str(d) for d in rng.choice(["blur", "jpeg", "perspective"], size=int(rng.integers(0, 2)))
        )
        out.append(
            (encode(degrade(renderer.render(plate, PlateFormat.ORDINARY, _colour()), rng, what)), listed)
        )
        if i % 20 == 0:
            sys.stderr.write(f"\rrender {i + 1}/{n}")
    sys.stderr.write("\n")
    return out


def _colour() -> Any:
    from safecity.recognition.plate_format import PlateColour

    return PlateColour.BLUE


def wanted_plates(n: int) -> list[str]:
    """The wanted cars, one per listed image (none of them routine traffic's plates)."""
    rng = np.random.default_rng(5)
    plates: list[str] = [PLATE]
    while len(plates) < n:
        plate = "闽" + random_plate(rng, PlateFormat.ORDINARY)[0][1:]
        if plate not in plates:
            plates.append(plate)
    return plates


async def build(data_dir: Path, wanted: list[str]) -> Any:
    from safecity.platform import Platform

    platform = Platform.build(Settings(data_dir=data_dir))
    with platform.session_factory() as session, session.begin():
        registry.create_device(
            session, device_id=CAMERA, kind="checkpoint_camera", name="bench checkpoint",
            lat=28.0, lon=120.7, area_id=None, now=platform.clock.now(),
        )  # fmt: skip
    await platform.start()
    ctx = system_context()
    for plate in wanted:
        platform.registry.list_plate(
            ctx, PlateListing(plate, "wanted_vehicle", "benchmark"), resource="bench"
        )
    rng = np.random.default_rng(3)
    listed = set()
    while len(listed) < LISTED:
        listed.add(random_plate(rng, PlateFormat.ORDINARY)[0])
    for plate in sorted(listed - {PLATE})[: LISTED - 1]:
        try:
            platform.registry.list_plate(
                ctx, PlateListing(plate, "stolen_vehicle", "benchmark"), resource="bench"
            )
        except Exception:  # a plate the generator drew twice
            continue
    return platform


async def run() -> None:
    total = int(RATE * DURATION_S)
    wanted = wanted_plates(total // EVERY + 1)
    images = crops(total, wanted)
    reader = PlateReader()
    matcher = PlateMatcher.build(
        [(i, p, "wanted_vehicle") for i, p in enumerate(wanted)], {"wanted_vehicle": 1.0}
    )
    reader.read_crop(images[1][0])  # the model loads once, outside the timing
    baseline = []
    for data, listed in images:
        if listed:
            start = time.perf_counter()
            found = reader.read_crop(data)
            matcher.match(found.plate if found else "")
            baseline.append((time.perf_counter() - start) * 1000)
    with tempfile.TemporaryDirectory(prefix="safecity-bench-") as tmp:
        say("building the platform and listing plates ...")
        platform = await build(Path(tmp), wanted)
        intake = platform.service(Intake)
        seen: dict[str, float] = {}
        stop = threading.Event()

        def watch() -> None:
            last = 0
            while not stop.is_set():
                with platform.session_factory() as session:
                    for hit_id, image_id in session.execute(
                        select(CheckpointHit.id, CheckpointHit.image_id).where(CheckpointHit.id > last)
                    ):
                        seen.setdefault(str(image_id), time.monotonic())
                        last = max(last, hit_id)
                time.sleep(POLL_S)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # The first image loads the reader's model (seconds): posted and read before timing starts.
        first = await asyncio.to_thread(
            intake.keep, Capture(CAMERA, int(time.time() * 1000), framing="crop"), images[1][0]
        )
        await intake.announce(first)
        while True:
            with platform.session_factory() as session:
                row = session.get(CapturedImage, first.image_id)
                if row is not None and row.status == "read":
                    break
            await asyncio.sleep(0.1)
        posted: dict[str, float] = {}
        start = time.monotonic()
        for i, (data, listed) in enumerate(images):
            at = start + i / RATE
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            t0 = time.monotonic()
            accepted = await asyncio.to_thread(
                intake.keep, Capture(CAMERA, int(time.time() * 1000), framing="crop"), data
            )
            await intake.announce(accepted)
            if listed:
                posted[accepted.image_id] = t0
            if i % 10 == 0:
                sys.stderr.write(f"\rpost {i + 1}/{len(images)}")
        sys.stderr.write("\n")
        deadline = time.monotonic() + 30
        while len(set(posted) & set(seen)) < len(posted) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        elapsed = max(seen.values(), default=time.monotonic()) - start
        stop.set()
        watcher.join()
        latencies = [(seen[i] - t) * 1000 for i, t in posted.items() if i in seen]
        missed = len(posted) - len(latencies)
        hits_view = platform.service(Checkpoints).hits(system_context(), limit=500)
        await platform.stop()
    emit(
        "image_to_hit_p95_ms",
        float(np.percentile(latencies, 95)) if latencies else float("inf"),
        "ms",
        baseline=float(np.percentile(baseline, 95)),
        p50_ms=round(float(np.percentile(latencies, 50)), 1) if latencies else None,
        listed_images=len(posted),
        missed=missed,
        hits=len(hits_view),
        entries=LISTED,
        load_avg_1m=round(os.getloadavg()[0], 2),
    )
    emit("images_per_s", len(images) / elapsed, "images/s", offered_per_s=RATE, note="to the last hit")


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=open(os.devnull, "w")))  # noqa: SIM115
    asyncio.run(run())


if __name__ == "__main__":
    main()
