"""Camera and enrolment images decoded from JPEG or PNG bytes, each refusal a clear domain error.

Shared by the face and plate pipelines: an image posted by a camera or uploaded for enrolment is
checked here once (a JPEG or PNG, within the pixel limit, decodable to the end) and handed on as
an RGB array, upright as the camera meant it (EXIF orientation applied).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from safecity.core.errors import DomainError

Rgb = npt.NDArray[np.uint8]

# 40 megapixels: above any camera frame or phone photo we expect (a 4K frame is 8.3 MP, a 200 MP
# phone sensor saves 12 MP binned by default); a "small" file that claims more is a decompression
# bomb, refused from its header before a byte of pixels is decoded.
MAX_PIXELS = 40_000_000
FORMATS = frozenset({"JPEG", "PNG"})


class ImageRefused(DomainError):
    """An image could not be used: not an image, not JPEG or PNG, too large, or corrupt."""

    code = "image_refused"


class NotAnImage(ImageRefused):
    """The bytes are not a JPEG or PNG image."""

    code = "not_an_image"


class ImageTooLarge(ImageRefused):
    """The image has more pixels than the platform decodes."""

    status = 413
    code = "image_too_large"


class CorruptImage(ImageRefused):
    """A JPEG or PNG whose data is truncated or broken."""

    code = "corrupt_image"


def decode_image(
    data: bytes, *, what: str = "the image", field: str = "image", max_pixels: int = MAX_PIXELS
) -> Rgb:
    """Decode JPEG or PNG bytes to an upright RGB array (height, width, 3), or refuse naming `what`."""
    if not data:
        raise NotAnImage(f"{what} is empty", field=field)
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise NotAnImage(f"{what} is not a JPEG or PNG image", field=field) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImage(f"{what} has a broken header ({exc})", field=field) from None
    with img:
        if img.format not in FORMATS:
            raise NotAnImage(f"{what} is {img.format}, not JPEG or PNG", field=field)
        w, h = img.size
        if w * h > max_pixels:
            raise ImageTooLarge(
                f"{what} is {w} x {h} pixels ({w * h:,}); at most {max_pixels:,} are accepted", field=field
            )
        try:
            with warnings.catch_warnings():
                # Pillow's own bomb check warns first; ours above is the stricter one.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img.load()
            upright = ImageOps.exif_transpose(img)
            rgb = upright.convert("RGB")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            # Truncated JPEG/PNG data ("image file is truncated"), a broken zlib stream, bad CRCs.
            raise CorruptImage(f"{what} is corrupt: {exc}", field=field) from None
    return np.asarray(rgb, dtype=np.uint8)
