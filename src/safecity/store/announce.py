"""Events announced inside a transaction, delivered only once it has committed.

A use case that changes what other parts cache (a watchlist entry, a device, an area) calls
`announce(session, event)` where it writes; nothing leaves while the transaction may still roll
back, and the edge that called the use case has nothing to remember. The composition root says
where committed events go with `deliver_after_commit` (the platform's event hub); a session
factory without a receiver (a one-off command) drops them, as there is nobody to tell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, sessionmaker

_PENDING = "safecity.announced"


def announce(session: Session, event: Any) -> None:
    """Deliver `event` when this session's transaction commits (never if it rolls back)."""
    pending: list[Any] = session.info.setdefault(_PENDING, [])
    if event not in pending:  # one change announced twice in a transaction is one notice
        pending.append(event)


def deliver_after_commit(factory: sessionmaker[Session], receiver: Callable[[list[Any]], None]) -> None:
    """Hand every session of `factory` that commits with announced events to `receiver`."""

    def committed(session: Session) -> None:
        events = session.info.pop(_PENDING, None)
        if events:
            receiver(events)

    def rolled_back(session: Session) -> None:
        session.info.pop(_PENDING, None)

    sa_event.listen(factory, "after_commit", committed)
    sa_event.listen(factory, "after_rollback", rolled_back)


__all__ = ["announce", "deliver_after_commit"]
