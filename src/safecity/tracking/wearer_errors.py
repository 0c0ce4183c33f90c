"""Refusals of the wearer use cases: each names the field at fault, for a clear answer at the edge."""

from __future__ import annotations

from safecity.tracking.errors import TrackingError


class WearerNotFound(TrackingError):
    """The wearer, guardian or consent named does not exist (or not for this wearer)."""

    code = "not_found"
    status = 404

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key} not found", field=f"{what}_id")


class WearerConflict(TrackingError):
    """The change clashes with what is recorded now (enrolled already, a tracker worn by another)."""

    code = "conflict"
    status = 409


__all__ = ["WearerConflict", "WearerNotFound"]
