"""Refusals of the dispatch use cases: each names the field at fault, for a clear answer at the edge."""

from __future__ import annotations

from safecity.core.errors import DomainError


class DispatchError(DomainError):
    """Bad input to a dispatch use case (422)."""

    code = "invalid_input"


class DispatchNotFound(DispatchError):
    """The unit, incident or order named does not exist."""

    code = "not_found"
    status = 404

    def __init__(self, what: str, key: object, *, field: str | None = None) -> None:
        super().__init__(f"{what} {key} not found", field=field or f"{what}_id")


class DispatchConflict(DispatchError):
    """The change clashes with what is there now: another dispatcher took the unit first, the order
    was reported already."""

    code = "conflict"
    status = 409


class NoRoadNetwork(DispatchError):
    """The platform has no road network to route on (a setting names a file that is not there)."""

    code = "no_road_network"
    status = 503


__all__ = ["DispatchConflict", "DispatchError", "DispatchNotFound", "NoRoadNetwork"]
