"""The city's road lattice: integer grid units, conversion to latitude/longitude, parking spots.

Everything the simulator moves along lies on a lattice of 50 m units. Streets run along
every 4th line (200 m), arterial roads along every 16th (800 m). Bikes park at the middle of
a street segment ("mid-block": 100 m from both intersections), base stations stand at
intersections or at the quarter points 50 m from them, so that a parked bike is never inside
a station's ~30 m read range and a riding bike passes exactly the stations on its roads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from safecity.core.geo import EARTH_RADIUS_M, BBox
from safecity.sim.scale import MAJOR_UNITS, MINOR_UNITS, UNIT_M

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

M_PER_DEG_LAT = EARTH_RADIUS_M * math.pi / 180.0
CENTRE_LAT, CENTRE_LON = 27.99, 120.70  # Wenzhou, Lucheng district


@dataclass(frozen=True, slots=True)
class Grid:
    """The lattice of one city: size in units and its south-west corner on the map."""

    width_units: int
    height_units: int
    south: float
    west: float
    unit_m: float = UNIT_M
    minor_units: int = MINOR_UNITS
    major_units: int = MAJOR_UNITS

    @classmethod
    def centred(
        cls, width_units: int, height_units: int, lat: float = CENTRE_LAT, lon: float = CENTRE_LON
    ) -> Grid:
        """A grid of the given size centred on a point (Wenzhou by default)."""
        half_h_m, half_w_m = height_units * UNIT_M / 2, width_units * UNIT_M / 2
        m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(lat))
        return cls(
            width_units,
            height_units,
            round(lat - half_h_m / M_PER_DEG_LAT, 7),
            round(lon - half_w_m / m_per_deg_lon, 7),
        )

    @property
    def m_per_deg_lon(self) -> float:
        """Metres per degree of longitude at the grid's middle latitude."""
        mid = self.south + self.height_units * self.unit_m / 2 / M_PER_DEG_LAT
        return M_PER_DEG_LAT * math.cos(math.radians(mid))

    @property
    def bbox(self) -> BBox:
        """The city's bounding box."""
        return BBox(
            self.south, self.west, float(self.lat(self.height_units)), float(self.lon(self.width_units))
        )

    def bbox_list(self) -> list[float]:
        """The bounding box as [south, west, north, east], rounded to 7 places."""
        box = self.bbox
        return [round(v, 7) for v in (box.south, box.west, box.north, box.east)]

    @property
    def blocks(self) -> tuple[int, int]:
        """Number of super-blocks west-east and south-north."""
        return self.width_units // self.major_units, self.height_units // self.major_units

    def lat(self, y: Any) -> Any:
        """Latitude of grid row coordinate(s) `y` (units, may be fractional)."""
        return self.south + np.asarray(y, dtype=np.float64) * self.unit_m / M_PER_DEG_LAT

    def lon(self, x: Any) -> Any:
        """Longitude of grid column coordinate(s) `x` (units, may be fractional)."""
        return self.west + np.asarray(x, dtype=np.float64) * self.unit_m / self.m_per_deg_lon

    def block_of(self, x: IntArray, y: IntArray) -> tuple[IntArray, IntArray]:
        """Super-block indices of lattice points (points on the far edges belong to the last block)."""
        bx_max, by_max = self.blocks
        return (np.minimum(x // self.major_units, bx_max - 1), np.minimum(y // self.major_units, by_max - 1))

    def snap_parking(
        self, x: FloatArray, y: FloatArray, on_row: npt.NDArray[np.bool_]
    ) -> tuple[IntArray, IntArray]:
        """Snap free points (units) to the nearest mid-block parking spot on a row or column street."""
        m, half = self.minor_units, self.minor_units // 2
        row_x = np.clip(np.floor(x / m) * m + half, half, self.width_units - half)
        row_y = np.clip(np.round(y / m) * m, 0, self.height_units - m)
        col_x = np.clip(np.round(x / m) * m, 0, self.width_units - m)
        col_y = np.clip(np.floor(y / m) * m + half, half, self.height_units - half)
        return (
            np.where(on_row, row_x, col_x).astype(np.int64),
            np.where(on_row, row_y, col_y).astype(np.int64),
        )

    def is_parking(self, x: IntArray, y: IntArray) -> npt.NDArray[np.bool_]:
        """Tell which lattice points are mid-block parking spots."""
        m, half = self.minor_units, self.minor_units // 2
        on_row = (y % m == 0) & (x % m == half)
        on_col = (x % m == 0) & (y % m == half)
        return (on_row | on_col) & (x >= 0) & (y >= 0) & (x < self.width_units) & (y < self.height_units)

    def as_dict(self) -> dict[str, Any]:
        """The grid as plain JSON-able values (stored in city.json)."""
        return {
            "width_units": self.width_units,
            "height_units": self.height_units,
            "south": self.south,
            "west": self.west,
            "unit_m": self.unit_m,
            "minor_units": self.minor_units,
            "major_units": self.major_units,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grid:
        """Rebuild a grid from `as_dict` output."""
        return cls(
            int(data["width_units"]),
            int(data["height_units"]),
            float(data["south"]),
            float(data["west"]),
            float(data["unit_m"]),
            int(data["minor_units"]),
            int(data["major_units"]),
        )
