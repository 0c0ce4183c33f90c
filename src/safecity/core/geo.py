"""Geography primitives: bounding boxes, great-circle distance and vectorised H3 cells."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import h3
import numpy as np
import polars as pl
import polars_h3 as plh3

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class BBox:
    """A latitude/longitude box, inclusive on all sides."""

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        if not (-90 <= self.south <= self.north <= 90 and -180 <= self.west <= self.east <= 180):
            raise ValueError(f"not a valid bounding box: {self}")

    def contains(self, lat: float, lon: float) -> bool:
        """Tell whether a point lies inside the box."""
        return self.south <= lat <= self.north and self.west <= lon <= self.east

    def contains_expr(self, lat: pl.Expr, lon: pl.Expr) -> pl.Expr:
        """Polars form of `contains`."""
        return lat.is_between(self.south, self.north) & lon.is_between(self.west, self.east)

    def as_list(self) -> list[float]:
        """Return [west, south, east, north], the GeoJSON bbox order."""
        return [self.west, self.south, self.east, self.north]

    @classmethod
    def parse(cls, text: str) -> BBox:
        """Parse 'south,west,north,east' (the form used in settings)."""
        parts = [float(p) for p in text.split(",")]
        if len(parts) != 4:
            raise ValueError(f"a bounding box needs 4 numbers 'south,west,north,east', got {text!r}")
        return cls(*parts)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points, in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def distances_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """`distance_m` over NumPy arrays (element by element)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


def cell_of(lat: float, lon: float, resolution: int) -> int:
    """H3 cell of one point, as the unsigned 64-bit integer the lake stores."""
    return int(h3.latlng_to_cell(lat, lon, resolution), 16)


def cell_expr(lat: str, lon: str, resolution: int) -> pl.Expr:
    """Vectorised H3 cell of latitude/longitude columns (null where either is null)."""
    return plh3.latlng_to_cell(lat, lon, resolution, return_dtype=pl.UInt64)
