"""Put a generated city into the registry with bulk inserts, and give each device a secret.

The rows go in through the registry's bulk path (`registry.bulk`: COPY on PostgreSQL, chunked
executemany on SQLite), a minute faster than the ORM for a Wenzhou-scale city. The plaintext
device secrets are written next to the city (demo data, under the git-ignored var/ folder) so
that the simulator can sign in. People get the pseudonyms of their numbers under the current
key, as the registry gives them.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import structlog
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.places import bulk as places_bulk
from safecity.registry import BikeStatus, DeviceStatus, broker_hash, hash_secret
from safecity.security import Pseudonymizer
from safecity.sim.city import City

log = structlog.get_logger(__name__)

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


def _rows(city: City, plaintext: dict[str, str], pseudonymizer: Pseudonymizer) -> dict[str, Any]:
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
        secret_hash=pl.col("id").replace_strict(
            {d: hash_secret(secret) for d, secret in plaintext.items()}, return_dtype=pl.String
        ),
        # As the MQTT broker's password file needs it (`safecity mqtt broker-config`).
        broker_hash=pl.col("id").replace_strict(
            {d: broker_hash(secret) for d, secret in plaintext.items()}, return_dtype=pl.String
        ),
    )
    return {"areas": area_rows, "people": people, "bikes": bikes, "devices": devices}


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
    rows = _rows(city, plaintext, pseudonymizer)
    with session_factory() as session, session.begin():
        existing = registry.bulk.counts(session)
        if any(existing.values()):
            if not replace:
                held = ", ".join(f"{count} {name}" for name, count in existing.items() if count)
                raise CityAlreadyLoaded(
                    f"the registry already holds a city ({held}); pass replace=True to delete it "
                    "(and its watchlist entries) and load this one"
                )
            places_bulk.clear(session)  # places refer to the city's people and areas
            registry.bulk.clear(session)
        registry.bulk.insert_rows(
            session, areas=rows["areas"], people=rows["people"], bikes=rows["bikes"], devices=rows["devices"]
        )
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
