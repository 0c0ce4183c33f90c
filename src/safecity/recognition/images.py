"""Camera images: checked (JPEG or PNG, within the byte and pixel limits, decodable to the last
row), written durably under the images folder, read back for recognition and the console, and
swept when their rows are gone.

A file's place is `<images dir>/<capture day>/<id>.<jpg|png>`: a day's folder is the unit of
the sweep, and nothing but the row names a file, so a deleted row leaves nothing readable for
long.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from safecity.recognition.images_decode import CorruptImage, ImageTooLarge, NotAnImage

FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What checking an image found."""

    content_type: str
    extension: str
    width: int
    height: int
    sha256: str
    size_bytes: int


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int, field: str = "image") -> ImageInfo:
    """Check that `data` is a whole JPEG or PNG within the limits, without keeping its pixels.

    Raises NotAnImage, CorruptImage or ImageTooLarge (`images_decode`, shared with the readers).
    """
    if not data:
        raise NotAnImage("the image is empty", field=field)
    if len(data) > max_bytes:
        raise ImageTooLarge(f"the image has {len(data)} bytes; at most {max_bytes} are accepted", field=field)
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, on decompression bombs: the pixel limit below is ours.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format
                width, height = image.size
                if kind not in FORMATS:
                    raise NotAnImage(f"a {kind or 'unknown'} image: send JPEG or PNG", field=field)
                if width * height > max_pixels:
                    raise ImageTooLarge(
                        f"the image is {width}x{height}; at most {max_pixels} pixels are accepted",
                        field=field,
                    )
                image.load()  # a truncated or corrupt file fails here, not in a worker
    except UnidentifiedImageError as exc:
        raise NotAnImage("not an image (JPEG or PNG expected)", field=field) from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptImage(f"the image is corrupt or truncated ({exc})", field=field) from exc
    if width < 8 or height < 8:
        raise NotAnImage(f"the image is {width}x{height}: too small to read anything in", field=field)
    content_type, extension = FORMATS[kind]
    return ImageInfo(content_type, extension, width, height, hashlib.sha256(data).hexdigest(), len(data))


class ImageFiles:
    """The images folder: where an image's bytes are written, read and swept."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def relative(image_id: str, taken: datetime, extension: str) -> str:
        """Where an image taken at `taken` is kept, relative to the folder."""
        return f"{taken:%Y-%m-%d}/{image_id}.{extension}"

    def write(self, relative: str, data: bytes) -> None:
        """Write durably: a crash leaves the whole file or none (the row is written after)."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def read(self, relative: str) -> bytes:
        """The bytes of a kept image (FileNotFoundError if it is gone)."""
        return (self.root / relative).read_bytes()

    def path(self, relative: str) -> Path:
        """The absolute path of a kept image."""
        return self.root / relative

    def remove(self, relative: str) -> None:
        """Forget a file (missing is fine: a sweep may have taken it)."""
        (self.root / relative).unlink(missing_ok=True)

    def sweep(self, keep: set[str], *, days: list[str]) -> int:
        """Delete the files of the given day folders that `keep` (relative paths) does not name."""
        removed = 0
        for day in days:
            folder = self.root / day
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if f"{day}/{path.name}" not in keep:
                    path.unlink(missing_ok=True)
                    removed += 1
            if not any(folder.iterdir()):
                folder.rmdir()
        return removed

    def days(self) -> list[str]:
        """The day folders present, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and len(p.name) == 10)


__all__ = ["FORMATS", "ImageFiles", "ImageInfo", "inspect_image"]
