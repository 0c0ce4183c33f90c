"""Refusals of the hazardous-chemicals use cases: each names the field at fault, for a clear answer."""

from __future__ import annotations

from safecity.tracking.errors import TrackingError


class HazmatError(TrackingError):
    """Bad input to a hazmat use case (422)."""


class HazmatNotFound(HazmatError):
    """The product, site, zone or shipment named does not exist."""

    code = "not_found"
    status = 404

    def __init__(self, what: str, key: object, *, field: str | None = None) -> None:
        super().__init__(f"{what} {key} not found", field=field or f"{what}_id")


class HazmatConflict(HazmatError):
    """The change clashes with what is there now (delivered already, UN number registered already)."""

    code = "conflict"
    status = 409


__all__ = ["HazmatConflict", "HazmatError", "HazmatNotFound"]
