"""Recognition's refusals: each names what was wrong and where (the field), never a traceback.

An image's own faults (not an image, corrupt, too large) are `images_decode`'s errors.
"""

from __future__ import annotations

from safecity.core.errors import DomainError


class BadCapture(DomainError):
    """The image's description is wrong: unknown camera, a time not RFC 3339, a box outside the image."""

    code = "bad_capture"


class Busy(DomainError):
    """Too many images wait for a worker: the camera should retry shortly (503)."""

    status = 503
    code = "recognition_busy"


class HitNotFound(DomainError):
    """No checkpoint hit (or image) with this id in the caller's reach."""

    status = 404
    code = "not_found"


class ImageNotReady(DomainError):
    """The reader has not finished with the image yet."""

    status = 409
    code = "not_ready"


class HitConflict(DomainError):
    """The hit was handled already."""

    status = 409
    code = "conflict"


__all__ = ["BadCapture", "Busy", "HitConflict", "HitNotFound", "ImageNotReady"]
