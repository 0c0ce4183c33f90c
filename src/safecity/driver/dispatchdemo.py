"""The demo's command centre: units at every police station of the generated city (`make demo`).

Each station area gets two patrol cars and a foot patrol at its police building, each district a
traffic motorcycle and a drone at its first station; all on duty and available, so that a call
taken on the dispatch desk can be sent at once. What exists already is kept (a restart registers
nothing twice).
"""

from __future__ import annotations

from safecity.core.context import SYSTEM
from safecity.dispatch.models import UnitKind, UnitStatus
from safecity.dispatch.runcards import Department
from safecity.dispatch.schemas import UnitIn
from safecity.dispatch.units import Units
from safecity.platform import Platform
from safecity.sim.city import City


def register_units(platform: Platform, city: City) -> int:
    """Register the demo's units (see the module docstring); how many were new."""
    units = platform.service(Units)
    known = {u.id for u in units.list(SYSTEM)}
    areas = city.table("areas")
    stations = areas.filter(areas["kind"] == "station").sort("id")
    added = 0
    seen_districts: set[str] = set()
    for row in stations.iter_rows(named=True):
        short = str(row["id"])
        plan: list[tuple[str, UnitKind, str, dict[str, float]]] = [
            (f"巡{short}-1", UnitKind.CAR, Department.PATROL, {}),
            (f"巡{short}-2", UnitKind.CAR, Department.PATROL, {}),
            (f"步{short}", UnitKind.FOOT, Department.PATROL, {}),
        ]
        district = str(row["parent_id"])
        if district not in seen_districts:
            seen_districts.add(district)
            plan += [
                (f"交{district}", UnitKind.MOTORCYCLE, Department.TRAFFIC, {}),
                (f"飞{district}", UnitKind.DRONE, Department.AIR, {"speed_kmh": 54.0, "endurance_min": 25.0}),
            ]
        for unit_id, kind, department, extra in plan:
            if unit_id in known:
                continue
            body = UnitIn(
                id=unit_id,
                kind=kind,
                department=department,
                station_id=short,
                area_id=short,
                home_lat=float(row["lat"]),
                home_lon=float(row["lon"]),
                **extra,
            )
            units.add(SYSTEM, body, resource="demo")
            units.set_status(SYSTEM, unit_id, UnitStatus.AVAILABLE, expected_version=None, resource="demo")
            added += 1
    return added


__all__ = ["register_units"]
