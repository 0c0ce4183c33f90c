"""Fixtures for rules: a registry with a bike, record batches built like ingest builds them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.record import RECORD_SCHEMA
from safecity.rules import LiveFacts
from safecity.security.pseudonym import Pseudonymizer
from tests.conftest import T0

TAG = "00AABBCCDD"
DEVICES = pl.DataFrame(
    {
        "device": ["BS-1", "BS-2", "DC-1"],
        "device_kind": ["rfid_station", "rfid_station", "door_controller"],
        "dev_lat": [28.0, 28.01, 28.02],
        "dev_lon": [120.7, 120.71, 120.72],
        "dev_cell": [1, 2, 3],
        "area": ["C1", "C2", "C1"],
        "active": [True, True, True],
    },
    schema_overrides={"dev_cell": pl.UInt64},
)


def records(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Record batch with defaults: a read of TAG at BS-1, one minute after T0."""
    full = []
    for i, row in enumerate(rows):
        base = {
            "event_id": f"r{i}",
            "corr_id": f"r{i}",
            "kind": "rfid_read",
            "subject_kind": "tag",
            "subject": TAG,
            "device": "BS-1",
            "ts": T0 + timedelta(minutes=1),
            "lat": 28.0,
            "lon": 120.7,
            "cell": 1,
            "area": "C1",
            "code": None,
            "value": None,
            "attrs": None,
            "source": "http",
            "received_at": T0,
        }
        base.update(row)
        full.append(base)
    return pl.DataFrame(full, schema=RECORD_SCHEMA)


@pytest.fixture
def bike_id(session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer) -> int:
    with session_factory() as s, s.begin():
        bike = registry.register_bike(
            s,
            reg=registry.BikeRegistration(
                tag_id=TAG,
                frame_number="F-1",
                model="Yadea",
                colour="red",
                owner_id_number="11010519491231002X",
                owner_name="Zhang San",
            ),
            by="clerk",
            now=T0,
            pseudonymize=pseudonymizer.pseudonym,
        )
        return bike.id


def report(session_factory: sessionmaker[Session], bike_id: int, at: datetime) -> int:
    with session_factory() as s, s.begin():
        return registry.report_stolen(
            s, bike_id=bike_id, reported_by="owner", basis="complaint 42", owner="officer-7", now=at
        ).id


@pytest.fixture
def facts(session_factory: sessionmaker[Session]) -> LiveFacts:
    return LiveFacts(session_factory, lambda: DEVICES, ttl_s=0)
