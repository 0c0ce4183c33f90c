"""Put a generated city into the registry with bulk inserts, and give each device a secret.

Areas go in through SQLAlchemy Core `insert()`. People, bikes and devices go straight to the
driver on the session's connection (executemany on SQLite, COPY on PostgreSQL): SQLAlchemy's
per-row parameter processing cost ~100 us a row here, a minute for a Wenzhou-scale city.
The plaintext device secrets are written next to the city (demo data, under the git-ignored
var/ folder) so that the simulator can sign in. People get the pseudonyms of their numbers under
the current key, as the registry service gives them.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import structlog
from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from safecity.registry import events as registry_events
from safecity.registry import hash_secret
from safecity.registry.models import Area, BikeStatus, Device, DeviceStatus, EBike, Person, WatchlistEntry
from safecity.security.pseudonym import Pseudonymizer
from safecity.sim.city import City

log = structlog.get_logger(__name__)

_CHUNK_ROWS = 20_000
_SQLITE_LOAD_CACHE_KB = 256 * 1024
_KIND_ORDER = {"district": 0, "station": 1, "community": 2}  # parents before children


class CityAlreadyLoaded(RuntimeError):
    """The registry already holds a city and `replace` was not asked for."""


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What `load_city` put into the registry."""

    areas: int
    people: int
    bikes: int
    devices: int
    replaced: bool
    secrets_path: Path
    elapsed_s: float


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), _CHUNK_ROWS):
        yield rows[i : i + _CHUNK_ROWS]


def _existing(session: Session) -> dict[str, int]:
    return {
        name: int(session.scalar(select(func.count()).select_from(_table(model))) or 0)
        for name, model in (("areas", Area), ("people", Person), ("bikes", EBike), ("devices", Device))
    }


def _clear(session: Session) -> None:
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


def _rows(city: City, device_hashes: dict[str, str], pseudonymizer: Pseudonymizer) -> dict[str, Any]:
    areas = (
        city.table("areas")
        .with_columns(pl.col("kind").replace_strict(_KIND_ORDER, return_dtype=pl.Int8).alias("_rank"))
        .sort("_rank", "id")
    )
    area_rows = [
        {**row, "boundary": json.loads(row["boundary"])}
        for row in areas.select(
            "id", "kind", "name", "parent_id", "station_id", "lat", "lon", "boundary"
        ).iter_rows(named=True)
    ]
    people = city.table("people").select(
        pl.col("person_id").alias("id"), "id_number", "name", "phone", "home_area_id", "created_at"
    )
    people = people.with_columns(
        pseudonymizer.column(people["id_number"]).alias("id_pseudonym"),
        pseudonymizer.column(people["phone"]).alias("phone_pseudonym"),
    )
    bikes = city.table("bikes").select(
        pl.col("bike_id").alias("id"),
        "tag_id",
        "owner_id",
        "frame_number",
        "model",
        "colour",
        pl.lit(BikeStatus.REGISTERED.value).alias("status"),
        "registered_at",
        "registered_by",
    )
    devices = city.table("devices").select("id", "kind", "name", "lat", "lon", "area_id", "registered_at")
    devices = devices.with_columns(
        status=pl.lit(DeviceStatus.ACTIVE.value),
        secret_hash=pl.col("id").replace_strict(device_hashes, return_dtype=pl.String),
    )
    return {"areas": area_rows, "people": people, "bikes": bikes, "devices": devices}


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


def load_city(
    city: City | Path,
    session_factory: sessionmaker[Session],
    *,
    pseudonymizer: Pseudonymizer,
    replace: bool = False,
) -> LoadReport:
    """Bulk-insert a city's areas, people, bikes and devices into an empty registry."""
    started = time.perf_counter()
    city = city if isinstance(city, City) else City.open(city)
    device_ids = city.table("devices")["id"].to_list()
    plaintext = {device: secrets.token_urlsafe(32) for device in device_ids}
    rows = _rows(city, {device: hash_secret(secret) for device, secret in plaintext.items()}, pseudonymizer)
    with session_factory() as session, session.begin():
        existing = _existing(session)
        if any(existing.values()):
            if not replace:
                held = ", ".join(f"{count} {name}" for name, count in existing.items() if count)
                raise CityAlreadyLoaded(
                    f"the registry already holds a city ({held}); pass replace=True to delete it "
                    "(and its watchlist entries) and load this one"
                )
            _clear(session)
        with _large_sqlite_cache(session):
            for chunk in _chunks(rows["areas"]):
                session.execute(insert(_table(Area)), chunk)
            for name, model in (("people", Person), ("bikes", EBike), ("devices", Device)):
                _fast_insert(session, _table(model).name, rows[name])
        _advance_sequences(session)
        registry_events.changed(session, registry_events.ALL)
    # Written only after the commit: secrets of a city that failed to load would be useless.
    pl.DataFrame({"device": list(plaintext), "secret": list(plaintext.values())}).write_parquet(
        city.secrets_path
    )
    report = LoadReport(
        areas=len(rows["areas"]),
        people=rows["people"].height,
        bikes=rows["bikes"].height,
        devices=rows["devices"].height,
        replaced=any(existing.values()),
        secrets_path=city.secrets_path,
        elapsed_s=round(time.perf_counter() - started, 3),
    )
    log.info(
        "city loaded",
        out_dir=str(city.out_dir),
        areas=report.areas,
        people=report.people,
        bikes=report.bikes,
        devices=report.devices,
        replaced=report.replaced,
        elapsed_s=report.elapsed_s,
    )
    return report
