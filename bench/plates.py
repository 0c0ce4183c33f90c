"""Benchmark `plates` (issue 14): reading rendered plates, time per crop, and hot-list recall.

Plates are rendered by the simulator (`sim.plate_images`: Noto Sans SC, every format, each with
none, one or two of blur, motion blur, perspective, night, JPEG artefacts and a small size),
encoded as JPEG as a camera posts them, and read by `PlateReader.read_crop`:

* `plate_exact_pct`: share read exactly (format and province included). Baseline: rapidocr's own
  recognition output on the same crops (its default 48x320 input), separators and case cleaned
  but no plate rules; `ratio` = ours / baseline here (higher is better).
* `plate_ms_p95`: p95 time a crop (decode, recognise, fit the formats), one thread. Baseline:
  rapidocr's full pipeline (text detection, orientation and recognition) on a few of the crops.
* `hotlist_recall_pct`: the rendered plates, all listed among 100,000 entries (four lists), each
  read as a camera reads a passing vehicle: the plate above and two more frames of it, each with
  its own degradations, voted into one read (`plate_votes`, as the platform's readers do), then
  matched by `PlateMatcher`. The threshold is the largest of 0.5 / 1.0 / 1.5 whose false hits
  (reads of 20,000 plates on no list that hit one) stay at most 0.1 % (`false_hit_pct` reported).
  Baseline: exact match of the same voted reads. `hotlist_frame_recall_pct`: the same from one
  frame only, the first.

Full size: 2,000 plates, 100,000 entries. BENCH_SIZE=small: 200 and 20,000 (under a minute).
Failed reads are written to /tmp/plates-bench/ for inspection. `make bench NAME=plates`.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from safecity.recognition.plate_format import PlateFormat, clean_text
from safecity.recognition.plate_match import PlateMatcher
from safecity.recognition.plate_reader import PlateReader, PlateReading
from safecity.recognition.plate_votes import PlateObservation, vote
from safecity.sim.plate_images import (
    DEGRADATIONS,
    PlateRenderer,
    PlateSample,
    degrade,
    encode,
    plate_samples,
    random_plate,
)

SMALL = os.environ.get("BENCH_SIZE") == "small"
PLATES = 200 if SMALL else 2_000
ENTRIES = 20_000 if SMALL else 100_000
UNLISTED = 20_000
TARGETS = {"plate_exact_pct": 95.0, "plate_ms_p95": 30.0, "hotlist_recall_pct": 99.0}
LISTS = ("wanted", "stolen", "suspicious", "forged")
FAILURES = Path("/tmp/plates-bench")


def emit(
    metric: str, value: float, unit: str, *, baseline: float | None = None, higher: bool = False, **extra: Any
) -> None:
    if baseline is None or not value or not baseline:
        ratio = None
    else:
        ratio = round(value / baseline if higher else baseline / value, 2)
    row = {
        "bench": "plates",
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": ratio,
        "target": TARGETS.get(metric),
        **extra,
    }
    print(json.dumps(row, ensure_ascii=False), flush=True)


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r{label:<12} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def read_all(
    reader: PlateReader, samples: list[PlateSample]
) -> tuple[list[PlateReading | None], list[float]]:
    reads: list[PlateReading | None] = []
    times: list[float] = []
    reader.read_crop(samples[0].encoded())  # the model loads once, outside the timing
    for i, sample in enumerate(samples):
        data = sample.encoded()
        start = time.perf_counter()
        reads.append(reader.read_crop(data))
        times.append((time.perf_counter() - start) * 1000)
        if i % 50 == 0 or i == len(samples) - 1:
            progress("read", i + 1, len(samples))
    return reads, times


def baseline_rapidocr(samples: list[PlateSample]) -> tuple[float, float]:
    """rapidocr alone: recognition's text (cleaned) exact share; the full pipeline's p95 ms."""
    from rapidocr import RapidOCR

    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    engine = RapidOCR(
        params={"Global.log_level": "warning", "EngineConfig.onnxruntime.intra_op_num_threads": 1}
    )
    right = 0
    for i, sample in enumerate(samples):
        out = engine(cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR), use_det=False, use_cls=False)
        text = clean_text(out.txts[0]) if out.txts else ""
        right += text == sample.plate
        if i % 50 == 0 or i == len(samples) - 1:
            progress("baseline", i + 1, len(samples))
    times = []
    for sample in samples[:100]:
        data = sample.encoded()
        start = time.perf_counter()
        engine(data)
        times.append((time.perf_counter() - start) * 1000)
    return 100 * right / len(samples), float(np.percentile(times, 95))


def passes(
    reader: PlateReader, renderer: PlateRenderer, samples: list[PlateSample], reads: list[PlateReading | None]
) -> list[PlateReading | None]:
    """Each sample's vehicle read in three frames (its own and two more), voted into one read."""
    rng = np.random.default_rng(7)
    at = datetime(2026, 12, 7, tzinfo=UTC)
    voted: list[PlateReading | None] = []
    for i, (sample, first) in enumerate(zip(samples, reads, strict=True)):
        frames = [first]
        clean = renderer.render(sample.plate, sample.format, sample.colour)
        for _ in range(2):
            n = int(rng.choice(3, p=[0.25, 0.45, 0.30]))
            what = tuple(sorted(str(d) for d in rng.choice(DEGRADATIONS, size=n, replace=False)))
            frames.append(reader.read_crop(encode(degrade(clean, rng, what))))
        seen = [
            PlateObservation(
                "bench", at + timedelta(milliseconds=200 * k), r.plate, r.confidence, r.char_confidences
            )
            for k, r in enumerate(frames)
            if r is not None
        ]
        if not seen:
            voted.append(None)
        else:
            plate, confidence = vote(seen)
            best = max((r for r in frames if r is not None), key=lambda r: r.confidence)
            voted.append(
                PlateReading(plate, best.raw_text, confidence, best.box, best.colour, best.format, ())
            )
        if i % 50 == 0 or i == len(samples) - 1:
            progress("passes", i + 1, len(samples))
    return voted


def hotlist(
    samples: list[PlateSample], reads: list[PlateReading | None], *, metric: str = "hotlist_recall_pct"
) -> None:
    rng = np.random.default_rng(99)
    listed = {s.plate for s in samples}
    fmts = [PlateFormat.ORDINARY] * 7 + [PlateFormat.NEW_ENERGY_SMALL] * 2 + [PlateFormat.NEW_ENERGY_LARGE]
    while len(listed) < ENTRIES:
        listed.add(random_plate(rng, fmts[int(rng.integers(len(fmts)))])[0])
    plates = sorted(listed)
    entry_of = {p: i for i, p in enumerate(plates)}
    entries = [(i, p, LISTS[i % len(LISTS)]) for i, p in enumerate(plates)]
    unlisted: list[str] = []
    while len(unlisted) < UNLISTED:
        plate = random_plate(rng, fmts[int(rng.integers(len(fmts)))])[0]
        if plate not in listed:
            unlisted.append(plate)
    exact = 100 * sum(r is not None and r.plate == s.plate for s, r in zip(samples, reads, strict=True))
    chosen: tuple[float, float, float, float, float] | None = None
    for threshold in (0.5, 1.0, 1.5):
        start = time.perf_counter()
        matcher = PlateMatcher.build(entries, dict.fromkeys(LISTS, threshold))
        build_s = time.perf_counter() - start
        hits = 0
        times = []
        for sample, read in zip(samples, reads, strict=True):
            if read is None:
                continue
            start = time.perf_counter()
            found = matcher.match(read.plate)
            times.append((time.perf_counter() - start) * 1000)
            hits += any(m.entry_id == entry_of[sample.plate] for m in found)
        false = sum(bool(matcher.match(p)) for p in unlisted)
        recall, false_pct = 100 * hits / len(samples), 100 * false / len(unlisted)
        sys.stderr.write(f"threshold {threshold}: recall {recall:.2f} %, false hits {false_pct:.3f} %\n")
        if false_pct <= 0.1:
            chosen = (threshold, recall, false_pct, float(np.percentile(times, 99)), build_s)
    if chosen is None:
        emit(
            metric,
            0.0,
            "%",
            baseline=exact / len(samples),
            higher=True,
            note="no threshold held 0.1 %",
        )
        return
    threshold, recall, false_pct, p99_ms, build_s = chosen
    emit(
        metric,
        recall,
        "%",
        baseline=exact / len(samples),
        higher=True,
        threshold=threshold,
        false_hit_pct=round(false_pct, 3),
        entries=len(entries),
    )
    if metric == "hotlist_recall_pct":
        emit("hotlist_match_ms_p99", p99_ms, "ms", entries=len(entries), build_s=round(build_s, 1))


def main() -> None:
    renderer = PlateRenderer()
    samples = []
    for i, sample in enumerate(plate_samples(PLATES, seed=2026, renderer=renderer)):
        samples.append(sample)
        if i % 100 == 0 or i == PLATES - 1:
            progress("render", i + 1, PLATES)
    reader = PlateReader()
    reads, times = read_all(reader, samples)
    right = [r is not None and r.plate == s.plate for s, r in zip(samples, reads, strict=True)]
    FAILURES.mkdir(exist_ok=True)
    for old in FAILURES.glob("*.png"):
        old.unlink()
    by_format: dict[str, list[bool]] = {}
    by_degradation: dict[str, list[bool]] = {}
    for sample, read, ok in zip(samples, reads, right, strict=True):
        by_format.setdefault(sample.format.value, []).append(ok)
        for what in sample.degradations or ("clean",):
            by_degradation.setdefault(what, []).append(ok)
        if not ok:
            name = f"{sample.plate}-{read.plate if read else 'none'}-{'+'.join(sample.degradations)}.png"
            cv2.imwrite(str(FAILURES / name), cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR))
    base_pct, base_ms = baseline_rapidocr(samples)
    emit(
        "plate_exact_pct",
        100 * sum(right) / len(samples),
        "%",
        baseline=base_pct,
        higher=True,
        plates=len(samples),
        by_format={k: round(100 * sum(v) / len(v), 1) for k, v in sorted(by_format.items())},
        by_degradation={k: round(100 * sum(v) / len(v), 1) for k, v in sorted(by_degradation.items())},
    )
    emit(
        "plate_ms_p95",
        float(np.percentile(times, 95)),
        "ms",
        baseline=base_ms,
        median_ms=round(statistics.median(times), 2),
    )
    hotlist(samples, reads, metric="hotlist_frame_recall_pct")
    hotlist(samples, passes(reader, renderer, samples, reads))


if __name__ == "__main__":
    main()
