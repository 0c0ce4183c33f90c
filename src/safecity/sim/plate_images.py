"""Synthetic plate images with ground truth: GA 36 plates drawn in Noto Sans SC, then degraded.

Plates are drawn at their real proportions (440 x 140 mm; 480 x 140 mm for the 8-character
new-energy plates) with each character stretched into its 45 x 90 mm cell as the plate font is,
the separator dot after the second character, the frame line and the two rivets. Degradations
copy what a roadside camera does to them: defocus and motion blur, a perspective view, night
(dark, sensor noise, a headlamp's glare), JPEG artefacts and a plate only a few pixels high. A
plate can also be pasted onto a synthetic car front in a street frame, for the detector.

Everything is drawn from one `numpy` generator, so a seed gives the same images on any machine.
The font comes from the console's woff2 chunks (`store.fonts`); nothing is downloaded.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from safecity.core.ids import PROVINCES
from safecity.recognition.plate_format import (
    ARMED_POLICE_SERVICES,
    DIGITS,
    LETTERS,
    MILITARY_FIRST,
    PlateColour,
    PlateFormat,
)
from safecity.store.fonts import BOLD, NOTO_SANS_SC_DIR, FontChunks

RGB = tuple[int, int, int]
FONT_CACHE = Path(tempfile.gettempdir()) / "safecity-fonts"
DEGRADATIONS = ("blur", "motion", "perspective", "night", "jpeg", "small")
PX_PER_MM = 2.0  # drawn at 880 x 280 px, then degraded and scaled
_SERIAL = LETTERS + DIGITS


@dataclass(frozen=True, slots=True)
class PlateStyle:
    """How a plate looks: background (two colours for a gradient), text, the characters in red."""

    background: RGB
    background_end: RGB | None
    text: RGB
    red_positions: tuple[int, ...] = ()


_RED: RGB = (200, 20, 20)
STYLES: dict[PlateColour, PlateStyle] = {
    PlateColour.BLUE: PlateStyle((10, 60, 170), None, (245, 245, 245)),
    PlateColour.YELLOW: PlateStyle((245, 190, 20), None, (15, 15, 15)),
    PlateColour.GREEN: PlateStyle((235, 250, 235), (70, 190, 90), (15, 15, 15)),
    PlateColour.YELLOW_GREEN: PlateStyle((240, 200, 40), (90, 190, 90), (15, 15, 15)),
    PlateColour.WHITE: PlateStyle((240, 240, 240), None, (15, 15, 15)),
    PlateColour.BLACK: PlateStyle((20, 20, 20), None, (245, 245, 245)),
}


@dataclass(frozen=True, slots=True)
class PlateSample:
    """One rendered plate: the image (RGB), what it says, its format and colour, what was done to it."""

    image: np.ndarray
    plate: str
    format: PlateFormat
    colour: PlateColour
    degradations: tuple[str, ...]

    def encoded(self, kind: str = ".jpg", quality: int = 92) -> bytes:
        """The image as JPEG or PNG bytes, as a camera would post it."""
        return encode(self.image, kind, quality)


@dataclass(frozen=True, slots=True)
class FrameSample:
    """A street frame holding one plate on a car front, with the plate's box (x, y, w, h)."""

    image: np.ndarray
    plate: str
    format: PlateFormat
    colour: PlateColour
    box: tuple[int, int, int, int]


def random_plate(rng: np.random.Generator, fmt: PlateFormat) -> tuple[str, PlateColour]:
    """A plate of the format with a random serial, and the colour it is issued in."""

    def pick(chars: str, n: int = 1) -> str:
        return "".join(chars[int(i)] for i in rng.integers(0, len(chars), n))

    head = pick(PROVINCES) + pick(LETTERS)
    if fmt is PlateFormat.ORDINARY:
        # Real serials carry at most two letters; most are digits.
        serial = [pick(DIGITS) for _ in range(5)]
        for pos in rng.choice(5, size=int(rng.integers(0, 3)), replace=False):
            serial[int(pos)] = pick(LETTERS)
        colour = PlateColour.BLUE if rng.random() < 0.75 else PlateColour.YELLOW
        return head + "".join(serial), colour
    four = pick(_SERIAL) + pick(DIGITS, 3)
    match fmt:
        case PlateFormat.NEW_ENERGY_SMALL:
            return head + pick("DF") + pick(_SERIAL) + pick(DIGITS, 4), PlateColour.GREEN
        case PlateFormat.NEW_ENERGY_LARGE:
            return head + pick(DIGITS, 5) + pick("DF"), PlateColour.YELLOW_GREEN
        case PlateFormat.POLICE:
            return head + pick(DIGITS, 4) + "警", PlateColour.WHITE
        case PlateFormat.COACH:
            return head + four + "学", PlateColour.YELLOW
        case PlateFormat.TRAILER:
            return head + four + "挂", PlateColour.YELLOW
        case PlateFormat.HK_MACAU:
            return "粤Z" + four + pick("港澳"), PlateColour.BLACK
        case PlateFormat.TRIAL:
            return head + four + pick("试超"), PlateColour.WHITE
        case PlateFormat.MILITARY:
            return pick(MILITARY_FIRST) + pick(LETTERS) + pick(DIGITS, 5), PlateColour.WHITE
        case _:  # armed police, provincial
            tail = pick(DIGITS) if rng.random() < 0.7 else pick(ARMED_POLICE_SERVICES)
            return "WJ" + pick(PROVINCES) + pick(DIGITS, 4) + tail, PlateColour.WHITE
    return head + pick(DIGITS, 5), PlateColour.BLUE  # pragma: no cover - every format matched above


def _red_positions(fmt: PlateFormat, plate: str) -> tuple[int, ...]:
    """Characters printed in red: 警 on police plates, the unit letters of military ones, WJ."""
    if fmt is PlateFormat.POLICE:
        return (len(plate) - 1,)
    if fmt in (PlateFormat.MILITARY, PlateFormat.ARMED_POLICE):
        return (0, 1)
    return ()


class PlateRenderer:
    """Draws plates in Noto Sans SC Bold, converting the font's chunks once into `cache`."""

    def __init__(self, font_dir: Path = NOTO_SANS_SC_DIR, cache: Path = FONT_CACHE) -> None:
        self._chunks = FontChunks(font_dir, cache)

    def render(self, plate: str, fmt: PlateFormat, colour: PlateColour) -> np.ndarray:
        """The clean plate, RGB, at `PX_PER_MM`."""
        eight = len(plate) == 8
        width_mm, char_w, gap, split = (480, 43, 9, 49) if eight else (440, 45, 12, 34)
        w, h = int(width_mm * PX_PER_MM), int(140 * PX_PER_MM)
        style = STYLES[colour]
        image = _background(w, h, style)
        draw = ImageDraw.Draw(image)
        s = PX_PER_MM
        frame = style.text if colour is not PlateColour.BLUE else (235, 235, 235)
        draw.rounded_rectangle(
            (3 * s, 3 * s, w - 3 * s, h - 3 * s), radius=int(6 * s), outline=frame, width=3
        )
        for rx in (w * 0.25, w * 0.75):  # the rivets
            draw.ellipse((rx - 5 * s, 12 * s, rx + 5 * s, 22 * s), fill=(170, 170, 170))
        red = _red_positions(fmt, plate)
        text_w = len(plate) * char_w + (len(plate) - 2) * gap + split
        x = (width_mm - text_w) / 2
        for i, char in enumerate(plate):
            glyph = self._glyph(char, int(char_w * s), int(90 * s))
            fill = _RED if i in red else style.text
            left = int(x * s + (char_w * s - glyph.width) / 2)
            image.paste(Image.new("RGB", glyph.size, fill), (left, int(25 * s)), glyph)
            x += char_w + (split if i == 1 else gap)
            if i == 1:  # the separator dot, centred in the wider gap
                cx, cy = (x - split / 2) * s, 70 * s
                draw.ellipse((cx - 5 * s, cy - 5 * s, cx + 5 * s, cy + 5 * s), fill=style.text)
        return np.asarray(image)

    def _glyph(self, char: str, cell_w: int, cell_h: int) -> Image.Image:
        return _glyph_mask(self._font_path(char), char, cell_w, cell_h)

    def _font_path(self, char: str) -> str:
        chunk = self._chunks.find(char, BOLD)
        if chunk is None:
            raise ValueError(f"Noto Sans SC has no glyph for {char!r} in {self._chunks.source}")
        return str(self._chunks.truetype(chunk))


@lru_cache(maxsize=512)
def _glyph_mask(font_path: str, char: str, cell_w: int, cell_h: int) -> Image.Image:
    """The character's ink stretched to the cell height, as plate fonts are (narrow ones kept narrow)."""
    font = ImageFont.truetype(font_path, size=200)
    canvas = Image.new("L", (260, 300), 0)
    ImageDraw.Draw(canvas).text((20, 10), char, font=font, fill=255)
    bbox = canvas.getbbox() or (0, 0, 1, 1)
    ink = canvas.crop(bbox)
    scale = cell_h / ink.height
    width = min(cell_w, max(int(ink.width * scale), int(cell_w * 0.2)))
    return ink.resize((width, cell_h), Image.Resampling.LANCZOS)


def _background(w: int, h: int, style: PlateStyle) -> Image.Image:
    if style.background_end is None:
        return Image.new("RGB", (w, h), style.background)
    # New-energy plates fade from top (small) or left (large, yellow to green) into green.
    start, end = np.array(style.background, float), np.array(style.background_end, float)
    axis = np.linspace(0, 1, h if style.background[0] > 230 else w)
    ramp = start + (end - start) * axis[:, None]
    grid = ramp[:, None, :].repeat(w, 1) if len(axis) == h else ramp[None, :, :].repeat(h, 0)
    return Image.fromarray(grid.astype(np.uint8))


def degrade(image: np.ndarray, rng: np.random.Generator, what: tuple[str, ...]) -> np.ndarray:
    """The plate as a camera saw it: each named degradation applied, then scaled to camera size."""
    out = image.copy()
    if "perspective" in what:
        out = _perspective(out, rng)
    if "night" in what:
        out = _night(out, rng)
    height = int(rng.integers(16, 26)) if "small" in what else int(rng.integers(40, 90))
    out = cv2.resize(out, (int(out.shape[1] * height / out.shape[0]), height), interpolation=cv2.INTER_AREA)
    if "blur" in what:
        sigma = float(rng.uniform(0.6, 1.3)) * height / 48
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if "motion" in what:
        length = max(3, int(rng.integers(3, 7) * height / 48))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        out = cv2.filter2D(out, -1, kernel)
    if "jpeg" in what:
        out = decode_rgb(encode(out, ".jpg", int(rng.integers(12, 35))))
    return out


def _perspective(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    jitter = rng.uniform(-0.08, 0.08, (4, 2)) * (w, h)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    dst = (src + jitter).astype(np.float32)
    shift = dst.min(axis=0)
    dst -= shift
    size = (int(dst[:, 0].max()) + 1, int(dst[:, 1].max()) + 1)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, matrix, size, borderMode=cv2.BORDER_REPLICATE)


def _night(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    dark = image.astype(np.float32) * rng.uniform(0.3, 0.5)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    yy, xx = np.mgrid[0:h, 0:w]
    glare = np.exp(-(((xx - cx) / (w * 0.2)) ** 2 + ((yy - cy) / (h * 0.5)) ** 2)) * rng.uniform(50, 110)
    noisy = dark + glare[..., None] + rng.normal(0, 8, dark.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def encode(image: np.ndarray, kind: str = ".jpg", quality: int = 92) -> bytes:
    """RGB array as JPEG or PNG bytes."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if kind == ".jpg" else []
    ok, buf = cv2.imencode(kind, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"could not encode the image as {kind}")
    return buf.tobytes()


def decode_rgb(data: bytes) -> np.ndarray:
    """JPEG or PNG bytes as an RGB array."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


# Share of each format in the sample (ordinary plates dominate the road, as they do in reality,
# but every format appears often enough to be measured).
FORMAT_WEIGHTS: dict[PlateFormat, float] = {
    PlateFormat.ORDINARY: 0.40,
    PlateFormat.NEW_ENERGY_SMALL: 0.15,
    PlateFormat.NEW_ENERGY_LARGE: 0.07,
    PlateFormat.POLICE: 0.07,
    PlateFormat.COACH: 0.05,
    PlateFormat.TRAILER: 0.05,
    PlateFormat.HK_MACAU: 0.05,
    PlateFormat.MILITARY: 0.08,
    PlateFormat.ARMED_POLICE: 0.08,
}


def plate_samples(
    count: int, seed: int = 0, *, renderer: PlateRenderer | None = None, degradations: bool = True
) -> Iterator[PlateSample]:
    """`count` plates across formats, each with none, one or two degradations, reproducible by seed."""
    rng = np.random.default_rng(seed)
    renderer = renderer or PlateRenderer()
    formats = list(FORMAT_WEIGHTS)
    weights = np.array(list(FORMAT_WEIGHTS.values()))
    for _ in range(count):
        fmt = formats[int(rng.choice(len(formats), p=weights / weights.sum()))]
        plate, colour = random_plate(rng, fmt)
        what: tuple[str, ...] = ()
        if degradations:
            n = int(rng.choice(3, p=[0.25, 0.45, 0.30]))
            what = tuple(sorted(str(d) for d in rng.choice(DEGRADATIONS, size=n, replace=False)))
        image = degrade(renderer.render(plate, fmt, colour), rng, what)
        yield PlateSample(image, plate, fmt, colour, what)


def car_frame(
    sample: PlateSample, rng: np.random.Generator, size: tuple[int, int] = (960, 540)
) -> FrameSample:
    """The plate on the bumper of a synthetic car front in a street frame, with its box."""
    w, h = size
    frame = _street(rng, w, h)
    car_w = int(rng.uniform(0.35, 0.55) * w)
    car_h = int(car_w * rng.uniform(0.55, 0.7))
    x0 = int(rng.uniform(0.05, 0.95) * (w - car_w))
    y0 = int(rng.uniform(0.25, 0.4) * h)
    body = tuple(int(c) for c in rng.integers(30, 230, 3))
    cv2.rectangle(frame, (x0, y0), (x0 + car_w, min(h - 1, y0 + car_h)), body, -1)
    grille_y = y0 + int(car_h * 0.35)
    for i in range(4):  # a dark grille of horizontal bars
        y = grille_y + i * max(3, car_h // 30)
        cv2.line(frame, (x0 + car_w // 4, y), (x0 + 3 * car_w // 4, y), (25, 25, 25), max(1, car_h // 60))
    for lx in (x0 + car_w // 10, x0 + car_w * 9 // 10):  # headlamps
        cv2.ellipse(frame, (lx, grille_y), (car_w // 12, car_h // 14), 0, 0, 360, (250, 250, 235), -1)
    plate_w = int(car_w * rng.uniform(0.22, 0.3))
    plate = cv2.resize(
        sample.image, (plate_w, max(8, int(plate_w * sample.image.shape[0] / sample.image.shape[1])))
    )
    ph = plate.shape[0]
    px = x0 + (car_w - plate_w) // 2 + int(rng.integers(-car_w // 20, car_w // 20 + 1))
    py = min(h - ph - 2, y0 + int(car_h * 0.68))
    frame[py : py + ph, px : px + plate_w] = plate
    noisy = np.clip(frame.astype(np.float32) + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)
    return FrameSample(noisy, sample.plate, sample.format, sample.colour, (px, py, plate_w, ph))


def _street(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Sky-to-road gradient with lane marks and a few buildings' blocks."""
    top = np.array(rng.integers(120, 200, 3), np.float32)
    bottom = np.array([70, 70, 75], np.float32)
    ramp = top + (bottom - top) * np.linspace(0, 1, h)[:, None]
    frame = np.ascontiguousarray(ramp[:, None, :].repeat(w, 1).astype(np.uint8))
    for _ in range(int(rng.integers(3, 7))):
        bx, bw = int(rng.integers(0, w)), int(rng.integers(40, 160))
        bh = int(rng.integers(h // 6, h // 3))
        cv2.rectangle(
            frame, (bx, h // 3 - bh), (bx + bw, h // 3), tuple(int(c) for c in rng.integers(60, 200, 3)), -1
        )
    for lx in range(0, w, w // 6):
        cv2.line(frame, (lx, h - 10), (lx + w // 12, h - 10), (230, 230, 230), 4)
    return frame


__all__ = [
    "DEGRADATIONS",
    "FORMAT_WEIGHTS",
    "STYLES",
    "FrameSample",
    "PlateRenderer",
    "PlateSample",
    "PlateStyle",
    "car_frame",
    "decode_rgb",
    "degrade",
    "encode",
    "plate_samples",
    "random_plate",
]
