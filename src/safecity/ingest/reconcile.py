"""Reconciliation: every accepted event is stored or dead-lettered, and the stores agree."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.ingest.models import BatchStatus, DeadLetter, IngestBatch


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
    batches_in_doubt: int  # ledger entries left `writing` by a crash mid-batch
    batches_failed: int

    @property
    def ok(self) -> bool:
        """accepted = stored + dead-lettered, and each store holds what the ledger says."""
        return (
            self.accepted == self.stored_ledger + self.dead_lettered_ledger
            and self.stored_ledger == self.stored_lake
            and self.dead_lettered_ledger + self.bodies_refused == self.dead_letters_stored
            and self.batches_in_doubt == 0
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
    return Reconciliation(
        batches=row[0],
        received=row[1],
        duplicates=row[2],
        accepted=row[3],
        stored_ledger=row[4],
        dead_lettered_ledger=row[5],
        bodies_refused=row[6],
        stored_lake=lake.count(),
        dead_letters_stored=letters,
        batches_in_doubt=in_doubt,
        batches_failed=failed,
    )
