"""Refusals of the security layer: each carries the HTTP status, a stable code and a clear message."""

from __future__ import annotations

from safecity.core.errors import AccessDenied, DomainError


class NotAuthenticated(AccessDenied):
    """No valid credentials: a missing, expired, forged or revoked token, or a failed sign-in."""

    status = 401


class AccountError(DomainError, ValueError):
    """An account command was given bad input (unknown role, weak password, taken username)."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 422) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.code = {404: "not_found", 409: "conflict"}.get(status, "invalid_request")


__all__ = ["AccessDenied", "AccountError", "NotAuthenticated"]
