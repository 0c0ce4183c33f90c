"""The missing-person report's table: who reported a wearer missing, when, and how it ended.

A report opens with what the platform knew at that moment (the last fix and the search area, kept
as they were shown, for the review afterwards) and ends as found (where, when, by whom) or
withdrawn (a false alarm). The time from report to found is the figure the city reports.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.store import Base, UtcDateTime


class MissingStatus(StrEnum):
    """Where a report stands."""

    OPEN = "open"
    FOUND = "found"
    WITHDRAWN = "withdrawn"  # not missing after all (at a neighbour's, a false alarm)


class MissingReport(Base):
    """A wearer reported missing, by a guardian through the portal or by an officer."""

    __tablename__ = "missing_reports"
    __table_args__ = (Index("ix_missing_reports_wearer_status", "wearer_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wearer_id: Mapped[int] = mapped_column(ForeignKey("wearers.id"))
    status: Mapped[str] = mapped_column(String(16), default=MissingStatus.OPEN, index=True)
    area_id: Mapped[str] = mapped_column(String(32), index=True)  # the wearer's area, for reach
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    reported_by: Mapped[str] = mapped_column(String(64))
    reporter_role: Mapped[str] = mapped_column(String(32))
    circumstances: Mapped[str] = mapped_column(Text)  # last seen wearing, where going, ...
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # as the reporter says
    alert_id: Mapped[str | None] = mapped_column(String(64))
    # What the platform showed at the report, kept as it was.
    last_fix_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_lat: Mapped[float | None] = mapped_column(Float)
    last_lon: Mapped[float | None] = mapped_column(Float)
    search_area: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # How it ended.
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    found_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    found_lat: Mapped[float | None] = mapped_column(Float)
    found_lon: Mapped[float | None] = mapped_column(Float)
    outcome_note: Mapped[str] = mapped_column(Text, default="")


__all__ = ["MissingReport", "MissingStatus"]
