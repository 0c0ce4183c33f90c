"""Bulk import into the registry: a city's areas, people, bikes and devices in one transaction.

For loading a whole registry at once (the demo city, a government registry export): areas go in
through SQLAlchemy Core `insert()`; people, bikes and devices go straight to the driver on the
session's connection (executemany on SQLite, COPY on PostgreSQL), because SQLAlchemy's per-row
parameter processing cost ~100 us a row here, a minute for a Wenzhou-scale city.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.orm import Session

from safecity.registry.events import ALL, changed
from safecity.registry.models import Area, Device, EBike, Person, WatchlistEntry

_CHUNK_ROWS = 20_000
_SQLITE_LOAD_CACHE_KB = 256 * 1024


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


def _sqlite_rows(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as tuples for sqlite3; times as naive UTC text, exactly as `UtcDateTime` stores them."""
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    ).rows()


def _postgres_csv(frame: pl.DataFrame) -> bytes:
    """The frame as CSV for COPY; empty unquoted fields are NULL, times carry their UTC offset."""
    return (
        frame.with_columns(
            pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00")
            for name, dtype in frame.schema.items()
            if isinstance(dtype, pl.Datetime)
        )
        .write_csv(include_header=False)
        .encode()
    )


def _fast_insert(session: Session, table: str, frame: pl.DataFrame) -> None:
    """COPY on PostgreSQL, chunked executemany on SQLite: the driver's fastest bulk path."""
    conn = session.connection()
    columns = ", ".join(frame.columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        if raw is None:
            raise RuntimeError("the PostgreSQL connection is closed")
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            copy.write(_postgres_csv(frame))
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join([mark] * frame.width)})"  # noqa: S608
    for start in range(0, frame.height, _CHUNK_ROWS):
        conn.exec_driver_sql(sql, _sqlite_rows(frame.slice(start, _CHUNK_ROWS)))


@contextmanager
def _large_sqlite_cache(session: Session) -> Iterator[None]:
    """Random tags and frame numbers hit their unique indexes all over; a big page cache halves
    the SQLite load time. The default comes back before the connection returns to the pool."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_LOAD_CACHE_KB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before or -2000)}")


def _advance_sequences(session: Session) -> None:
    """PostgreSQL serial counters do not move on explicit ids; move them past the loaded rows."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in ("people", "ebikes"):
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed names
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
        )


def insert_rows(
    session: Session,
    *,
    areas: list[dict[str, Any]],
    people: pl.DataFrame,
    bikes: pl.DataFrame,
    devices: pl.DataFrame,
) -> None:
    """Insert rows (columns named as the tables' columns; areas parents first) into the registry.

    The caller's transaction commits them; the change is announced to every cache on commit.
    """
    with _large_sqlite_cache(session):
        for chunk in _chunks(areas):
            session.execute(insert(_table(Area)), chunk)
        for frame, model in ((people, Person), (bikes, EBike), (devices, Device)):
            _fast_insert(session, _table(model).name, frame)
    _advance_sequences(session)
    changed(session, ALL)


__all__ = ["clear", "counts", "insert_rows"]
