"""What the registry announces when facts that other parts cache have changed.

Caches of registry facts (the device directory of ingest, the rules' watchlist, the area tree
of access control, and each new capability's own) say which groups of facts they hold in
`depends_on`; a `RegistryChanged` naming one of those groups, or "all", makes them forget, in
this process at once and in the others when the event arrives over the bus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar, Protocol

from sqlalchemy.orm import Session

from safecity.core.events import Event
from safecity.store import announce

ALL = "all"
WATCHLIST = "watchlist"
DEVICES = "devices"
AREAS = "areas"


class RegistryChanged(Event, frozen=True):
    """Registry facts of one group changed (`what`: "watchlist", "devices", "areas" or "all")."""

    what: str
    topic: ClassVar[str] = "registry"


class RegistryCache(Protocol):
    """A cache of registry facts: the groups it holds, and how it forgets them."""

    depends_on: frozenset[str]

    def invalidate(self) -> None:
        """Forget; the next use reloads."""
        ...


def changed(session: Session, what: str) -> None:
    """Announce, when this transaction commits, that facts of the group `what` changed."""
    announce(session, RegistryChanged(what=what))


def forgetting(caches: Iterable[RegistryCache]) -> Callable[[RegistryChanged], None]:
    """The handler that makes each cache holding the changed group forget it."""
    held = tuple(caches)

    def forget(event: RegistryChanged) -> None:
        for cache in held:
            if event.what == ALL or event.what in cache.depends_on:
                cache.invalidate()

    return forget


__all__ = [
    "ALL",
    "AREAS",
    "DEVICES",
    "WATCHLIST",
    "RegistryCache",
    "RegistryChanged",
    "changed",
    "forgetting",
]
