"""Reconciliation: every accepted event is stored or dead-lettered, and the stores agree.

Retention deletes lake partitions, dead letters and ledger entries on purpose; what it deleted
is kept in the purge ledger (security/purge.py) and added back here, so the sums still hold:
the ledger totals include removed entries, and stored = in the lake + purged from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.ingest.models import BatchStatus, DeadLetter, IngestBatch
from safecity.security.purge import purged_totals


class CountingLake(Protocol):
    """The part of the lake reconciliation needs."""

    def count(self) -> int:
        """Rows in the lake."""
        ...


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Ledger totals against what the stores hold."""

    batches: int
    received: int
    duplicates: int
    accepted: int
    stored_ledger: int
    dead_lettered_ledger: int
    stored_lake: int
    dead_letters_stored: int
    bodies_refused: int  # bodies refused whole, each kept as one dead letter
    batches_in_doubt: int  # entries left `writing` by a crash mid-batch (versions before 0006)
    batches_failed: int
    # Deleted by retention (the totals above include the ledger entries it removed):
    batches_purged: int = 0  # ledger entries removed, their totals carried forward
    purged_lake: int = 0  # rows in the lake partitions deleted
    purged_dead_letters: int = 0
    purges_in_doubt: int = 0  # lake purges left `pending` by an interrupted retention run

    @property
    def ok(self) -> bool:
        """accepted = stored + dead-lettered, and each store holds what the ledger says, less purges."""
        return (
            self.accepted == self.stored_ledger + self.dead_lettered_ledger
            and self.stored_ledger == self.stored_lake + self.purged_lake
            and self.dead_lettered_ledger + self.bodies_refused
            == self.dead_letters_stored + self.purged_dead_letters
            and self.batches_in_doubt == 0
            and self.purges_in_doubt == 0
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain dict with the verdict."""
        return {**asdict(self), "ok": self.ok}


def reconcile(session_factory: sessionmaker[Session], lake: CountingLake) -> Reconciliation:
    """Sum the ledger and count the stores."""
    with session_factory() as session:
        row = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(IngestBatch.received), 0),
                func.coalesce(func.sum(IngestBatch.duplicates), 0),
                func.coalesce(func.sum(IngestBatch.accepted), 0),
                func.coalesce(func.sum(IngestBatch.stored), 0),
                func.coalesce(func.sum(IngestBatch.dead_lettered), 0),
                func.coalesce(func.sum(IngestBatch.refused), 0),
            )
        ).one()
        letters = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
        in_doubt = session.scalar(select(func.count()).where(IngestBatch.status == BatchStatus.WRITING)) or 0
        failed = session.scalar(select(func.count()).where(IngestBatch.status == BatchStatus.FAILED)) or 0
        purged = purged_totals(session)
    return Reconciliation(
        batches=row[0],
        received=row[1] + purged.received,
        duplicates=row[2] + purged.duplicates,
        accepted=row[3] + purged.accepted,
        stored_ledger=row[4] + purged.stored,
        dead_lettered_ledger=row[5] + purged.dead_lettered,
        bodies_refused=row[6] + purged.refused,
        stored_lake=lake.count(),
        dead_letters_stored=letters,
        batches_in_doubt=in_doubt,
        batches_failed=failed,
        batches_purged=purged.batches,
        purged_lake=purged.lake_rows,
        purged_dead_letters=purged.dead_letters,
        purges_in_doubt=purged.in_doubt,
    )
