"""Faces made unrecognisable in the images the console shows outside face review.

A face is pixelated (8 x 8 cells) and then blurred: blurring alone can be partly undone, a
coarse mosaic cannot. The faces are those the readers found (kept on the image's row); an image
read for plates only is searched for faces here first, upsampled once, because a driver behind
a windscreen is small. Runs in the reader pool (dlib), once per image: the masked copy is kept
beside the original and shown from then on.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from safecity.recognition.images_decode import decode_image

CELLS = 8
MARGIN = 0.25  # of the face's size, around its box: hair and ears identify too


def masked(
    rgb: np.ndarray, boxes: Sequence[Sequence[int]], *, keep: Sequence[int] | None = None
) -> np.ndarray:
    """A copy of the image with each face box (left, top, right, bottom) but `keep` mosaicked."""
    out = rgb.copy()
    h, w = out.shape[:2]
    for box in boxes:
        if keep is not None and list(box) == list(keep):
            continue
        left, top, right, bottom = (int(v) for v in box)
        mx, my = int((right - left) * MARGIN), int((bottom - top) * MARGIN)
        x0, y0, x1, y1 = max(left - mx, 0), max(top - my, 0), min(right + mx, w), min(bottom + my, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = out[y0:y1, x0:x1]
        small = cv2.resize(region, (CELLS, CELLS), interpolation=cv2.INTER_AREA)
        mosaic = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        k = max(3, ((min(x1 - x0, y1 - y0) // 4) | 1))
        out[y0:y1, x0:x1] = cv2.GaussianBlur(mosaic, (k, k), 0)
    return out


def jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    """An RGB array as JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def find_faces(rgb: np.ndarray) -> list[list[int]]:
    """Face boxes in an image read for plates only (upsampled once: small faces behind glass)."""
    from safecity.recognition.reading import _face_engine

    engine = _face_engine()
    return [list(f.box) for f in engine.detect(rgb, upsample=1)]


def write_masked(
    source: str, target: str, boxes: list[list[int]] | None, keep: list[int] | None = None
) -> int:
    """Write the masked copy of the image at `source` to `target`; `boxes` None: find the faces
    first. Returns how many faces were masked (runs in a reader process)."""
    rgb = decode_image(Path(source).read_bytes(), what="image")
    found = find_faces(rgb) if boxes is None else boxes
    data = jpeg(masked(rgb, found, keep=keep))
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len([b for b in found if keep is None or list(b) != list(keep)])


__all__ = ["find_faces", "jpeg", "masked", "write_masked"]
