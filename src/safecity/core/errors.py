"""Errors any use case can raise: each carries the HTTP status, a stable code and a clear message."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """A use case refused its input or the state it found: HTTP status, stable code, message, field.

    Every capability's errors derive from it, so the edges (HTTP, command line) answer them all
    one way without knowing them: a new capability's errors need no new handler.
    """

    status: int = 422
    code: str = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class AccessDenied(Exception):
    """A request is refused; the message says what was wrong or missing (never why in secret detail)."""

    status = 403

    def __init__(
        self, code: str, message: str, *, field: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        if status is not None:
            self.status = status


def outside_area(area_ids: Sequence[str | None], *, what: str, home_areas: Sequence[str]) -> AccessDenied:
    """The refusal of something that belongs to an area outside the caller's reach."""
    shown = next((a for a in area_ids if a), "no area")
    return AccessDenied(
        "outside_area",
        f"{what} belongs to {shown}, outside the areas your account covers "
        f"({', '.join(home_areas) or 'none'})",
        field="area",
    )
