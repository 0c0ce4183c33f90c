"""Refusals of the places capability: each names the field at fault, for a clear answer at the edge."""

from __future__ import annotations

from safecity.core.errors import DomainError


class PlacesError(DomainError):
    """Base of places errors."""

    code = "invalid_input"
    status = 422


class PlaceNotFound(PlacesError):
    """The compound, building, flat, tenancy or shop named does not exist."""

    code = "not_found"
    status = 404

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key} not found", field=f"{what}_id")


class PlaceConflict(PlacesError):
    """The change clashes with what is there now (registered already, checked out already)."""

    code = "conflict"
    status = 409


__all__ = ["PlaceConflict", "PlaceNotFound", "PlacesError"]
