"""The workbench's tables: a case's workspace (saved questions with their answers, pins, notes).

A case is the security package's; its workspace lives here, keyed by the case's id. Rows carry
no foreign key to `cases` because retention removes a closed case's workspace with its own
entry (`case_workspaces`, kept at least as long as the case), not inside the case's purge.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.store import Base, UtcDateTime


class PinKind(StrEnum):
    """What a pin points at."""

    SUBJECT = "subject"  # "plate:浙C12345", "phone:1.ab12…"
    SIGHTING = "sighting"  # a lake record's event id
    ALERT = "alert"
    INCIDENT = "incident"
    QUERY = "query"  # one of the case's saved questions


class CaseQuery(Base):
    """A question asked under a case, and the answer as it was given (the first page of it)."""

    __tablename__ = "case_queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # collision, companions, path
    title: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    result_count: Mapped[int] = mapped_column(Integer)
    asked_by: Mapped[str] = mapped_column(String(64))
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CasePin(Base):
    """Evidence an investigator pinned to the case, with why."""

    __tablename__ = "case_pins"
    __table_args__ = (Index("ix_case_pins_case_ref", "case_id", "kind", "ref", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(128))
    label: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    pinned_by: Mapped[str] = mapped_column(String(64))
    pinned_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CaseNote(Base):
    """A note in the case's log."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(32), index=True)
    text: Mapped[str] = mapped_column(Text)
    written_by: Mapped[str] = mapped_column(String(64))
    written_at: Mapped[datetime] = mapped_column(UtcDateTime)


__all__ = ["CaseNote", "CasePin", "CaseQuery", "PinKind"]
