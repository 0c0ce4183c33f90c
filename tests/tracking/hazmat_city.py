"""A small city for the hazmat tests: two communities with boundaries, a depot, a school, two licensed
sites, petrol, and a tanker whose JT/T 808 terminal is bound to tracker TRK-1.

District D1 holds station S1 (answerable for community C1, west of 120.66 E) and station S2 (C2,
east of it). Site A (the consignor, in C1) and site B (the consignee, in C2) both hold UN1203.
The planned route runs due east along 28.0 N from site A (120.60 E) to site B (120.70 E), ~9.8 km.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry
from safecity.core.clock import ManualClock
from safecity.core.context import Context
from safecity.core.record import RECORD_SCHEMA
from safecity.registry.models import Area
from safecity.store import transaction
from safecity.tracking.hazmat_registry import HazmatRegistry
from safecity.tracking.hazmat_schemas import LoadIn, ProductIn, ShipmentIn, SiteIn, ZoneIn
from safecity.tracking.shipments import Shipments
from safecity.tracking.stock import Stock
from tests.conftest import T0

TERMINAL = "013912345678"
TRACKER = "TRK-1"
LAT = 28.0
WEST, EAST = 120.60, 120.70
ROUTE = {"type": "LineString", "coordinates": [[WEST, LAT], [120.65, LAT], [EAST, LAT]]}
DEPOT = {"type": "Circle", "center": [120.62, LAT], "radius_m": 300}
SCHOOL = {
    "type": "Polygon",
    "coordinates": [
        [[120.679, 27.998], [120.681, 27.998], [120.681, 28.002], [120.679, 28.002], [120.679, 27.998]]
    ],
}
OFFICER = Context(
    actor="officer.c1",
    role="community_officer",
    areas=frozenset({"C1"}),
    permissions=frozenset({"hazmat.read", "hazmat.manage"}),
)
FAR_OFFICER = Context(
    actor="officer.c2",
    role="community_officer",
    areas=frozenset({"C2"}),
    permissions=frozenset({"hazmat.read", "hazmat.manage"}),
)


def box(west: float, east: float) -> dict[str, Any]:
    """A GeoJSON polygon from `west` to `east` between 27.9 N and 28.1 N."""
    ring = [[west, 27.9], [east, 27.9], [east, 28.1], [west, 28.1], [west, 27.9]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass
class Trail:
    """An audit recorder that keeps what it is given."""

    entries: list[tuple[str, AuditEntry]] = field(default_factory=list)

    def record(self, who: Context, entry: AuditEntry) -> int:
        self.entries.append((who.actor, entry))
        return len(self.entries)

    def actions(self) -> list[str]:
        return [e.action for _, e in self.entries]


class NoAlerts:
    """Stands in for the alert service where no warning is open."""

    def list_alerts(self, *_: Any, **__: Any) -> list[Any]:
        return []


@dataclass
class City:
    """The use cases over one database, and what is registered."""

    registry: HazmatRegistry
    stock: Stock
    shipments: Shipments
    trail: Trail
    clock: ManualClock
    site_a: int = 0
    site_b: int = 0


def seed_areas(session_factory: sessionmaker[Session]) -> None:
    """D1 > S1 > C1 (west) and D1 > S2 > C2 (east), with boundaries; tracker TRK-1 bound to TERMINAL."""
    with transaction(session_factory) as session:
        session.add(Area(id="D1", kind="district", name="鹿城区", boundary=box(120.5, 120.8)))
        session.flush()
        session.add(Area(id="S1", kind="station", name="五马派出所", parent_id="D1", station_id="S1"))
        session.add(Area(id="S2", kind="station", name="南汇派出所", parent_id="D1", station_id="S2"))
        session.flush()
        session.add(
            Area(
                id="C1",
                kind="community",
                name="C1",
                parent_id="S1",
                station_id="S1",
                boundary=box(120.5, 120.66),
            )
        )
        session.add(
            Area(
                id="C2",
                kind="community",
                name="C2",
                parent_id="S2",
                station_id="S2",
                boundary=box(120.66, 120.8),
            )
        )
        session.flush()
        registry.create_device(
            session,
            device_id=TRACKER,
            kind="tracker",
            name="浙C12345 tanker",
            lat=None,
            lon=None,
            area_id="C1",
            now=T0,
        )
        registry.register_terminal(session, device_id=TRACKER, protocol="jt808", terminal=TERMINAL, now=T0)


def build_city(session_factory: sessionmaker[Session], clock: ManualClock, alerts: Any = None) -> City:
    """The areas, petrol, sites A (C1) and B (C2), and 30 t of petrol produced at A."""
    seed_areas(session_factory)
    trail = Trail()
    city = City(
        HazmatRegistry(session_factory, trail, now=clock.now),
        Stock(session_factory, trail, now=clock.now),
        Shipments(session_factory, trail, alerts or NoAlerts(), now=clock.now),
        trail,
        clock,
    )
    admin = Context(actor="admin", role="administrator", city_wide=True)
    city.registry.add_product(
        admin,
        ProductIn(
            un_number="UN1203",
            name="汽油 petrol",
            hazard_class="3",
            packing_group="II",
            density_kg_per_l=0.74,
        ),
        resource="t",
    )
    city.site_a = city.registry.add_site(
        admin,
        SiteIn(
            name="Depot A", area_id="C1", lat=LAT, lon=WEST, licence="浙危化经 001", permitted_un=["1203"]
        ),
        resource="t",
    ).id
    city.site_b = city.registry.add_site(
        admin,
        SiteIn(
            name="Works B", area_id="C2", lat=LAT, lon=EAST, licence="浙危化经 002", permitted_un=["1203"]
        ),
        resource="t",
    ).id
    city.stock.record(
        OFFICER,
        city.site_a,
        _movement(kind="produced", quantity=30, unit="t"),
        resource="t",
    )
    return city


def _movement(**over: Any) -> Any:
    from safecity.tracking.hazmat_schemas import MovementIn

    return MovementIn(**{"un_number": "1203", "kind": "produced", "quantity": 1000, "unit": "kg", **over})


def shipment_body(**over: Any) -> ShipmentIn:
    """20 t of petrol from A to B on TRK-1, leaving T0..T0+1h, arriving T0+1h..T0+4h."""
    body: dict[str, Any] = {
        "un_number": "1203",
        "quantity": 20,
        "unit": "t",
        "consignor_site_id": 1,
        "consignee_site_id": 2,
        "carrier": "温州危运有限公司",
        "plate": "浙C12345",
        "device_id": TRACKER,
        "terminal": TERMINAL,
        "route": ROUTE,
        "depart_from": T0,
        "depart_until": T0 + timedelta(hours=1),
        "arrive_from": T0 + timedelta(hours=1),
        "arrive_until": T0 + timedelta(hours=4),
        **over,
    }
    return ShipmentIn.model_validate(body)


def under_way(city: City, *, loaded_t: float = 20, **over: Any) -> int:
    """A shipment planned, loaded (`loaded_t` tonnes) and departed; its id."""
    body = shipment_body(consignor_site_id=city.site_a, consignee_site_id=city.site_b, **over)
    shipment = city.shipments.create(OFFICER, body, resource="t")
    city.shipments.load(OFFICER, shipment.id, LoadIn(quantity=loaded_t, unit="t"), resource="t")
    city.shipments.depart(OFFICER, shipment.id, resource="t")
    return shipment.id


def add_zone(city: City, kind: str, category: str, name: str, area: str, geometry: dict[str, Any]) -> int:
    """Register a zone as an administrator."""
    admin = Context(actor="admin", role="administrator", city_wide=True)
    body = ZoneIn(kind=kind, category=category, name=name, area_id=area, geometry=geometry)  # type: ignore[arg-type]
    return city.registry.add_zone(admin, body, resource="t").id


class Fixes:
    """Builds `tracker_fix` batches of TRK-1 the way the JT/T 808 server's records arrive."""

    def __init__(self) -> None:
        self._n = 0

    def __call__(self, points: list[tuple[datetime, float, float, float | None]]) -> pl.DataFrame:
        """One record per (time, lat, lon, speed_kmh)."""
        rows = []
        for ts, lat, lon, speed in points:
            self._n += 1
            attrs = {"valid": True} | ({"speed_kmh": speed} if speed is not None else {})
            rows.append(
                {
                    "event_id": f"jt808-{TERMINAL}-{self._n:04x}",
                    "corr_id": f"jt808-{TERMINAL}-{self._n:04x}",
                    "kind": "tracker_fix",
                    "subject_kind": "tracker",
                    "subject": TERMINAL,
                    "device": TRACKER,
                    "ts": ts,
                    "lat": lat,
                    "lon": lon,
                    "cell": 1,
                    "area": "C1",  # the tracker's registered area, not where the fix is
                    "code": None,
                    "value": None,
                    "attrs": json.dumps(attrs),
                    "source": "jt808",
                    "received_at": ts,
                }
            )
        return pl.DataFrame(rows, schema=RECORD_SCHEMA)


def drive(
    start: datetime, lons: list[float], *, lat: float = LAT, every_s: int = 30, speed: float = 60.0
) -> list[tuple[datetime, float, float, float | None]]:
    """Fixes every `every_s` seconds at these longitudes, at `speed`."""
    return [(start + timedelta(seconds=every_s * i), lat, lon, speed) for i, lon in enumerate(lons)]
