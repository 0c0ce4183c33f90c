"""A small city for alert tests: two stations, a community without one, base stations and a stolen bike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

import safecity.alerts.models
import safecity.registry.models  # noqa: F401  (tables for create_all)
from safecity import registry
from safecity.alerts import AlertService
from safecity.core.clock import ManualClock
from safecity.core.finding import Evidence, Finding, Ref
from safecity.registry import BikeRegistration
from safecity.registry.models import Area
from safecity.security.pseudonym import Pseudonymizer
from safecity.store.db import transaction

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
OWNER_PHONE = "13812345678"
OWNER_ID_NUMBER = "110101199003074477"


@dataclass(frozen=True)
class City:
    """Ids of what the city fixture registered."""

    bike_id: int
    tag: str
    owner_id: int


@pytest.fixture
def sessions(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """A fresh database with every table: SQLite, and PostgreSQL when it runs (tests/conftest.py)."""
    return session_factory


@pytest.fixture
def city(sessions: sessionmaker[Session], pseudonymizer: Pseudonymizer) -> City:
    """Stations S1 and S2 with communities C1 and C2; community C9 answers to no station."""
    with transaction(sessions) as s:
        s.add_all(
            [
                Area(id="D1", kind="district", name="Lucheng District"),
                Area(id="S1", kind="station", name="Wuma Police Station", parent_id="D1", station_id="S1"),
                Area(id="S2", kind="station", name="Nanhui Police Station", parent_id="D1", station_id="S2"),
                Area(id="C1", kind="community", name="Wuma Community", parent_id="S1"),
                Area(id="C2", kind="community", name="Nanhui Community", parent_id="S2"),
                Area(id="C9", kind="community", name="Harbour Works"),
            ]
        )
        s.flush()
        for dev, area, lat, lon in (
            ("RS-1", "C1", 28.0001, 120.6501),
            ("RS-2", "C1", 28.0101, 120.6601),
            ("RS-3", "C2", 28.0201, 120.6701),
            ("RS-9", "C9", 28.1, 120.8),
        ):
            registry.create_device(
                s,
                device_id=dev,
                kind="rfid_station",
                name=f"Base station {dev}",
                lat=lat,
                lon=lon,
                area_id=area,
                now=T0,
            )
        bike = registry.register_bike(
            s,
            reg=BikeRegistration(
                tag_id="A1B2C3D4",
                frame_number="FR-001",
                model="Yadea G5",
                colour="red",
                owner_id_number=OWNER_ID_NUMBER,
                owner_name="Zhang Wei",
                owner_phone=OWNER_PHONE,
            ),
            by="officer-7",
            now=T0,
            pseudonymize=pseudonymizer.pseudonym,
        )
        registry.report_stolen(
            s, bike_id=bike.id, reported_by="Zhang Wei", basis="report 2024-0501", owner="officer-7", now=T0
        )
        return City(bike_id=bike.id, tag=bike.tag_id, owner_id=bike.owner_id)


@pytest.fixture
def clock() -> ManualClock:
    """Platform time, an hour after the city was set up."""
    return ManualClock(T0 + timedelta(hours=1))


@pytest.fixture
def published() -> list[tuple[str, dict[str, Any]]]:
    """Notices the service published, in order."""
    return []


@pytest.fixture
def service(
    sessions: sessionmaker[Session],
    clock: ManualClock,
    published: list[tuple[str, dict[str, Any]]],
    city: City,
) -> AlertService:
    """An alert service that records its notices and routes strays to the command centre CC."""
    return AlertService(
        session_factory=sessions,
        clock=clock,
        publish=lambda topic, notice: published.append((topic, notice)),
        fallback_station_id="CC",
    )


DEVICE_AREAS = {
    "RS-1": ("C1", 28.0001, 120.6501),
    "RS-2": ("C1", 28.0101, 120.6601),
    "RS-3": ("C2", 28.0201, 120.6701),
    "RS-9": ("C9", 28.1, 120.8),
}

MakeFinding = Callable[..., Finding]


@pytest.fixture
def make_finding(city: City) -> MakeFinding:
    """Build a stolen-bike finding for one tag read at a device, `minutes` after T0."""

    def build(
        device: str = "RS-1",
        minutes: int = 0,
        event_id: str | None = None,
        *,
        rule: str = "stolen_bike",
        tag: str | None = None,
        ebike_id: int | None = -1,
        area: str | None = "",
        severity: str = "high",
    ) -> Finding:
        tag = tag or city.tag
        dev_area, lat, lon = DEVICE_AREAS[device]
        ts = T0 + timedelta(minutes=minutes)
        ev = Evidence(
            event_id=event_id or f"ev-{device}-{minutes}",
            corr_id=f"corr-{device}-{minutes}",
            kind="rfid_read",
            subject=tag,
            device=device,
            ts=ts,
            lat=lat,
            lon=lon,
            area=dev_area if area == "" else area,
        )
        facts: dict[str, Any] = {"watchlist_entry_id": 1}
        refs: tuple[Ref, ...] = ()
        if ebike_id is not None:
            facts["ebike_id"] = city.bike_id if ebike_id == -1 else ebike_id
            refs = (Ref("ebike", str(facts["ebike_id"])),)
        return Finding(
            rule=rule,
            rule_kind="hotlist",
            severity=severity,
            title="Stolen e-bike tag read",
            subject_kind="tag",
            subject=tag,
            dedup_key=f"tag:{tag}",
            at=ts,
            evidence=(ev,),
            facts=facts,
            params={"list_kind": "stolen_bike"},
            refs=refs,
        )

    return build
