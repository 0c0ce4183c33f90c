"""The ingest capability: devices' events in, and how long refused events and the ledger are kept."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, not_, select

from safecity.core.capabilities import Capability
from safecity.ingest.models import BatchStatus, DeadLetter, IngestBatch
from safecity.store.retention import Cutoff, Purgeable, RetentionEntry

INGEST_BATCHES = "ingest_batches"  # also the purge target whose ledger totals are carried forward


def old_batches(cut: Cutoff) -> ColumnElement[bool]:
    """Ledger entries due; one left `writing` is a reconciliation problem to look into, never aged out."""
    return (IngestBatch.status != BatchStatus.WRITING) & (IngestBatch.received_at < cut(INGEST_BATCHES))


def _old_dead_letters(cut: Cutoff) -> ColumnElement[bool]:
    return DeadLetter.received_at < cut("dead_letters")


def _dead_letters(cut: Cutoff) -> Sequence[Purgeable]:
    return [Purgeable("dead_letters", DeadLetter, _old_dead_letters(cut))]


def _ingest_batches(cut: Cutoff) -> Sequence[Purgeable]:
    # A batch's dead letters go with it; those old enough on their own are the other entry's.
    of_old_batches = DeadLetter.batch_id.in_(select(IngestBatch.id).where(old_batches(cut)))
    return [
        Purgeable("dead_letters", DeadLetter, of_old_batches & not_(_old_dead_letters(cut))),
        Purgeable(INGEST_BATCHES, IngestBatch, old_batches(cut)),
    ]


DEAD_LETTERS = RetentionEntry(
    name="dead_letters",
    description="Refused events with their raw text, counted from receipt.",
    tables=("dead_letters",),
    due=_dead_letters,
)
LEDGER = RetentionEntry(
    name=INGEST_BATCHES,
    description="Ingest ledger entries (and their dead letters), counted from receipt; their totals "
    "are carried forward so that reconciliation still adds up.",
    tables=(INGEST_BATCHES, "dead_letters"),
    due=_ingest_batches,
    at_least=(("dead_letters", "a ledger entry's dead letters are deleted with it"),),
)

CAPABILITY = Capability(
    name="ingest",
    summary="Device events in over HTTP, MQTT and replay: validated, deduplicated, stored or dead-lettered.",
    requires=("registry",),
    extensions=(DEAD_LETTERS, LEDGER),
)
