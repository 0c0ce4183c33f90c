"""Put a city's generated smart-community tables (sim.community) into a registry that holds its housing:
the alarm panels and plate cameras through the registry's bulk path, the alarm zones and residents'
vehicles through the places capability's, in one transaction.

The devices get secrets (returned in plaintext, for simulators that sign in as them); vehicles are
registered as of `now`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.places import bulk as places_bulk
from safecity.registry import DeviceStatus, broker_hash, hash_secret


class CommunityAlreadyLoaded(RuntimeError):
    """The registry already holds alarm zones or vehicles."""


@dataclass(frozen=True, slots=True)
class CommunityLoadReport:
    """What `load_community` put into the registry, and the devices' secrets."""

    devices: int
    alarm_zones: int
    vehicles: int
    secrets: dict[str, str] = field(repr=False)


def load_community(
    community: dict[str, pl.DataFrame], session_factory: sessionmaker[Session], *, now: datetime
) -> CommunityLoadReport:
    """Bulk-insert panels, cameras, zones and vehicles; the compounds and people must be loaded."""
    devices = community["devices"]
    plaintext = {d: secrets.token_urlsafe(32) for d in devices["device_id"].to_list()}
    at = pl.lit(now).dt.cast_time_unit("us")
    rows = devices.select(
        pl.col("device_id").alias("id"),
        "kind",
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
    places = {
        "alarm_zones": community["alarm_zones"].select(
            "id", "device_id", "zone", "name", "compound_id", "shop_id", "armed_hours"
        ),
        "vehicles": community["vehicles"].select(
            "id", "compound_id", "plate", "person_id", at.alias("registered_at")
        ),
    }
    with session_factory() as session, session.begin():
        held = {k: n for k, n in places_bulk.counts(session).items() if k in places and n}
        if held:
            raise CommunityAlreadyLoaded(
                f"the registry already holds {', '.join(f'{n} {k}' for k, n in held.items())}"
            )
        registry.bulk.insert_rows(session, devices=rows)
        places_bulk.insert_rows(session, places)
    return CommunityLoadReport(
        devices=rows.height,
        alarm_zones=places["alarm_zones"].height,
        vehicles=places["vehicles"].height,
        secrets=plaintext,
    )


__all__ = ["CommunityAlreadyLoaded", "CommunityLoadReport", "load_community"]
