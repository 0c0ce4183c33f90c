"""The registry capability: people, e-bikes, watchlists, devices and areas, and what follows from them."""

from collections.abc import Sequence

from sqlalchemy import or_

from safecity.core.capabilities import Capability
from safecity.registry.entities import REGISTRY_ENTITIES
from safecity.registry.models import PersonMessage, Verification, VerificationStatus, WatchlistEntry
from safecity.registry.owners import BIKE_OWNERS
from safecity.store.retention import Cutoff, Purgeable, RetentionEntry


def _ended_entries(cut: Cutoff) -> Sequence[Purgeable]:
    before = cut("closed_watchlist_entries")
    ended = or_(
        WatchlistEntry.closed_at < before,
        WatchlistEntry.closed_at.is_(None) & (WatchlistEntry.expires_at < before),
    )
    return [Purgeable("watchlist_entries", WatchlistEntry, ended)]


CLOSED_WATCHLIST_ENTRIES = RetentionEntry(
    name="closed_watchlist_entries",
    description="Watchlist entries closed (recovered, withdrawn) or expired, counted from then.",
    tables=("watchlist_entries",),
    due=_ended_entries,
)


def _done_confirmations(cut: Cutoff) -> Sequence[Purgeable]:
    before = cut("person_confirmations")
    return [
        Purgeable("person_messages", PersonMessage, PersonMessage.created_at < before),
        Purgeable(
            "verifications",
            Verification,
            (Verification.status != VerificationStatus.PENDING) & (Verification.requested_at < before),
        ),
    ]


PERSON_CONFIRMATIONS = RetentionEntry(
    name="person_confirmations",
    description="Text messages to people (codes included) and the claims they confirmed or let lapse.",
    tables=("person_messages", "verifications"),
    due=_done_confirmations,
)

CAPABILITY = Capability(
    name="registry",
    summary="Who and what the platform knows: people, e-bikes and their owners, watchlists, devices, areas.",
    extensions=(BIKE_OWNERS, CLOSED_WATCHLIST_ENTRIES, PERSON_CONFIRMATIONS, REGISTRY_ENTITIES),
)
