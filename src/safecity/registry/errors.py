"""Registry errors: each names the field or object at fault, for a clear message at the edge."""

from __future__ import annotations

from safecity.core.errors import DomainError


class RegistryError(DomainError):
    """Base of registry errors; the code of each is its class name ("InvalidInput", "NotFound")."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)
        self.code = type(self).__name__


class InvalidInput(RegistryError):
    """A value is malformed or out of range."""

    status = 422


class Conflict(RegistryError):
    """The change clashes with what is registered already."""

    status = 409


class NotFound(RegistryError):
    """The named object does not exist."""

    status = 404

    def __init__(self, what: str, key: str, *, message: str | None = None) -> None:
        super().__init__(what, message or f"{what} {key} not found")
