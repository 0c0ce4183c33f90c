"""Ingest tables: the batch ledger that reconciliation sums, and the dead-letter store."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.store import Base, UtcDateTime


class BatchStatus(StrEnum):
    """What became of a batch: stored, or failed (nothing of it in the lake). The entry is written in
    the same transaction that commits the batch (decisions/0006); `writing` is found only in
    ledgers of earlier versions, which wrote the entry before the lake."""

    WRITING = "writing"
    STORED = "stored"
    FAILED = "failed"


class IngestBatch(Base):
    """One micro-batch (one request, or coalesced MQTT messages): what came in and where it went."""

    __tablename__ = "ingest_batches"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)  # when a single device sent it
    parts: Mapped[int] = mapped_column(Integer)  # bodies in the batch (requests or messages)
    refused: Mapped[int] = mapped_column(Integer)  # bodies refused whole (unreadable, too large)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    status: Mapped[str] = mapped_column(String(16))
    received: Mapped[int] = mapped_column(Integer)  # events in the body
    duplicates: Mapped[int] = mapped_column(Integer)  # already-accepted event ids (not accepted again)
    accepted: Mapped[int] = mapped_column(Integer)  # = stored + dead_lettered
    stored: Mapped[int] = mapped_column(Integer)
    dead_lettered: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class DeadLetter(Base):
    """An event that was received but could not be stored, with the reason and its raw text."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("ingest_batches.id"), index=True)
    idx: Mapped[int] = mapped_column(Integer)  # position of the event in its body
    event_id: Mapped[str | None] = mapped_column(String(128))
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    field: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
