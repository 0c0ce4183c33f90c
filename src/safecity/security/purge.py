"""The purge ledger: what retention deleted, so that reconciliation still adds up afterwards.

The ledger is the `retention_purges` table (`security.models.Purge`): one row per lake partition
and per registry table a retention run deleted from. A lake row is written `pending` before its
partition is removed and set `done` after, so a crash in between leaves a visible pending row
that the next run finishes (reconciliation reports it meanwhile, like a batch left `writing`).
Ledger entries that retention removes leave their totals here, carried forward, so that
accepted = stored + dead-lettered still holds over everything ever received. Each row names
the audit record that reported it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safecity.security.models import Purge, PurgeStatus

LAKE = "lake"  # the target of a lake partition purge; registry purges name their table
DEAD_LETTERS = "dead_letters"
INGEST_BATCHES = "ingest_batches"
# What a registry purge may carry forward of the rows it removed (see store.retention.Purgeable).
CARRIED_TOTALS = ("received", "duplicates", "accepted", "stored", "dead_lettered", "refused")


@dataclass(frozen=True, slots=True)
class PurgedTotals:
    """What retention removed, as reconciliation needs it."""

    lake_rows: int = 0
    dead_letters: int = 0
    batches: int = 0
    received: int = 0
    duplicates: int = 0
    accepted: int = 0
    stored: int = 0
    dead_lettered: int = 0
    refused: int = 0
    in_doubt: int = 0  # lake purges left pending by an interrupted run


def purged_totals(session: Session) -> PurgedTotals:
    """Sum the purge ledger."""
    done = Purge.status == PurgeStatus.DONE
    by_target: dict[str, int] = {
        target: int(rows or 0)
        for target, rows in session.execute(
            select(Purge.target, func.sum(Purge.rows)).where(done).group_by(Purge.target)
        )
    }
    ledger = session.execute(
        select(
            func.coalesce(func.sum(Purge.received), 0),
            func.coalesce(func.sum(Purge.duplicates), 0),
            func.coalesce(func.sum(Purge.accepted), 0),
            func.coalesce(func.sum(Purge.stored), 0),
            func.coalesce(func.sum(Purge.dead_lettered), 0),
            func.coalesce(func.sum(Purge.refused), 0),
        ).where(done, Purge.target == INGEST_BATCHES)
    ).one()
    in_doubt = session.scalar(select(func.count()).where(Purge.status == PurgeStatus.PENDING)) or 0
    return PurgedTotals(
        lake_rows=by_target.get(LAKE, 0),
        dead_letters=by_target.get(DEAD_LETTERS, 0),
        batches=by_target.get(INGEST_BATCHES, 0),
        received=int(ledger[0]),
        duplicates=int(ledger[1]),
        accepted=int(ledger[2]),
        stored=int(ledger[3]),
        dead_lettered=int(ledger[4]),
        refused=int(ledger[5]),
        in_doubt=int(in_doubt),
    )


__all__ = ["CARRIED_TOTALS", "DEAD_LETTERS", "INGEST_BATCHES", "LAKE", "PurgedTotals", "purged_totals"]
