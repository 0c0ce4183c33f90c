"""The command-centre capability: the road network, units, incidents and dispatch orders."""

from __future__ import annotations

from typing import Any

from safecity.core.capabilities import Capability, Service
from safecity.core.worker import Task
from safecity.dispatch.coverage import Coverage
from safecity.dispatch.entities import INCIDENT_ENTITIES
from safecity.dispatch.incidents import Incidents
from safecity.dispatch.kpis import ResponseKpis
from safecity.dispatch.networks import RoadNetworks
from safecity.dispatch.orders import Orders
from safecity.dispatch.positions import UnitPositions
from safecity.dispatch.settings import SECTION, DispatchSettings
from safecity.dispatch.units import Units

CITY_ROADS = "roads.npz"  # what the city generator writes beside the city (sim.roadnet)


def _networks(platform: Any) -> RoadNetworks:
    settings = platform.settings.section(DispatchSettings)
    return RoadNetworks(
        settings.dispatch_road_network,
        default=platform.settings.city_dir / CITY_ROADS,
        max_snap_m=settings.dispatch_max_snap_m,
    )


def _coverage(platform: Any) -> Coverage:
    coverage = Coverage.build(platform)
    coverage.target = platform.settings.section(DispatchSettings).dispatch_coverage_target
    return coverage


def _workers(platform: Any) -> list[Any]:
    positions = UnitPositions(platform.bus, platform.service(Units))
    return [Task("dispatch-unit-positions", positions.run)]


CAPABILITY = Capability(
    name="dispatch",
    summary="Command centre: road network, units, incidents and dispatch orders (派单) to many departments",
    requires=("registry", "security"),
    extensions=(
        SECTION,
        INCIDENT_ENTITIES,
        Service(RoadNetworks, _networks),
        Service(Units, Units.build),
        Service(Incidents, Incidents.build),
        Service(Orders, Orders.build),
        Service(ResponseKpis, ResponseKpis.build),
        Service(Coverage, _coverage),
    ),
    build=_workers,
)

__all__ = ["CAPABILITY", "CITY_ROADS"]
