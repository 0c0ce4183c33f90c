"""Bulk import into the registry: a city's areas, people, bikes and devices in one transaction.

For loading a whole registry at once (the demo city, a government registry export): areas go in
through SQLAlchemy Core `insert()`; people, bikes and devices go straight to the driver on the
session's connection (executemany on SQLite, COPY on PostgreSQL), because SQLAlchemy's per-row
parameter processing cost ~100 us a row here, a minute for a Wenzhou-scale city.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session

from safecity.registry.events import ALL, changed
from safecity.registry.models import Area, Device, EBike, Person, WatchlistEntry
from safecity.store.bulk import advance_sequences, insert_frame, large_cache

_CHUNK_ROWS = 20_000


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), _CHUNK_ROWS):
        yield rows[i : i + _CHUNK_ROWS]


def counts(session: Session) -> dict[str, int]:
    """How many areas, people, bikes and devices the registry holds."""
    return {
        name: int(session.scalar(select(func.count()).select_from(_table(model))) or 0)
        for name, model in (("areas", Area), ("people", Person), ("bikes", EBike), ("devices", Device))
    }


def clear(session: Session) -> None:
    """Delete the registry's city, children first (watchlist entries refer to bikes)."""
    for model in (WatchlistEntry, EBike, Person, Device, Area):
        session.execute(delete(_table(model)))


def insert_rows(
    session: Session,
    *,
    areas: list[dict[str, Any]] | None = None,
    people: pl.DataFrame | None = None,
    bikes: pl.DataFrame | None = None,
    devices: pl.DataFrame | None = None,
) -> None:
    """Insert rows (columns named as the tables' columns; areas parents first) into the registry;
    any of them may be left out (a capability's loader adds its people and devices).

    The caller's transaction commits them; the change is announced to every cache on commit.
    """
    with large_cache(session):
        for chunk in _chunks(areas or []):
            session.execute(insert(_table(Area)), chunk)
        for frame, model in ((people, Person), (bikes, EBike), (devices, Device)):
            if frame is not None and frame.height:
                insert_frame(session, _table(model).name, frame)
    advance_sequences(session, ("people", "ebikes"))
    changed(session, ALL)


__all__ = ["clear", "counts", "insert_rows"]
