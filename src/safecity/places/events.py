"""What the places capability announces: who may pass the doors of a place has changed.

Announced in the transaction that changed it (a tenancy registered or ended, a visitor pass
issued or revoked, a door added) and delivered after commit, here at once and in the other
processes over the bus; the whitelist service rebuilds the lists of that place's doors.
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy.orm import Session

from safecity.core.events import Event
from safecity.registry.events import changed
from safecity.store import announce

PLACES = "places"  # the RegistryChanged group of places' facts (what caches of them depend on)
WHITELISTS = "door_whitelists"  # the group of the doors' list versions (a rebuild made a new one)


class AccessChanged(Event, frozen=True):
    """Whom the doors of a compound (or a shop) let in changed; naming neither: every place (bulk load)."""

    compound_id: str | None = None
    shop_id: int | None = None
    topic: ClassVar[str] = "places"


def access_changed(session: Session, *, compound_id: str | None = None, shop_id: int | None = None) -> None:
    """Announce, when this transaction commits, that a place's doors must follow a change."""
    announce(session, AccessChanged(compound_id=compound_id, shop_id=shop_id))
    changed(session, PLACES)


def whitelists_changed(session: Session) -> None:
    """Announce, when this transaction commits, that doors' whitelists have new versions."""
    changed(session, WHITELISTS)


def places_changed(session: Session) -> None:
    """Announce, when this transaction commits, that places' facts changed (a flat, a building...)."""
    changed(session, PLACES)


__all__ = ["PLACES", "WHITELISTS", "AccessChanged", "access_changed", "places_changed", "whitelists_changed"]
