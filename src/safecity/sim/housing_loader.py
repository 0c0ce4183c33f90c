"""Put a city's generated housing into the registry: its people and door controllers through the
registry's bulk path, the places through the places capability's, in one transaction.

Door controllers get secrets like the base stations (plaintext beside the housing, demo data
under the git-ignored var/ folder, so that the door simulators can sign in). Tenancies start
`since_days` before the load; all are registered as imported (`registered_via = "import"`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
import structlog
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.places import bulk as places_bulk
from safecity.registry import DeviceKind, DeviceStatus, broker_hash, hash_secret
from safecity.security import Pseudonymizer
from safecity.sim.city import City
from safecity.sim.housing import Housing

log = structlog.get_logger(__name__)

SECRETS_FILE = "door_secrets.parquet"
IMPORTED = "import"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HousingAlreadyLoaded(RuntimeError):
    """The registry already holds places and `replace` was not asked for."""


@dataclass(frozen=True, slots=True)
class HousingLoadReport:
    """What `load_housing` put into the registry."""

    compounds: int
    doors: int
    flats: int
    tenancies: int
    people: int
    secrets_path: Path
    elapsed_s: float


def door_secrets(housing: Housing) -> dict[str, str]:
    """Door device id -> plaintext secret, as written by `load_housing`."""
    path = housing.folder / SECRETS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: load the housing into the registry first")
    frame = pl.read_parquet(path)
    return dict(zip(frame["device"].to_list(), frame["secret"].to_list(), strict=True))


def _frames(
    housing: Housing, plaintext: dict[str, str], pseudonymizer: Pseudonymizer, now: datetime
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, pl.DataFrame]]:
    at = pl.lit(now).dt.cast_time_unit("us")
    people = housing.table("people").select(
        pl.col("person_id").alias("id"), "id_number", "name", "phone", "home_area_id", at.alias("created_at")
    )
    people = people.with_columns(
        pseudonymizer.column(people["id_number"]).alias("id_pseudonym"),
        pseudonymizer.column(people["phone"]).alias("phone_pseudonym"),
    )
    doors = housing.table("doors")
    devices = doors.select(
        pl.col("device_id").alias("id"),
        pl.lit(DeviceKind.DOOR_CONTROLLER.value).alias("kind"),
        "name",
        "lat",
        "lon",
        "area_id",
        at.alias("registered_at"),
        pl.lit(DeviceStatus.ACTIVE.value).alias("status"),
        pl.col("device_id")
        .replace_strict({d: hash_secret(s) for d, s in plaintext.items()})
        .alias("secret_hash"),
        pl.col("device_id")
        .replace_strict({d: broker_hash(s) for d, s in plaintext.items()})
        .alias("broker_hash"),
    )
    tenancies = housing.table("tenancies").join(
        housing.table("people").select("person_id", "name"), on="person_id", how="left"
    )
    starts = (at - pl.duration(days=pl.col("since_days"))).alias("starts_at")
    hours = pl.concat_str(
        pl.lit('{"'),
        pl.concat_str(
            [pl.lit(f'{d}": ["') + pl.col("opens") + '", "' + pl.col("closes") for d in _DAYS],
            separator='"], "',
        ),
        pl.lit('"]}'),
    )
    places = {
        "compounds": housing.table("compounds").select("id", "name", "community_id", "gated", "lat", "lon"),
        "buildings": housing.table("buildings"),
        "landlords": housing.table("landlords").select(
            "id", "person_id", "kind", at.alias("registered_at"), pl.lit(IMPORTED).alias("registered_by")
        ),
        "flats": housing.table("flats").select(
            "id", "building_id", "number", "capacity", "use", "landlord_id"
        ),
        "tenancies": tenancies.select(
            "id",
            "flat_id",
            "person_id",
            "name",
            starts,
            starts.alias("registered_at"),
            pl.lit(IMPORTED).alias("registered_by"),
            pl.lit(IMPORTED).alias("registered_via"),
        ),
        "shops": housing.table("shops").select(
            "id",
            "name",
            "community_id",
            "owner_person_id",
            "lat",
            "lon",
            hours.alias("business_hours"),
            pl.lit(True).alias("auto_arm"),
            pl.lit(False).alias("armed"),
        ),
        # Staff added a month before the load, by the import (their names as the registry's).
        "shop_staff": housing.table("shop_staff")
        .join(housing.table("people").select("person_id", "name"), on="person_id", how="left")
        .select(
            "id",
            "shop_id",
            "person_id",
            "name",
            pl.lit(IMPORTED).alias("added_by"),
            (at - pl.duration(days=30)).alias("added_at"),
        ),
        "doors": doors.select("device_id", "compound_id", "building_id", "shop_id", "name"),
    }
    return people, devices, places


def load_housing(
    city: City,
    housing: Housing,
    session_factory: sessionmaker[Session],
    *,
    pseudonymizer: Pseudonymizer,
    now: datetime,
) -> HousingLoadReport:
    """Bulk-insert a city's housing into a registry that holds the city and no places yet.

    `load_city(replace=True)` clears the places with the city, so a city and its housing are
    reloaded together.
    """
    started = time.perf_counter()
    device_ids = housing.table("doors")["device_id"].to_list()
    plaintext = {device: secrets.token_urlsafe(32) for device in device_ids}
    people, devices, places = _frames(housing, plaintext, pseudonymizer, now)
    with session_factory() as session, session.begin():
        held = {name: n for name, n in places_bulk.counts(session).items() if n}
        if held:
            raise HousingAlreadyLoaded(
                f"the registry already holds places ({', '.join(f'{n} {k}' for k, n in held.items())}); "
                "load the city again with replace to start over"
            )
        registry.bulk.insert_rows(session, people=people, devices=devices)
        places_bulk.insert_rows(session, places)
    pl.DataFrame({"device": list(plaintext), "secret": list(plaintext.values())}).write_parquet(
        housing.folder / SECRETS_FILE
    )
    report = HousingLoadReport(
        compounds=places["compounds"].height,
        doors=devices.height,
        flats=places["flats"].height,
        tenancies=places["tenancies"].height,
        people=people.height,
        secrets_path=housing.folder / SECRETS_FILE,
        elapsed_s=round(time.perf_counter() - started, 3),
    )
    log.info(
        "housing loaded",
        city=str(city.out_dir),
        compounds=report.compounds,
        doors=report.doors,
        tenancies=report.tenancies,
        elapsed_s=report.elapsed_s,
    )
    return report


__all__ = ["SECRETS_FILE", "HousingAlreadyLoaded", "HousingLoadReport", "door_secrets", "load_housing"]
