"""Plates read from camera images: regions found with classical OpenCV, read with rapidocr's PP-OCR.

Detection needs no model: plates are saturated blue, yellow or green, or white, rectangles of a
known aspect ratio (440 x 140 mm: 3.1; 480 x 140: 3.4) dense with vertical strokes. Colour masks
(HSV) and a vertical-edge map closed into blobs give candidates; each blob's minimum-area
rectangle is filtered by aspect ratio, size and fill, rectified by a perspective warp and scored
by its stroke density. Each crop is then read by the recognition model alone (no text detection,
no orientation classifier: the crop is already one upright line), and the recogniser's
probabilities are fitted to the plate formats enabled here (`plate_format.parse_scored`).

The model is loaded once per process, on first use, behind a lock; onnxruntime sessions may then
be run from several threads at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import structlog

from safecity.recognition import images_decode
from safecity.recognition.images_decode import NotAnImage
from safecity.recognition.plate_format import (
    Charset,
    PlateColour,
    PlateFormat,
    PlateFormats,
    clean_text,
    default_formats,
    parse_plate,
    parse_scored,
)

log = structlog.get_logger(__name__)

MAX_PIXELS = 40_000_000  # a 8K frame; larger is a decompression bomb, not a camera
# The recogniser's input: 48 px high (its training height) and 160 wide. Plates are 3.1-3.4 times
# as wide as high, so 160 holds them unpadded; rapidocr's default 320 doubles the work for
# nothing (measured: 17 ms against 31 ms a crop, the same accuracy).
REC_HEIGHT, REC_WIDTH = 48, 160
_SEPARATORS = frozenset(" ·.-•・:")


@dataclass(frozen=True, slots=True)
class PlateReading:
    """One plate read in an image: the plate, what the model said, how sure, where, what colour."""

    plate: str
    raw_text: str
    confidence: float
    box: tuple[int, int, int, int]  # x, y, w, h in the image given
    colour: PlateColour
    format: PlateFormat
    char_confidences: tuple[float, ...]


class _Recogniser:
    """rapidocr's recognition model, run directly so that its probabilities are kept."""

    def __init__(self, threads: int) -> None:
        from rapidocr import RapidOCR  # imported here: it loads onnxruntime and logs on import

        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        params = {
            "Global.log_level": "warning",
            "Rec.rec_img_shape": [3, REC_HEIGHT, REC_WIDTH],
            # One thread: a worker pool uses the cores; more threads a crop were slower here.
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        engine = RapidOCR(params=params)
        engine(np.full((REC_HEIGHT, REC_WIDTH, 3), 255, np.uint8), use_det=False, use_cls=False)
        rec: Any = engine.text_rec  # loaded by the call above
        self._session = rec.session
        self.charset = Charset(rec.postprocess_op.character)

    def probabilities(self, crops: list[np.ndarray]) -> np.ndarray:
        """Per time step probabilities over the charset, one (T, C) array per BGR crop."""
        batch = np.stack([_normalised(c) for c in crops])
        return np.asarray(self._session(batch))


def _normalised(crop: np.ndarray) -> np.ndarray:
    """The crop as the model takes it: 48 px high, at most 160 wide, padded, scaled to [-1, 1]."""
    h, w = crop.shape[:2]
    width = min(REC_WIDTH, max(8, int(np.ceil(REC_HEIGHT * w / h))))
    resized = cv2.resize(crop, (width, REC_HEIGHT), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    out = np.zeros((3, REC_HEIGHT, REC_WIDTH), np.float32)
    out[:, :, :width] = resized.transpose(2, 0, 1) / 127.5 - 1.0
    return out


_shared: dict[int, _Recogniser] = {}
_lock = threading.Lock()


def _recogniser(threads: int) -> _Recogniser:
    """The process's recogniser, loaded on first use."""
    with _lock:
        if threads not in _shared:
            log.info("plate_model_loading", threads=threads)
            _shared[threads] = _Recogniser(threads)
        return _shared[threads]


def decode_image(data: bytes | np.ndarray) -> np.ndarray:
    """A JPEG or PNG (bytes) or an RGB array as a BGR array, refusing what is not an image.

    Bytes are decoded by `images_decode` (the one decoder of camera images and photos, with its
    refusals); an array is checked for being a picture at all.
    """
    if isinstance(data, np.ndarray):
        if data.ndim not in (2, 3) or data.size == 0 or min(data.shape[:2]) < 8:
            raise NotAnImage(f"the image array has shape {data.shape}, not an image", field="image")
        array = data if data.dtype == np.uint8 else np.clip(data, 0, 255).astype(np.uint8)
        if array.ndim == 2:
            return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
        return cv2.cvtColor(array[:, :, :3], cv2.COLOR_RGB2BGR)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise NotAnImage("the image is empty", field="image")
    rgb = images_decode.decode_image(bytes(data), what="the image", max_pixels=MAX_PIXELS)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


class PlateReader:
    """Finds and reads plates in frames or crops; one per worker, cheap to build (the model is shared)."""

    def __init__(self, formats: PlateFormats | None = None, *, threads: int = 1, max_plates: int = 3) -> None:
        self._formats = formats or default_formats()
        self._threads = threads
        self._max_plates = max_plates

    def read_crop(self, image: bytes | np.ndarray, colour: PlateColour | None = None) -> PlateReading | None:
        """The plate in an image the camera already cropped to it, or None if it reads as no plate."""
        bgr = decode_image(image)
        h, w = bgr.shape[:2]
        return self._read([bgr], [(0, 0, w, h)], [colour])[0]

    def read_frame(self, image: bytes | np.ndarray) -> list[PlateReading]:
        """Every plate found in a full frame, most confident first."""
        bgr = decode_image(image)
        regions = find_plates(bgr, limit=self._max_plates * 2)
        if not regions:
            return []
        readings = self._read(
            [r.crop for r in regions], [r.box for r in regions], [r.colour for r in regions]
        )
        found = [r for r in readings if r is not None]
        found.sort(key=lambda r: -r.confidence)
        unique: dict[str, PlateReading] = {}
        for reading in found:
            unique.setdefault(reading.plate, reading)
        return list(unique.values())[: self._max_plates]

    def _read(
        self,
        crops: list[np.ndarray],
        boxes: list[tuple[int, int, int, int]],
        colours: list[PlateColour | None],
    ) -> list[PlateReading | None]:
        recogniser = _recogniser(self._threads)
        probs = recogniser.probabilities(crops)
        return [
            self._reading(p, recogniser.charset, box, colour)
            for p, box, colour in zip(probs, boxes, colours, strict=True)
        ]

    def _reading(
        self, probs: np.ndarray, charset: Charset, box: tuple[int, int, int, int], colour: PlateColour | None
    ) -> PlateReading | None:
        raw, segments, lead = _ctc_segments(probs, charset)
        scored = parse_scored(segments, charset, self._formats, lead=lead, raw=raw, colour=colour)
        if scored is None:  # fall back on the text alone (its confusion table)
            text = parse_plate(raw, self._formats, colour=colour)
            if text is None:
                return None
            char_p = (float(segments.max(axis=1).mean()) if len(segments) else 0.0,) * len(text.plate)
            scored = (text, char_p)
        text, char_p = scored
        confidence = float(np.exp(np.mean(np.log(np.clip(char_p, 1e-6, 1.0)))))
        return PlateReading(text.plate, raw, confidence, box, text.colour, text.format, char_p)


@dataclass(frozen=True, slots=True)
class PlateRegion:
    """A plate-like region of a frame: the rectified crop (BGR), its box, its colour, its score."""

    crop: np.ndarray
    box: tuple[int, int, int, int]
    colour: PlateColour | None
    score: float


# HSV ranges (OpenCV: H 0-180) of plate backgrounds, wide enough for dusk and sodium lamps.
_COLOUR_RANGES: dict[PlateColour, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    PlateColour.BLUE: ((95, 90, 50), (130, 255, 255)),
    PlateColour.YELLOW: ((12, 90, 90), (35, 255, 255)),
    PlateColour.GREEN: ((35, 40, 80), (90, 255, 255)),
    PlateColour.WHITE: ((0, 0, 170), (180, 45, 255)),
}
ASPECT_MIN, ASPECT_MAX = 2.0, 5.5  # 3.1-3.4 head-on; foreshortening and a loose box widen it
MIN_PLATE_H, MAX_AREA_SHARE = 12, 0.2
_WORK_WIDTH = 1280  # frames are searched at this width at most (plates stay over 12 px high)


def find_plates(frame: np.ndarray, *, limit: int = 6) -> list[PlateRegion]:
    """Plate-like regions of a BGR frame, best first, each rectified to an upright crop."""
    scale = min(1.0, _WORK_WIDTH / frame.shape[1])
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    # Characters make dense vertical strokes: the x gradient, closed into blobs, finds plates of
    # any colour (and white ones, whose colour is everywhere in a street).
    edges = cv2.convertScaleAbs(cv2.Sobel(cv2.GaussianBlur(gray, (3, 3), 0), cv2.CV_16S, 1, 0, ksize=3))
    _, strokes = cv2.threshold(edges, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    masks: list[tuple[PlateColour | None, np.ndarray]] = [(None, _closed(strokes, 17, 3))]
    for plate_colour, (low, high) in _COLOUR_RANGES.items():
        masks.append((plate_colour, _closed(cv2.inRange(hsv, low, high), 7, 3)))
    candidates: list[PlateRegion] = []
    for colour, mask in masks:
        for rect in _plate_rects(mask, small.shape[:2]):
            region = _region(frame, small, rect, scale, colour, strokes)
            if region is not None:
                candidates.append(region)
    return _suppressed(sorted(candidates, key=lambda r: -r.score), limit)


def _closed(mask: np.ndarray, kw: int, kh: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (kw, kh))
    return cv2.morphologyEx(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel), cv2.MORPH_OPEN, kernel)


def _plate_rects(mask: np.ndarray, shape: tuple[int, ...]) -> list[Any]:
    """Minimum-area rectangles of the mask's blobs shaped like a plate."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for contour in contours:
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        long, short = max(w, h), min(w, h)
        if short < MIN_PLATE_H or long * short > MAX_AREA_SHARE * shape[0] * shape[1]:
            continue
        if not ASPECT_MIN <= long / short <= ASPECT_MAX:
            continue
        if cv2.contourArea(contour) < 0.5 * long * short:  # ragged blobs are not plates
            continue
        found.append(((cx, cy), (w, h), angle))
    return found


def _region(
    frame: np.ndarray,
    small: np.ndarray,
    rect: Any,
    scale: float,
    colour: PlateColour | None,
    strokes: np.ndarray,
) -> PlateRegion | None:
    """The rectangle rectified from the full-size frame, scored by its stroke density."""
    corners = _ordered(cv2.boxPoints(rect)) / scale
    width = float(np.linalg.norm(corners[1] - corners[0]))
    height = float(np.linalg.norm(corners[3] - corners[0]))
    # A little margin: the box hugs the plate's colour and may cut a character's edge.
    centre = corners.mean(axis=0)
    corners = centre + (corners - centre) * np.array([1.06, 1.12])
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    crop = cv2.warpPerspective(frame, matrix, (int(width), int(height)), borderMode=cv2.BORDER_REPLICATE)
    x, y, w, h = cv2.boundingRect((corners * scale).astype(np.int32))
    patch = strokes[max(0, y) : y + h, max(0, x) : x + w]
    density = float(patch.mean() / 255) if patch.size else 0.0
    if density < 0.08:  # a plain panel (a window, a van's side): no characters in it
        return None
    fx, fy, fw, fh = cv2.boundingRect(corners.astype(np.int32))
    fx, fy = max(0, fx), max(0, fy)
    score = density + (0.2 if colour is not None and colour is not PlateColour.WHITE else 0.0)
    return PlateRegion(crop, (fx, fy, fw, fh), colour, score)


def _ordered(points: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left, the long side horizontal."""
    pts = points[np.argsort(points[:, 1])]
    top, bottom = pts[:2][np.argsort(pts[:2, 0])], pts[2:][np.argsort(pts[2:, 0])]
    ordered = np.array([top[0], top[1], bottom[1], bottom[0]], np.float32)
    if np.linalg.norm(ordered[1] - ordered[0]) < np.linalg.norm(ordered[3] - ordered[0]):
        ordered = np.roll(ordered, -1, axis=0)  # standing on its short side: turn it
    return ordered


def _suppressed(regions: list[PlateRegion], limit: int) -> list[PlateRegion]:
    """Best-first regions without those overlapping a better one by more than half."""
    kept: list[PlateRegion] = []
    for region in regions:
        if all(_iou(region.box, k.box) < 0.5 for k in kept):
            kept.append(region)
        if len(kept) == limit:
            break
    return kept


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def _ctc_segments(probs: np.ndarray, charset: Charset) -> tuple[str, np.ndarray, np.ndarray | None]:
    """Greedy CTC: the raw text, one probability row per emitted character, and the steps before."""
    best = probs.argmax(axis=1)
    spans: list[tuple[int, int, int]] = []  # (column, first step, last step)
    for t, column in enumerate(best):
        if column == 0:  # blank
            continue
        if spans and spans[-1][0] == column and spans[-1][2] == t - 1:
            spans[-1] = (column, spans[-1][1], t)
        else:
            spans.append((int(column), t, t))
    raw = "".join(charset.chars[c] for c, _, _ in spans)
    kept = [s for s in spans if clean_text(charset.chars[s[0]]) and charset.chars[s[0]] not in _SEPARATORS]
    if not kept:
        return raw, np.zeros((0, probs.shape[1]), np.float32), None
    segments = np.stack([probs[a : b + 1].max(axis=0) for _, a, b in kept])
    first = kept[0][1]
    lead = probs[:first].max(axis=0) if first > 0 else None
    return raw, segments, lead


__all__ = [
    "PlateReader",
    "PlateReading",
    "PlateRegion",
    "decode_image",
    "find_plates",
]
