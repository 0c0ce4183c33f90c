"""Reading the dead letters: what was refused, from which device, and why (newest first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.ingest.models import DeadLetter


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """One refused event as an operator sees it (the raw text stays in the table)."""

    received_at: datetime
    device_id: str | None
    index: int
    event_id: str | None
    field: str | None
    reason: str


def newest(session_factory: sessionmaker[Session], *, limit: int = 20) -> list[DeadLetterView]:
    """The newest dead letters with their reasons."""
    stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    with session_factory() as session:
        return [
            DeadLetterView(d.received_at, d.device_id, d.idx, d.event_id, d.field, d.reason)
            for d in session.scalars(stmt)
        ]


__all__ = ["DeadLetterView", "newest"]
