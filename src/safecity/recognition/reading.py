"""What a reader process does with one stored image: plates and faces read, as plain picklable data.

Runs inside the reader pool (`pool.py`): each process keeps one `PlateReader` and one
`FaceEngine`, made on first use, so a model is loaded once per process, not per image. The
image is read from its file (not passed through the pool's pipe) and decoded here, in the
process that may crash on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safecity.recognition.images_decode import decode_image

_engines: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class ReadJob:
    """One image to read: where its file is, what to look for, what the camera marked."""

    path: str
    purpose: str  # plate | face | any
    framing: str  # frame | crop
    box: tuple[int, int, int, int] | None = None  # x, y, w, h
    plate_profile: str = "cn"  # the plate formats a reading may take (plate_formats.yaml)
    plate_formats_file: str | None = None  # None: the packaged profiles


@dataclass(frozen=True, slots=True)
class PlateSeen:
    """A plate read in the image."""

    plate: str
    raw: str
    confidence: float
    box: tuple[int, int, int, int]  # x, y, w, h in the whole image
    colour: str
    format: str
    char_confidences: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class FaceSeen:
    """A face found in the image, with its descriptor."""

    box: tuple[int, int, int, int]  # left, top, right, bottom
    embedding: bytes  # 128 float32, dlib's scale
    size_px: int
    sharpness: float
    detector_score: float
    frontal: float


@dataclass(frozen=True, slots=True)
class ReadResult:
    """Everything read in one image."""

    plates: list[PlateSeen] = field(default_factory=list)
    faces: list[FaceSeen] = field(default_factory=list)
    ms: float = 0.0


def _plate_reader(profile: str = "cn", formats_file: str | None = None) -> Any:
    key = f"plates:{profile}:{formats_file}"
    if key not in _engines:
        from safecity.recognition.plate_format import PlateFormats
        from safecity.recognition.plate_reader import PlateReader

        formats = PlateFormats.load(profile, Path(formats_file) if formats_file else None)
        _engines[key] = PlateReader(formats)
    return _engines[key]


def _face_engine() -> Any:
    if "faces" not in _engines:
        from safecity.recognition.faces import FaceEngine

        _engines["faces"] = FaceEngine()
    return _engines["faces"]


def _plates(rgb: Any, job: ReadJob) -> list[PlateSeen]:
    reader = _plate_reader(job.plate_profile, job.plate_formats_file)
    if job.framing == "crop" or job.box is not None:
        x, y, w, h = job.box or (0, 0, rgb.shape[1], rgb.shape[0])
        found = reader.read_crop(rgb[y : y + h, x : x + w])
        readings = [] if found is None else [found]
        offset = (x, y)
    else:
        readings = reader.read_frame(rgb)
        offset = (0, 0)
    return [
        PlateSeen(
            r.plate,
            r.raw_text,
            round(float(r.confidence), 4),
            (r.box[0] + offset[0], r.box[1] + offset[1], r.box[2], r.box[3]),
            str(r.colour),
            str(r.format),
            tuple(round(float(c), 4) for c in r.char_confidences),
        )
        for r in readings
    ]


def _faces(rgb: Any, job: ReadJob) -> list[FaceSeen]:
    engine = _face_engine()
    if job.box is not None:
        from safecity.recognition.faces import Box

        x, y, w, h = job.box
        found = [engine.describe(rgb, Box(x, y, x + w, y + h))]
    else:
        found = engine.detect(rgb)
    return [
        FaceSeen(
            tuple(int(v) for v in f.box),  # type: ignore[arg-type]
            f.embedding.astype("float32").tobytes(),
            int(f.quality.size_px),
            float(f.quality.sharpness),
            float(f.quality.detector_score),
            float(f.quality.frontal),
        )
        for f in found
    ]


def read_image(job: ReadJob) -> ReadResult:
    """Read an image's plates and faces as its purpose asks (runs in a reader process)."""
    started = time.perf_counter()
    rgb = decode_image(Path(job.path).read_bytes(), what="image")
    plates = _plates(rgb, job) if job.purpose in ("plate", "any") else []
    faces = _faces(rgb, job) if job.purpose in ("face", "any") else []
    return ReadResult(plates, faces, round((time.perf_counter() - started) * 1000, 1))


@dataclass(frozen=True, slots=True)
class Described:
    """The descriptor of the one face of one or more photos, or why the photos were refused."""

    embedding: bytes = b""
    spread: float = 0.0
    faces: int = 0
    refused: tuple[str, str, str | None] | None = None  # the error's class name, message and field


def describe_photos(paths: list[str]) -> Described:
    """One person's descriptor from their photos (enrolment's checks: one clear face in each);
    a refusal comes back as data, because a pickled exception loses its field."""
    from safecity.core.errors import DomainError

    try:
        enrolment = _face_engine().enrolment_embedding([Path(p).read_bytes() for p in paths])
    except DomainError as exc:
        return Described(refused=(type(exc).__name__, exc.message, exc.field))
    return Described(
        enrolment.embedding.astype("float32").tobytes(), float(enrolment.spread), len(enrolment.faces)
    )


__all__ = ["Described", "FaceSeen", "PlateSeen", "ReadJob", "ReadResult", "describe_photos", "read_image"]
