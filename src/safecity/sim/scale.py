"""City scales: how big a synthetic city is, from a test fixture to the size of Wenzhou's network."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Road grid geometry shared by every scale. Wenzhou's core has arterial roads roughly every
# 800 m with streets in between; 50 m is the finest place a bike can park or a station stand.
UNIT_M = 50.0
MINOR_UNITS = 4  # a street every 200 m
MAJOR_UNITS = 16  # an arterial road every 800 m (one "super-block")


@dataclass(frozen=True, slots=True)
class CityScale:
    """The size of a synthetic city: its grid of 800 m super-blocks and how much it holds."""

    name: str
    blocks_x: int  # super-blocks west to east
    blocks_y: int  # super-blocks south to north
    districts: int
    stations: int  # police stations (one area each)
    communities: int
    base_stations: int  # RFID base stations ("rfid_station" devices)
    bikes: int
    heartbeat_s: float = 60.0  # default heartbeat period of the simulated stations
    people_per_bike: float = 0.88  # some owners have two bikes

    def __post_init__(self) -> None:
        blocks = self.blocks_x * self.blocks_y
        if not 1 <= self.districts <= self.stations <= self.communities <= blocks:
            raise ValueError(
                f"scale {self.name!r} needs 1 <= districts <= stations <= communities <= "
                f"super-blocks ({blocks}); got {self.districts}, {self.stations}, {self.communities}"
            )
        if not self.communities <= self.base_stations <= self.candidate_sites:
            raise ValueError(
                f"scale {self.name!r} needs between {self.communities} and {self.candidate_sites} "
                f"base stations (one per community at least); got {self.base_stations}"
            )
        if not 1 <= self.bikes < 1 << 23 or not 0.1 <= self.people_per_bike <= 1.0:
            # Trip keys reserve 23 bits for the bike (see trips.trip_key).
            raise ValueError(f"scale {self.name!r} needs 1 to 8,388,607 bikes and 0.1-1 people per bike")

    @property
    def width_units(self) -> int:
        """City width in grid units."""
        return self.blocks_x * MAJOR_UNITS

    @property
    def height_units(self) -> int:
        """City height in grid units."""
        return self.blocks_y * MAJOR_UNITS

    @property
    def people(self) -> int:
        """How many bike owners the city registers."""
        return max(1, round(self.bikes * self.people_per_bike))

    @property
    def candidate_sites(self) -> int:
        """Places a base station may stand: every intersection and the quarter points between."""
        cols, rows = self.width_units // MINOR_UNITS, self.height_units // MINOR_UNITS
        return cols * rows * 5  # per 200 m cell: one intersection, two points on each of two roads

    def as_dict(self) -> dict[str, Any]:
        """The scale as plain JSON-able values."""
        return asdict(self)


SCALES: dict[str, CityScale] = {
    scale.name: scale
    for scale in (
        CityScale(
            "tiny",
            blocks_x=4,
            blocks_y=4,
            districts=2,
            stations=4,
            communities=16,
            base_stations=40,
            bikes=300,
        ),
        CityScale(
            "demo",
            blocks_x=15,
            blocks_y=12,
            districts=6,
            stations=20,
            communities=150,
            base_stations=600,
            bikes=20_000,
            heartbeat_s=300.0,
        ),
        # The seed's figures: 6,399 base stations; ~300k registered bikes in the urban districts.
        CityScale(
            "wenzhou",
            blocks_x=40,
            blocks_y=28,
            districts=11,
            stations=100,
            communities=1000,
            base_stations=6399,
            bikes=300_000,
        ),
    )
}


def resolve_scale(scale: str | CityScale) -> CityScale:
    """Return a scale given by name or as is."""
    if isinstance(scale, CityScale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown city scale {scale!r}; choose one of {', '.join(SCALES)}") from None
