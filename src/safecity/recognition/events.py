"""What recognition announces on the bus: an image stored and waiting for a reader."""

from __future__ import annotations

from typing import ClassVar

from safecity.core.events import Event

IMAGES = "recognition.images"  # the readers' queue: one message per stored image


class ImageCaptured(Event, frozen=True):
    """An image is stored (file and row) and waits for a reader."""

    topic: ClassVar[str] = IMAGES

    image_id: str
    device: str


__all__ = ["IMAGES", "ImageCaptured"]
