"""Which units could go to a place, quickest first: road units by road ETA, drones by air.

All road units are ranked by one reverse search from the place (`RoadNetwork.times_to`), whatever
their number. A unit without a trusted fix is taken at its home station. A drone flies straight
at its air speed from where it is (or its launch site) and is a candidate only if it can fly
there and back on its endurance. Units the network cannot bring there (a position far off the
roads) are left out, never given an infinite ETA.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from safecity.core.geo import distance_m
from safecity.dispatch.models import Unit, UnitKind
from safecity.dispatch.network import Place, RoadNetwork
from safecity.dispatch.roads import Band
from safecity.dispatch.schemas import Candidate

FOOT_KMH = 5.0  # a foot patrol walks the roads at this pace, whatever the road's speed


def position(unit: Unit) -> tuple[float, float]:
    """Where a unit is taken to be: its last trusted fix, else its home station."""
    if unit.last_lat is not None and unit.last_lon is not None:
        return unit.last_lat, unit.last_lon
    return unit.home_lat, unit.home_lon


def rank(
    network: RoadNetwork, place: Place, units: Sequence[Unit], at: datetime, *, routes: int = 3
) -> list[Candidate]:
    """The units that can reach `place`, quickest first (the first `routes` with their route)."""
    band = network.speeds.band_at(at)
    road = [u for u in units if u.kind != UnitKind.DRONE]
    out: list[Candidate] = []
    if road:
        lat = np.array([position(u)[0] for u in road])
        lon = np.array([position(u)[1] for u in road])
        spots, off = network.snap_many(lat, lon)
        ok = [i for i, s in enumerate(spots) if s is not None and off[i] <= network.max_snap_m]
        if ok:
            reach = network.times_to(place, band)
            segments = np.array([spots[i].segment for i in ok])  # type: ignore[union-attr]
            fractions = np.array([spots[i].fraction for i in ok])  # type: ignore[union-attr]
            etas = network.etas(place, reach, segments, fractions, band)
            for i, eta in zip(ok, etas, strict=True):
                if not np.isfinite(eta):
                    continue
                unit = road[i]
                if unit.kind == UnitKind.FOOT:
                    # A walker: the same way, at walking pace (the road time scaled by the speeds).
                    eta = eta * _walk_factor(network, spots[i], place, band)  # type: ignore[arg-type]
                out.append(
                    Candidate(
                        unit_id=unit.id,
                        kind=unit.kind,
                        department=unit.department,
                        eta_s=float(eta),
                        distance_m=distance_m(*position(unit), place.snapped_lat, place.snapped_lon),
                        by_air=False,
                    )
                )
    for unit in units:
        if unit.kind != UnitKind.DRONE or not unit.speed_kmh:
            continue
        metres = distance_m(*position(unit), place.lat, place.lon)
        eta = metres / (unit.speed_kmh / 3.6)
        if unit.endurance_min is not None and 2 * eta > unit.endurance_min * 60:
            continue  # could not come back
        out.append(
            Candidate(
                unit_id=unit.id,
                kind=unit.kind,
                department=unit.department,
                eta_s=eta,
                distance_m=metres,
                by_air=True,
                route=[position(unit), (place.lat, place.lon)],
            )
        )
    out.sort(key=lambda c: (c.eta_s, c.unit_id))
    for candidate in out[:routes]:
        if candidate.by_air:
            continue
        unit = next(u for u in road if u.id == candidate.unit_id)
        start = network.snap(*position(unit))
        route = network.route(start, place, band)
        if route is not None:
            candidate.route = route.coords
    return out


def _walk_factor(network: RoadNetwork, start: Place, place: Place, band: Band) -> float:
    """How much longer walking takes than driving the same route (its metres at FOOT_KMH)."""
    route = network.route(start, place, band)
    if route is None or route.seconds <= 0:
        return 1.0
    return (route.metres / (FOOT_KMH / 3.6)) / route.seconds


__all__ = ["FOOT_KMH", "position", "rank"]
