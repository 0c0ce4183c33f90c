"""Refusals of the tracking capability: each names the field at fault, for a clear answer at the edge."""

from __future__ import annotations

from safecity.core.errors import DomainError


class TrackingError(DomainError):
    """Base of tracking errors."""

    code = "invalid_input"
    status = 422


class InvalidGeometry(TrackingError):
    """A safe zone or planned route that is not a valid circle, polygon or line."""

    code = "invalid_geometry"


__all__ = ["InvalidGeometry", "TrackingError"]
