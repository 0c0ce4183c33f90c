"""Test faces: the real photographs packages ship, augmented under a seed, and synthetic embeddings.

Two kinds of test data for the face pipeline (issue 14, "Simulated city"):

* **Real photographs.** Only what ships inside installed wheels, read from disk (never fetched):
  scikit-image's `astronaut.png` (Eileen Collins, a frontal portrait: the only large frontal face
  in the wheels), `camera.png` (the cameraman, a different person, three-quarter view) and
  `lfw_subset.npy` (100 faces from Labeled Faces in the Wild, each only 25 x 25 pixels: too small
  to enrol, useful as distractors and as "too small"). `augment` varies a photograph the way a
  camera does (flip, light, tilt, framing, JPEG, blur, noise), deterministically under a seed.
* **Synthetic embeddings** for scale: identities as centres in dlib's 128-d descriptor space and
  sightings scattered around them, calibrated to dlib's distances (same person well under 0.6,
  different people well over it), with the ground truth.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageEnhance, ImageFilter

Rgb = npt.NDArray[np.uint8]
Vectors = npt.NDArray[np.float32]

DIM = 128


def _skimage_data_dir() -> Path:
    """The folder of scikit-image's bundled sample files (found without importing its fetcher)."""
    import importlib.util

    spec = importlib.util.find_spec("skimage.data")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("scikit-image is not installed: its sample photographs are the real faces")
    return Path(spec.origin).parent


def _read_rgb(path: Path) -> Rgb:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def astronaut() -> Rgb:
    """Eileen Collins' NASA portrait (512 x 512 RGB): one frontal face about 90 pixels wide."""
    return _read_rgb(_skimage_data_dir() / "astronaut.png")


def cameraman() -> Rgb:
    """The cameraman (512 x 512, grey as RGB): a different person, three-quarter view, about 70 px."""
    return _read_rgb(_skimage_data_dir() / "camera.png")


def lfw_faces() -> Rgb:
    """The 100 face crops of scikit-image's LFW subset as RGB (100, 25, 25, 3): different people, tiny."""
    data = np.load(_skimage_data_dir() / "lfw_subset.npy")[:100]  # the last 100 are not faces
    grey = np.clip(data * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def augment(image: Rgb, seed: int, *, strength: float = 1.0) -> Rgb:
    """The photograph as another camera might take it: one draw of every degradation under `seed`.

    At `strength` 1: mirrored half the time, brightness and contrast within +-25 %, tilted up to
    8 degrees, framed 90-110 % with a shift, JPEG quality 40-95, Gaussian blur up to 1.2 px and
    noise up to 6 grey levels. Beyond about 15 degrees of tilt dlib's frontal detector stops
    finding faces, so the tilt stays well inside that.
    """
    rng = np.random.default_rng(seed)
    img = Image.fromarray(image)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    img = ImageEnhance.Brightness(img).enhance(1 + strength * rng.uniform(-0.25, 0.25))
    img = ImageEnhance.Contrast(img).enhance(1 + strength * rng.uniform(-0.25, 0.25))
    img = img.rotate(
        strength * rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR, fillcolor=(128, 128, 128)
    )
    img = _reframe(img, 1 + strength * rng.uniform(-0.1, 0.1), rng.uniform(-1, 1, 2) * 0.04 * strength)
    blur = strength * rng.uniform(0, 1.2)
    if blur > 0.2:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    noisy = np.asarray(img, dtype=np.float64) + rng.normal(
        0, strength * rng.uniform(0, 6), (img.height, img.width, 3)
    )
    return jpeg_round_trip(np.clip(noisy + 0.5, 0, 255).astype(np.uint8), int(rng.integers(40, 96)))


def _reframe(img: Image.Image, scale: float, shift: npt.NDArray[np.float64]) -> Image.Image:
    """Zoom by `scale` about the centre moved by `shift` (fractions of the size); same output size."""
    w, h = img.size
    cw, ch = w / scale, h / scale
    cx, cy = w / 2 + shift[0] * w, h / 2 + shift[1] * h
    box = (cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2)
    return img.transform((w, h), Image.Transform.EXTENT, box, Image.Resampling.BILINEAR, fillcolor=(128,) * 3)


def jpeg_round_trip(image: Rgb, quality: int) -> Rgb:
    """The image as a camera's JPEG encoder at `quality` leaves it."""
    return np.asarray(Image.open(io.BytesIO(encode(image, "JPEG", quality=quality))).convert("RGB"))


def encode(image: Rgb, fmt: str = "JPEG", *, quality: int = 90) -> bytes:
    """The image as JPEG or PNG bytes, as a camera posts it."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buf.getvalue()


def compose_frame(
    faces: list[tuple[Rgb, tuple[int, int]]],
    *,
    size: tuple[int, int] = (720, 1280),
    seed: int = 0,
) -> Rgb:
    """A camera frame (`size` = height, width) of a textured grey scene with each face image pasted
    with its top-left corner at (x, y). Faces are pasted whole; a face that does not fit is cut."""
    rng = np.random.default_rng(seed)
    h, w = size
    # A smooth, uneven background (a wall, a floor) rather than flat grey, which no camera sees.
    coarse = rng.uniform(70, 180, (h // 40 + 2, w // 40 + 2, 3)).astype(np.uint8)
    frame = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)).copy()
    for face, (x, y) in faces:
        fh, fw = face.shape[:2]
        x1, y1 = min(x + fw, w), min(y + fh, h)
        frame[y:y1, x:x1] = face[: y1 - y, : x1 - x]
    return frame


@dataclass(frozen=True)
class FaceSpace:
    """Synthetic dlib-like descriptor space: identity centres and sightings scattered around them.

    dlib's descriptors are not unit vectors (norms about 1.3-1.5 on the shipped photographs) and
    share a common offset; dlib compares them by Euclidean distance with 0.6 as the same-person
    threshold. Here a centre is a fixed offset plus a Gaussian identity part whose per-dimension
    spread falls off (real embeddings use their 128 dimensions unevenly: some carry far more of
    the variance), scaled so different identities lie about 0.9 apart (the 5th percentile 0.79,
    the nearest of 20,000 others about 0.68); a sighting adds isotropic noise putting it about
    `sighting_distance` from its centre (two sightings of one person about 0.5 apart, 0.59 at
    the 99.9th percentile).
    """

    seed: int = 14
    identity_distance: float = 0.9
    sighting_distance: float = 0.35
    # Exponent of the fall-off of per-dimension spread: 0 is isotropic (the hardest case for an
    # approximate index: no structure at all), 0.25 a mild fall-off.
    decay: float = 0.25

    def _offset(self) -> Vectors:
        rng = np.random.default_rng(self.seed)
        v = rng.normal(size=DIM)
        return (1.25 * v / np.linalg.norm(v)).astype(np.float32)

    def _spread(self) -> npt.NDArray[np.float64]:
        s = (np.arange(DIM) + 1.0) ** -self.decay
        # E||c_i - c_j||^2 = 2 * sum(s^2); scale so its root is `identity_distance`.
        return np.asarray(s * self.identity_distance / math.sqrt(2 * float(np.sum(s**2))), dtype=np.float64)

    def identities(self, n: int, *, seed: int = 0) -> Vectors:
        """`n` identity centres (n, 128) float32: what enrolment from good photos yields."""
        rng = np.random.default_rng([self.seed, seed])
        out = np.empty((n, DIM), dtype=np.float32)
        spread = self._spread().astype(np.float32)
        offset = self._offset()
        step = 262_144  # build in slices: a few million centres without float64 temporaries
        for first in range(0, n, step):
            m = min(step, n - first)
            out[first : first + m] = offset + rng.standard_normal((m, DIM), dtype=np.float32) * spread
        return out

    def sightings(self, centres: Vectors, labels: npt.NDArray[np.int64], *, seed: int = 1) -> Vectors:
        """One sighting of identity `labels[i]` per row (len(labels), 128): centre plus camera noise."""
        rng = np.random.default_rng([self.seed, seed, 1])
        sigma = np.float32(self.sighting_distance / math.sqrt(DIM))
        out = np.empty((len(labels), DIM), dtype=np.float32)
        step = 262_144
        for first in range(0, len(labels), step):
            part = labels[first : first + step]
            out[first : first + len(part)] = (
                centres[part] + rng.standard_normal((len(part), DIM), dtype=np.float32) * sigma
            )
        return out
