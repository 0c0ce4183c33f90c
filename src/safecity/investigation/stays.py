"""A path as stays and moves: where a subject stayed and for how long, and the ways between.

A stay is a run of consecutive sightings all within `radius_m` of the run's first one, no two
more than `max_gap_minutes` apart (a bike seen by the same station in the morning and at night
did not stay there all day on the evidence), lasting at least `min_minutes` (first to last
sighting). What lies between two stays is a move. Sightings without a position neither start nor
break a stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from safecity.core.geo import distance_m

STAY_RADIUS_M = 200.0
STAY_MIN_MINUTES = 10.0
STAY_MAX_GAP_MINUTES = 60.0


@dataclass(frozen=True, slots=True)
class Stay:
    """Where a subject stayed: the first sighting's place and device, from when to when."""

    start: datetime
    end: datetime
    lat: float
    lon: float
    device: str | None
    sightings: int

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


def stays(
    points: list[dict[str, Any]],
    *,
    radius_m: float = STAY_RADIUS_M,
    min_minutes: float = STAY_MIN_MINUTES,
    max_gap_minutes: float = STAY_MAX_GAP_MINUTES,
) -> list[Stay]:
    """The stays of a path (sightings in time order, each with ts, lat, lon, device)."""
    found: list[Stay] = []
    run: list[dict[str, Any]] = []

    def close() -> None:
        if run and (run[-1]["ts"] - run[0]["ts"]).total_seconds() / 60 >= min_minutes:
            head = run[0]
            found.append(Stay(head["ts"], run[-1]["ts"], head["lat"], head["lon"], head["device"], len(run)))

    for point in points:
        if point.get("lat") is None or point.get("lon") is None:
            continue
        near = run and distance_m(run[0]["lat"], run[0]["lon"], point["lat"], point["lon"]) <= radius_m
        if near and (point["ts"] - run[-1]["ts"]).total_seconds() / 60 <= max_gap_minutes:
            run.append(point)
            continue
        close()
        run = [point]
    close()
    return found


__all__ = ["STAY_MAX_GAP_MINUTES", "STAY_MIN_MINUTES", "STAY_RADIUS_M", "Stay", "stays"]
