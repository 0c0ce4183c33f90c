"""Space-time windows: a time range and a place (a drawn area, a set of devices or a circle).

A window becomes an Ibis predicate that both engines evaluate alike: devices by membership, a
circle by the haversine distance, a drawn area by counting how many of its edges a ray from the
point crosses (even-odd), each behind a latitude/longitude box the Parquet statistics can prune
by. No spatial extension is needed, so nothing is downloaded at run time.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

import ibis
import ibis.expr.types as ir
import shapely.validation
from shapely.geometry import Polygon

from safecity.core.geo import EARTH_RADIUS_M, BBox
from safecity.workbench.engine import one_of
from safecity.workbench.errors import QueryRefused

MAX_SPAN = timedelta(days=7)  # one window's time range
MAX_RADIUS_M = 5_000.0
MAX_VERTICES = 64
MAX_DEVICES = 500
MAX_AREA_KM2 = 100.0  # a drawn area larger than a district is not a place


@dataclass(frozen=True, slots=True)
class Window:
    """Where and when: exactly one of devices, polygon (lat, lon vertices) or center with radius."""

    start: datetime
    end: datetime
    devices: tuple[str, ...] = ()
    polygon: tuple[tuple[float, float], ...] = ()
    center: tuple[float, float] | None = None
    radius_m: float | None = None
    label: str = ""

    def checked(self, at: str) -> Window:
        """This window if it is well formed, else a refusal naming `at`'s field and what to change."""
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise QueryRefused("give times with a time zone (UTC offset)", field=f"{at}.start")
        if self.end <= self.start:
            raise QueryRefused(
                f"the time range is inverted or empty: end {self.end.isoformat()} is not after "
                f"start {self.start.isoformat()}",
                field=f"{at}.end",
            )
        if self.end - self.start > MAX_SPAN:
            raise QueryRefused(
                f"a window may span at most {MAX_SPAN.days} days; split it or narrow it",
                field=f"{at}.end",
            )
        places = [bool(self.devices), bool(self.polygon), self.center is not None]
        if sum(places) != 1:
            raise QueryRefused(
                "give the window exactly one place: devices, a drawn polygon, or a center with radius_m"
                + ("" if any(places) else " (it has none)"),
                field=f"{at}.devices",
            )
        if self.devices:
            if len(self.devices) > MAX_DEVICES:
                raise QueryRefused(f"a window may list at most {MAX_DEVICES} devices", field=f"{at}.devices")
            if any(not d.strip() for d in self.devices):
                raise QueryRefused("a device id is empty", field=f"{at}.devices")
            return self
        if self.center is not None:
            lat, lon = self.center
            _check_point(lat, lon, f"{at}.center")
            if self.radius_m is None or not 0 < self.radius_m <= MAX_RADIUS_M:
                raise QueryRefused(
                    f"radius_m must be more than 0 and at most {MAX_RADIUS_M:.0f} m", field=f"{at}.radius_m"
                )
            return self
        return self._checked_polygon(at)

    def _checked_polygon(self, at: str) -> Window:
        if not 3 <= len(self.polygon) <= MAX_VERTICES:
            raise QueryRefused(f"a drawn area needs 3 to {MAX_VERTICES} corners", field=f"{at}.polygon")
        for i, (lat, lon) in enumerate(self.polygon):
            _check_point(lat, lon, f"{at}.polygon[{i}]")
        shape = Polygon([(lon, lat) for lat, lon in self.polygon])
        if not shape.is_valid:
            reason = shapely.validation.explain_validity(shape)
            raise QueryRefused(f"the drawn area is not a simple polygon ({reason})", field=f"{at}.polygon")
        if area_km2(self.polygon) > MAX_AREA_KM2:
            raise QueryRefused(
                f"the drawn area covers more than {MAX_AREA_KM2:.0f} km²; draw a smaller one",
                field=f"{at}.polygon",
            )
        return self

    def bbox(self) -> BBox | None:
        """The box around the place (None for devices)."""
        if self.center is not None and self.radius_m is not None:
            lat, lon = self.center
            dlat = math.degrees(self.radius_m / EARTH_RADIUS_M)
            dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
            return BBox(lat - dlat, lon - dlon, lat + dlat, lon + dlon)
        if self.polygon:
            lats = [p[0] for p in self.polygon]
            lons = [p[1] for p in self.polygon]
            return BBox(min(lats), min(lons), max(lats), max(lons))
        return None

    def predicate(self, t: ir.Table) -> list[ir.BooleanValue]:
        """The terms a sighting of `t` must meet to lie in this window."""
        terms: list[ir.BooleanValue] = [t.ts >= ibis.literal(self.start), t.ts < ibis.literal(self.end)]
        if self.devices:
            return [*terms, one_of(t.device, self.devices)]
        box = self.bbox()
        assert box is not None
        terms += [t.lat >= box.south, t.lat <= box.north, t.lon >= box.west, t.lon <= box.east]
        if self.center is not None and self.radius_m is not None:
            return [*terms, haversine_m(t.lat, t.lon, *self.center) <= self.radius_m]
        return [*terms, inside_polygon(t.lat, t.lon, self.polygon)]


def _check_point(lat: float, lon: float, at: str) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise QueryRefused(f"({lat}, {lon}) is not a latitude and longitude", field=at)


def area_km2(polygon: Sequence[tuple[float, float]]) -> float:
    """The area of a small lat/lon polygon in km² (equirectangular about its middle)."""
    lat0 = math.radians(sum(p[0] for p in polygon) / len(polygon))
    xy = [
        (math.radians(lon) * math.cos(lat0) * EARTH_RADIUS_M, math.radians(lat) * EARTH_RADIUS_M)
        for lat, lon in polygon
    ]
    twice = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(xy, xy[1:] + xy[:1], strict=True))
    return abs(twice) / 2 / 1e6


def haversine_m(
    lat1: ir.FloatingValue,
    lon1: ir.FloatingValue,
    lat2: ir.FloatingValue | float,
    lon2: ir.FloatingValue | float,
) -> ir.FloatingValue:
    """Great-circle metres between columns and a point or other columns, as core.geo.distance_m.

    A fixed point's cosine is computed here once rather than on every row.
    """
    dlat = (lat1 - lat2).radians()
    dlon = (lon1 - lon2).radians()
    cos2 = math.cos(math.radians(lat2)) if isinstance(lat2, float | int) else lat2.radians().cos()
    a = (dlat / 2).sin() ** 2 + lat1.radians().cos() * cos2 * (dlon / 2).sin() ** 2
    return 2 * EARTH_RADIUS_M * a.sqrt().asin()


def inside_polygon(
    lat: ir.FloatingValue, lon: ir.FloatingValue, polygon: Sequence[tuple[float, float]]
) -> ir.BooleanValue:
    """Whether (lat, lon) lies inside the polygon, by the even-odd count of edges a ray crosses."""
    crossings = []
    ring = list(polygon)
    for (lat1, lon1), (lat2, lon2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if lat1 == lat2:
            continue  # a ray along the parallel never crosses a flat edge
        # The edge spans the point's latitude (half-open, so a shared corner counts once) and
        # meets that parallel east of the point.
        spans = (lat1 > lat) != (lat2 > lat)
        meets = lon < (lon2 - lon1) * (lat - lat1) / (lat2 - lat1) + lon1
        crossings.append(ibis.ifelse(spans & meets, 1, 0))
    total = reduce(operator.add, crossings)
    return total % 2 == 1


__all__ = ["MAX_SPAN", "Window", "area_km2", "haversine_m", "inside_polygon"]
