"""Property registered to a person who did not register it waits for them to confirm it.

A registrar (often a partner: a committee worker, a dealer) registers a bike with the owner's
identity number. If that number is new, the registrar's entry creates the person; if it already
belongs to someone, the bike is registered without an owner until that person confirms, with the
code texted to their phone on record or at a police station (registry.verification).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from safecity.registry.events import WATCHLIST, changed
from safecity.registry.models import EBike

CLAIM_TTL = timedelta(hours=24)  # how long the owner has to confirm a bike registered to them


def claim_sms(registrar: str, bike: EBike) -> str:
    """The text asking a person to confirm a bike registered to them ({code} left for the code)."""
    return (
        f"safecity: {registrar} registered an e-bike ({bike.colour} {bike.model}, frame "
        f"{bike.frame_number}) to your identity card. If it is yours, give them the code {{code}} "
        "(valid 24 h). If it is not, do nothing: it will not be registered to you."
    )


def attach_owner(session: Session, bike: EBike, person_id: int) -> None:
    """Make a confirmed claimant the bike's owner (stolen-bike facts name the owner: refresh them)."""
    bike.owner_id = person_id
    session.flush()
    session.refresh(bike)
    changed(session, WATCHLIST)


__all__ = ["CLAIM_TTL", "attach_owner", "claim_sms"]
