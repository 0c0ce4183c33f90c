"""A small command centre for the dispatch tests: a 5 x 5 lattice of streets 100 m apart, two station
areas (A1 west of the middle street, A2 east of it), and units of several kinds.

    row 4  20 - 21 - 22 - 23 - 24
            ...                        columns 0-1 in A1, 3-4 in A2 (the middle column in A1)
    row 0   0 -  1 -  2 -  3 -  4

Units: P1 patrol car at junction (0, 0), P2 patrol car at (1, 4), P3 patrol car at (4, 4) in A2,
T1 traffic motorcycle at (4, 0) in A2, F1 foot patrol at (2, 2), D1 drone launching at (0, 4)
(60 km/h, 10 minutes in the air). All on duty and available.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import ManualClock
from safecity.core.context import Context
from safecity.dispatch.incidents import Incidents
from safecity.dispatch.models import UnitKind, UnitStatus
from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.orders import Orders
from safecity.dispatch.runcards import Department
from safecity.dispatch.schemas import IncidentIn, UnitIn
from safecity.dispatch.units import Units
from safecity.registry.models import Area
from safecity.store import transaction
from tests.dispatch.roadkit import position, roads
from tests.tracking.hazmat_city import Trail

SIDE = 5
PERMISSIONS = frozenset({"dispatch.read", "dispatch.calls", "dispatch.order"})
DISPATCHER = Context(
    actor="dispatcher.1", role="dispatcher", areas=frozenset({"A1", "A2"}), permissions=PERMISSIONS
)
DISPATCHER_2 = Context(
    actor="dispatcher.2", role="dispatcher", areas=frozenset({"A1", "A2"}), permissions=PERMISSIONS
)
OFFICER_P1 = Context(
    actor="officer.p1",
    role="patrol_officer",
    areas=frozenset({"A1"}),
    permissions=frozenset({"orders.handset"}),
)
FAR_OFFICER = Context(
    actor="officer.a2", role="patrol_officer", areas=frozenset({"A2"}), permissions=PERMISSIONS
)
COMMANDER = Context(
    actor="commander", role="commander", areas=frozenset({"A1", "A2"}), permissions=PERMISSIONS
)


def lattice() -> RoadNetwork:
    coords = [position(i, j) for j in range(SIDE) for i in range(SIDE)]
    links = []
    way = 0
    for j in range(SIDE):
        for i in range(SIDE):
            here = j * SIDE + i
            if i + 1 < SIDE:
                links.append((here, here + 1, way, False))
                way += 1
            if j + 1 < SIDE:
                links.append((here, here + SIDE, way, False))
                way += 1
    return RoadNetwork(roads(coords, links))


def _box(west: float, east: float, south: float, north: float) -> dict[str, object]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass
class Centre:
    units: Units
    incidents: Incidents
    orders: Orders
    network: RoadNetwork
    trail: Trail
    clock: ManualClock


def build_centre(session_factory: sessionmaker[Session], clock: ManualClock) -> Centre:
    network = lattice()
    south, west = position(-1, -1)
    north, east = position(SIDE, SIDE)
    _, middle = position(2.5, 0)
    with transaction(session_factory) as session:
        session.add(Area(id="D1", kind="district", name="D1"))
        session.add(
            Area(
                id="A1", kind="station", name="A1", parent_id="D1", boundary=_box(west, middle, south, north)
            )
        )
        session.add(
            Area(
                id="A2", kind="station", name="A2", parent_id="D1", boundary=_box(middle, east, south, north)
            )
        )
    trail = Trail()
    centre = Centre(
        Units(session_factory, trail, lambda: network, now=clock.now),
        Incidents(session_factory, trail, lambda: network, now=clock.now),
        Orders(session_factory, trail, lambda: network, now=clock.now),
        network,
        trail,
        clock,
    )
    for unit_id, kind, department, area, (i, j), extra in (
        ("P1", UnitKind.CAR, Department.PATROL, "A1", (0, 0), {}),
        ("P2", UnitKind.CAR, Department.PATROL, "A1", (1, 4), {}),
        ("P3", UnitKind.CAR, Department.PATROL, "A2", (4, 4), {}),
        ("T1", UnitKind.MOTORCYCLE, Department.TRAFFIC, "A2", (4, 0), {}),
        ("F1", UnitKind.FOOT, Department.PATROL, "A1", (2, 2), {}),
        ("D1", UnitKind.DRONE, Department.AIR, "A1", (0, 4), {"speed_kmh": 60.0, "endurance_min": 10.0}),
    ):
        lat, lon = position(i, j)
        body = UnitIn(
            id=unit_id,
            kind=kind,
            department=department,
            station_id=area,
            area_id=area,
            home_lat=lat,
            home_lon=lon,
            **extra,
        )
        centre.units.add(COMMANDER, body, resource="t")
        centre.units.set_status(COMMANDER, unit_id, UnitStatus.AVAILABLE, expected_version=None, resource="t")
    centre.units.sign_on(OFFICER_P1, "P1", resource="t")
    return centre


def call(i: float, j: float, kind: str = "burglary_in_progress", **extra: object) -> IncidentIn:
    """A 110 call at lattice point (i, j)."""
    lat, lon = position(i, j)
    return IncidentIn(kind=kind, lat=lat, lon=lon, caller_name="王女士", caller_phone="13812345678", **extra)  # type: ignore[arg-type]
