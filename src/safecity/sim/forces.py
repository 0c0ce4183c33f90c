"""The generated city's police units: what the demo registers and the simulated day dispatches.

Each station area gets two patrol cars and a foot patrol at its police building, each district a
traffic motorcycle and a drone at its first station (by id).
"""

from __future__ import annotations

import polars as pl

from safecity.dispatch.models import UnitKind
from safecity.dispatch.runcards import Department
from safecity.dispatch.schemas import UnitIn

DRONE_KMH, DRONE_ENDURANCE_MIN = 54.0, 25.0


def unit_plan(areas: pl.DataFrame) -> list[UnitIn]:
    """The units of a city from its areas table (see the module docstring), in a stable order."""
    stations = areas.filter(pl.col("kind") == "station").sort("id")
    out: list[UnitIn] = []
    seen_districts: set[str] = set()
    for row in stations.iter_rows(named=True):
        short = str(row["id"])
        plan: list[tuple[str, UnitKind, str]] = [
            (f"P-{short}-1", UnitKind.CAR, Department.PATROL),
            (f"P-{short}-2", UnitKind.CAR, Department.PATROL),
            (f"F-{short}", UnitKind.FOOT, Department.PATROL),
        ]
        district = str(row["parent_id"])
        if district not in seen_districts:
            seen_districts.add(district)
            plan += [
                (f"T-{district}", UnitKind.MOTORCYCLE, Department.TRAFFIC),
                (f"UAV-{district}", UnitKind.DRONE, Department.AIR),
            ]
        for unit_id, kind, department in plan:
            drone = kind == UnitKind.DRONE
            out.append(
                UnitIn(
                    id=unit_id,
                    kind=kind,
                    department=department,
                    station_id=short,
                    area_id=short,
                    home_lat=float(row["lat"]),
                    home_lon=float(row["lon"]),
                    speed_kmh=DRONE_KMH if drone else None,
                    endurance_min=DRONE_ENDURANCE_MIN if drone else None,
                )
            )
    return out


__all__ = ["unit_plan"]
