"""The demo's command centre: units at every police station of the generated city, and the crews
that drive them (`make demo`).

The units are `sim.forces.unit_plan`'s (two patrol cars and a foot patrol per station, a traffic
motorcycle and a drone per district), all on duty and available, so that a call
taken on the dispatch desk can be sent at once. What exists already is kept (a restart registers
nothing twice). Each unit has a handset (a registered device) whose `unit_fix` reports go through
the real ingest, so the units' positions on the map come the way a real handset's would.

`run_crews` plays the crew of every unit nobody has signed on to: an order is accepted, the unit
drives the network's route to the incident at the route's travel time (a foot patrol walks it, a
drone flies straight; a fix every tick), is on scene, reports back after `ON_SCENE` and goes
home, where it is available again. A person who
signs on to a unit at `/handset` works its orders themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from safecity import registry
from safecity.core.context import SYSTEM, Context
from safecity.dispatch.incidents import Incidents
from safecity.dispatch.models import OrderStatus, UnitStatus
from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.networks import RoadNetworks
from safecity.dispatch.orders import Orders
from safecity.dispatch.schemas import OrderUpdateIn, UnitOut
from safecity.dispatch.units import Units
from safecity.ingest import Part
from safecity.platform import Platform
from safecity.registry import DeviceKind
from safecity.sim.city import City
from safecity.sim.forces import unit_plan, way
from safecity.sim.patrols import along
from safecity.store import transaction

log = structlog.get_logger(__name__)
TICK_S = 2.0  # real seconds between the crews' moves (and fixes)
ON_SCENE = timedelta(minutes=8)  # simulated time a crew spends on scene before reporting back


def register_units(platform: Platform, city: City) -> int:
    """Register the demo's units (see the module docstring); how many were new."""
    units = platform.service(Units)
    known = {u.id for u in units.list(SYSTEM)}
    areas = city.table("areas")
    added = 0
    for body in unit_plan(areas):
        if body.id in known:
            continue
        body = body.model_copy(update={"device_id": _handset(platform, body.id, body.area_id)})
        units.add(SYSTEM, body, resource="demo")
        units.set_status(SYSTEM, body.id, UnitStatus.AVAILABLE, expected_version=None, resource="demo")
        added += 1
    return added


def _handset(platform: Platform, unit_id: str, area_id: str) -> str:
    """The unit's handset as a registered device (its unit_fix reports come from it)."""
    device_id = f"MDT-{unit_id}"
    with transaction(platform.session_factory) as session:
        if registry.get_device(session, device_id=device_id) is None:
            registry.create_device(
                session,
                device_id=device_id,
                kind=DeviceKind.HANDSET.value,
                name=f"{unit_id} handset",
                lat=None,
                lon=None,
                area_id=area_id,
                now=platform.clock.now(),
            )
    return device_id


@dataclass
class _Trip:
    """A crew's drive: the route's points, when it set off and how long the route takes."""

    coords: list[tuple[float, float]]
    start: datetime
    seconds: float
    order_id: int | None  # None: driving home


async def run_crews(platform: Platform, stop: asyncio.Event) -> None:
    """Play the crews of the units nobody has signed on to, until stopped (see the docstring)."""
    trips: dict[str, _Trip] = {}
    scene: dict[str, datetime] = {}
    while not stop.is_set():
        try:
            fixes = await asyncio.to_thread(_tick, platform, trips, scene)
            if fixes:  # each fix from its own unit's handset: one part per handset
                parts = [
                    Part(body=json.dumps(fix).encode(), device_id=device, source="sim")
                    for device, fix in fixes
                ]
                await platform.ingest.submit_parts(parts)
        except Exception as exc:  # a demo crew must not stop the demo: say so and go on
            log.warning("demo.crews_failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=TICK_S)


def _tick(
    platform: Platform, trips: dict[str, _Trip], scene: dict[str, datetime]
) -> list[tuple[str, dict[str, object]]]:
    """One move of every simulated crew; the fixes to send, each with its handset."""
    units, orders = platform.service(Units), platform.service(Orders)
    network = platform.service(RoadNetworks)()
    now = platform.clock.now()
    fixes: list[tuple[str, dict[str, object]]] = []
    for unit in units.list(SYSTEM):
        if unit.crew or unit.device_id is None:
            continue
        crew = Context(actor=f"sim-crew-{unit.id}", role="patrol_officer", city_wide=True)
        open_orders = orders.of_unit(SYSTEM, unit.id)
        order = open_orders[0] if open_orders else None
        trip = trips.get(unit.id)
        if order is not None and order.status == OrderStatus.ISSUED:
            orders.update(crew, order.id, OrderUpdateIn(status=OrderStatus.ACCEPTED), resource="demo")
        elif order is not None and order.status == OrderStatus.ACCEPTED:
            trip = _drive(network, unit, _incident_place(platform, order.incident_id), now, order.id)
            if trip is None:
                continue
            trips[unit.id] = trip
            orders.update(crew, order.id, OrderUpdateIn(status=OrderStatus.EN_ROUTE), resource="demo")
        elif trip is not None:
            done = (now - trip.start).total_seconds() / trip.seconds
            lat, lon = along(trip.coords, min(done, 1.0))
            fixes.append((unit.device_id, _fix(unit.id, lat, lon, now)))
            if done >= 1.0:
                del trips[unit.id]
                if trip.order_id is not None:
                    orders.update(
                        crew, trip.order_id, OrderUpdateIn(status=OrderStatus.ON_SCENE), resource="demo"
                    )
                    scene[unit.id] = now
                else:
                    units.set_status(
                        SYSTEM, unit.id, UnitStatus.AVAILABLE, expected_version=None, resource="demo"
                    )
        elif order is not None and order.status == OrderStatus.ON_SCENE:
            if now - scene.setdefault(unit.id, now) >= ON_SCENE:
                report = OrderUpdateIn(status=OrderStatus.REPORTED, report="现场处置完毕（演示警组）")
                orders.update(crew, order.id, report, resource="demo")
                scene.pop(unit.id, None)
                trip = _drive(network, unit, (unit.home_lat, unit.home_lon), now, None)
                if trip is not None:
                    trips[unit.id] = trip
        elif order is None and unit.status == UnitStatus.RETURNING and unit.id not in trips:
            units.set_status(SYSTEM, unit.id, UnitStatus.AVAILABLE, expected_version=None, resource="demo")
    return fixes


def _drive(
    network: RoadNetwork, unit: UnitOut, to: tuple[float, float], now: datetime, order_id: int | None
) -> _Trip | None:
    """The unit's way from where it is (`sim.forces.way`); None where the network gives none."""
    found = way(network, unit.kind, position_of(unit), to, now, air_kmh=unit.speed_kmh)
    if found is None:
        return None
    return _Trip(found[0], now, max(found[1], 1.0), order_id)


def position_of(unit: UnitOut) -> tuple[float, float]:
    """Where the unit is: its last trusted fix, else its home."""
    if unit.lat is not None and unit.lon is not None:
        return unit.lat, unit.lon
    return unit.home_lat, unit.home_lon


def _incident_place(platform: Platform, incident_id: int) -> tuple[float, float]:
    incident = platform.service(Incidents).get(SYSTEM, incident_id, resource="demo")
    return incident.lat, incident.lon


def _fix(unit_id: str, lat: float, lon: float, at: datetime) -> dict[str, object]:
    return {
        "v": 1,
        "id": f"sim-{uuid.uuid4().hex}",
        "kind": "unit_fix",
        "subject": unit_id,
        "ts": at.isoformat(),
        "lat": round(lat, 7),
        "lon": round(lon, 7),
    }


__all__ = ["register_units", "run_crews"]
