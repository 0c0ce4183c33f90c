"""Where to look for a missing wearer: the search area from their last fixes and the time since.

Pure (no registry, no lake): the missing-person report hands in the wearer's recent fixes and the
moment of the report, and gets back rings around the last fix, each with the share of comparable
people found within it, cut to how far the wearer could have got since.

The shares are those of lost-person statistics for people with dementia (R. Koester, *Lost Person
Behavior*, 2008: about half are found within 0.8 km of where they were last seen, three in four
within 2 km, nearly all within 8 km), rounded; an operator with local data passes their own
`profile`. A ring can never be wider than the distance the wearer could have covered: their own
recent speed if they were moving faster than a walk (a bus, a car), else a brisk walk, times the
time since the last fix, plus the fix's own uncertainty. So a report minutes after the last fix
gives a small area, and one the next morning the statistical rings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from safecity.core.geo import distance_m

# (share found within, radius in metres) for people with dementia, last-seen point outward.
DEMENTIA = ((0.5, 800.0), (0.75, 2_000.0), (0.95, 8_000.0))
WALK_MPS = 1.4  # a brisk walk; most wanderers are slower
FIX_UNCERTAINTY_M = 50.0
MIN_RADIUS_M = 100.0
RECENT = timedelta(minutes=30)  # fixes this close to the last one tell its speed and heading
HEADING_MIN_M = 2 * FIX_UNCERTAINTY_M  # a net move shorter than this is jitter, not a direction


@dataclass(frozen=True, slots=True)
class Ring:
    """A circle around the last fix holding `share` of comparable people found."""

    share: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class SearchArea:
    """The likely search area, and what it was worked out from (shown to the searchers)."""

    lat: float
    lon: float
    last_fix_at: datetime
    elapsed_s: float
    reach_m: float  # the farthest the wearer could be from the last fix
    rings: tuple[Ring, ...]
    speed_mps: float | None  # over the recent fixes; None with a single fix
    heading_deg: float | None  # direction of travel (0 north, 90 east); None when not moving

    def as_dict(self) -> dict[str, object]:
        """The area as an API answer or alert evidence carries it."""
        return {
            "lat": self.lat,
            "lon": self.lon,
            "last_fix_at": self.last_fix_at.isoformat(),
            "elapsed_s": round(self.elapsed_s),
            "reach_m": round(self.reach_m),
            "rings": [{"share": r.share, "radius_m": round(r.radius_m)} for r in self.rings],
            "speed_mps": None if self.speed_mps is None else round(self.speed_mps, 2),
            "heading_deg": None if self.heading_deg is None else round(self.heading_deg),
        }


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from the first point to the second, degrees clockwise from north."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def _motion(
    ts: Sequence[datetime], lat: Sequence[float], lon: Sequence[float]
) -> tuple[float | None, float | None]:
    """Speed (m/s) and heading over the fixes within RECENT of the last one."""
    last = len(ts) - 1
    first = last
    while first > 0 and ts[last] - ts[first - 1] <= RECENT:
        first -= 1
    if first == last:
        return None, None
    travelled = sum(distance_m(lat[i], lon[i], lat[i + 1], lon[i + 1]) for i in range(first, last))
    seconds = (ts[last] - ts[first]).total_seconds()
    if seconds <= 0:
        return None, None
    speed = travelled / seconds
    if distance_m(lat[first], lon[first], lat[last], lon[last]) < HEADING_MIN_M:
        return speed, None
    return speed, bearing_deg(lat[first], lon[first], lat[last], lon[last])


def search_area(
    ts: Sequence[datetime],
    lat: Sequence[float],
    lon: Sequence[float],
    *,
    now: datetime,
    profile: Sequence[tuple[float, float]] = DEMENTIA,
) -> SearchArea:
    """The search area from fixes sorted by time (at least one), as of `now`."""
    if not ts:
        raise ValueError("a search area needs at least one fix")
    if not (len(ts) == len(lat) == len(lon)):
        raise ValueError("ts, lat and lon must have the same length")
    speed, heading = _motion(ts, lat, lon)
    elapsed = max(0.0, (now - ts[-1]).total_seconds())
    pace = max(WALK_MPS, speed or 0.0)
    reach = max(MIN_RADIUS_M, pace * elapsed + FIX_UNCERTAINTY_M)
    rings = tuple(Ring(share, min(radius, reach)) for share, radius in profile)
    return SearchArea(
        lat=lat[-1],
        lon=lon[-1],
        last_fix_at=ts[-1],
        elapsed_s=elapsed,
        reach_m=reach,
        rings=rings,
        speed_mps=speed,
        heading_deg=heading,
    )
