"""The generated city's police units: what the demo registers and the simulated day dispatches,
and how a simulated crew gets anywhere.

Each station area gets two patrol cars and a foot patrol at its police building, each district a
traffic motorcycle and a drone at its first station (by id).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from safecity.core.geo import distance_m
from safecity.dispatch.models import UnitKind
from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.recommend import FOOT_KMH
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


def way(
    network: RoadNetwork,
    kind: str,
    here: tuple[float, float],
    to: tuple[float, float],
    at: datetime,
    *,
    air_kmh: float | None = None,
) -> tuple[list[tuple[float, float]], float] | None:
    """A crew's way from `here` to `to` setting off at `at`: the points to follow and the seconds
    it takes. The quickest road route, walked at `FOOT_KMH` by a foot patrol; a drone flies
    straight at `air_kmh`. None where the network gives no way."""
    if kind == UnitKind.DRONE:
        return [here, to], distance_m(*here, *to) / ((air_kmh or DRONE_KMH) / 3.6)
    route = network.route(network.snap(*here), network.snap(*to), network.speeds.band_at(at))
    if route is None:
        return None
    seconds = route.metres / (FOOT_KMH / 3.6) if kind == UnitKind.FOOT else route.seconds
    return route.coords, seconds


__all__ = ["DRONE_KMH", "unit_plan", "way"]
