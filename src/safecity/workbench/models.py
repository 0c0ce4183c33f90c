"""The workbench's tables: a case's workspace (saved questions with their answers, pins, notes),
and the search index over the registries.

A case is the security package's; its workspace lives here, keyed by the case's id. Rows carry
no foreign key to `cases` because retention removes a closed case's workspace with its own
entry (`case_workspaces`, kept at least as long as the case), not inside the case's purge.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DDL, JSON, Index, Integer, String, Text, UniqueConstraint, event
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


class SearchDocument(Base):
    """One registry entity as search finds it: its fields, and the terms a full-text index holds.

    `terms` is a space-separated list of ready-made tokens (workbench/search.py); SQLite indexes
    it with FTS5 (`search_fts`, an external-content table kept by triggers) and PostgreSQL with a
    GIN index over `array_to_tsvector(string_to_array(terms, ' '))`, both created by migration 0029.
    """

    __tablename__ = "search_documents"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_search_documents_kind_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    area_id: Mapped[str | None] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(300))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"text": {...}, "codes": {...}, "masked": [...]}
    terms: Mapped[str] = mapped_column(Text)


# SQLite: an external-content FTS5 table over `terms`, without positions (no phrase queries are
# asked, and it halves the index), kept by triggers. PostgreSQL: a GIN index over the same terms.
FTS_TABLES = {"search_fts", "search_fts_data", "search_fts_idx", "search_fts_docsize", "search_fts_config"}
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(terms, content='search_documents', "
    "content_rowid='id', detail=none, tokenize=\"unicode61 remove_diacritics 0 tokenchars ':^$'\")",
    "CREATE TRIGGER IF NOT EXISTS search_documents_ai AFTER INSERT ON search_documents BEGIN "
    "INSERT INTO search_fts(rowid, terms) VALUES (new.id, new.terms); END",
    "CREATE TRIGGER IF NOT EXISTS search_documents_ad AFTER DELETE ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.id, old.terms); END",
    "CREATE TRIGGER IF NOT EXISTS search_documents_au AFTER UPDATE OF terms ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.id, old.terms); "
    "INSERT INTO search_fts(rowid, terms) VALUES (new.id, new.terms); END",
)
SQLITE_DROP = "DROP TABLE IF EXISTS search_fts"
POSTGRES_DDL = (
    "CREATE INDEX IF NOT EXISTS ix_search_documents_terms ON search_documents "
    "USING gin (array_to_tsvector(string_to_array(terms, ' ')))",
)

# create_all (the tests' throw-away databases) makes the index too; migration 0029 runs the same.
for _statement in SQLITE_DDL:
    event.listen(SearchDocument.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in POSTGRES_DDL:
    event.listen(SearchDocument.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
event.listen(SearchDocument.__table__, "before_drop", DDL(SQLITE_DROP).execute_if(dialect="sqlite"))
Base.metadata.info.setdefault("derived", set()).update({*FTS_TABLES, "ix_search_documents_terms"})


__all__ = ["CaseNote", "CasePin", "CaseQuery", "PinKind", "SearchDocument"]
