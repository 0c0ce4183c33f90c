"""Road data as loaded, before routing: nodes, directed segments, road classes, turn restrictions.

A loader (OpenStreetMap in `dispatch.osm`, the generated city in `sim.roadnet`) produces one
`RoadData`: every road segment between two consecutive nodes of a way, once per direction it
may be driven (a one-way street gives one segment), with its length, class, way and posted
speed; and the turn restrictions at junctions ("no left turn from way A to way B at node N";
"only straight on"). `dispatch.network.RoadNetwork` turns it into a routable graph.

Travel speeds are by road class and time band (`Speeds`): free-flow speeds capped by the posted
limit, slowed per band (night, day, peak) by a factor per class.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROADS_FORMAT = 1  # of the .npz files RoadData.save writes
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class RoadClass(IntEnum):
    """Road classes, fastest first (OpenStreetMap's highway=* values map onto them)."""

    MOTORWAY = 0
    TRUNK = 1
    PRIMARY = 2
    SECONDARY = 3
    TERTIARY = 4
    RESIDENTIAL = 5
    SERVICE = 6


class Band(StrEnum):
    """Time bands with their own travel speeds."""

    NIGHT = "night"
    DAY = "day"
    PEAK = "peak"


# Local hour -> band: the morning and evening rush, the working day, the night.
_BAND_OF_HOUR = tuple(
    Band.PEAK if h in (7, 8, 17, 18) else Band.DAY if 6 <= h < 22 else Band.NIGHT for h in range(24)
)

# Free-flow speeds (km/h) of an emergency vehicle by class, and the share of it each band allows
# (a siren does not clear a jam): the defaults, overridden in the dispatch settings.
FREE_FLOW_KMH: dict[RoadClass, float] = {
    RoadClass.MOTORWAY: 90.0,
    RoadClass.TRUNK: 70.0,
    RoadClass.PRIMARY: 55.0,
    RoadClass.SECONDARY: 45.0,
    RoadClass.TERTIARY: 40.0,
    RoadClass.RESIDENTIAL: 30.0,
    RoadClass.SERVICE: 15.0,
}
BAND_FACTOR: dict[Band, dict[RoadClass, float]] = {
    Band.NIGHT: dict.fromkeys(RoadClass, 1.0),
    Band.DAY: {c: 0.85 if c <= RoadClass.SECONDARY else 0.9 for c in RoadClass},
    Band.PEAK: {c: 0.55 if c <= RoadClass.SECONDARY else 0.75 for c in RoadClass},
}


@dataclass(frozen=True)
class Speeds:
    """Travel speed by road class and band, and the band of a time (the city's local hour)."""

    free_flow_kmh: dict[RoadClass, float] = field(default_factory=lambda: dict(FREE_FLOW_KMH))
    band_factor: dict[Band, dict[RoadClass, float]] = field(default_factory=lambda: dict(BAND_FACTOR))
    utc_offset_h: int = 8  # China Standard Time

    def band_at(self, at: datetime) -> Band:
        """The band a timezone-aware time falls in, by the city's local hour."""
        if at.tzinfo is None:
            raise ValueError("a travel time needs a timezone-aware time")
        hour = (at.astimezone(UTC).hour + self.utc_offset_h) % 24
        return _BAND_OF_HOUR[hour]

    def seconds(
        self, length_m: FloatArray, road_class: IntArray, posted_kmh: FloatArray, band: Band
    ) -> FloatArray:
        """Travel seconds of segments in a band: the class speed, capped by the posted limit."""
        free = np.array([self.free_flow_kmh[RoadClass(c)] for c in RoadClass])[road_class]
        factor = np.array([self.band_factor[band][RoadClass(c)] for c in RoadClass])[road_class]
        kmh = np.where(np.isnan(posted_kmh), free, np.minimum(free, posted_kmh)) * factor
        return length_m / (kmh / 3.6)


@dataclass(frozen=True)
class Restriction:
    """A turn restriction at a junction: from a way, via a node, to a way.

    `only` says the to-way is the only one allowed from there ("only straight on"); otherwise it
    is the one forbidden ("no left turn"). A U-turn ban has the same way on both sides.
    """

    from_way: int
    via_node: int  # index into RoadData's nodes
    to_way: int
    only: bool
    kind: str = ""  # as the source names it (no_left_turn, only_straight_on, ...)


@dataclass(frozen=True)
class RoadData:
    """Nodes and directed segments of a road network, as a loader read them."""

    name: str
    node_lat: FloatArray
    node_lon: FloatArray
    seg_from: IntArray  # node index
    seg_to: IntArray
    seg_length_m: FloatArray
    seg_class: IntArray  # RoadClass
    seg_way: IntArray  # the way (road) a segment belongs to
    seg_posted_kmh: FloatArray  # NaN where no limit is posted
    restrictions: tuple[Restriction, ...] = ()
    way_names: dict[int, str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # what the loader could not use, and why

    def __post_init__(self) -> None:
        n = len(self.node_lat)
        if len(self.node_lon) != n:
            raise ValueError("node_lat and node_lon differ in length")
        m = len(self.seg_from)
        for name in ("seg_to", "seg_length_m", "seg_class", "seg_way", "seg_posted_kmh"):
            if len(getattr(self, name)) != m:
                raise ValueError(f"{name} has {len(getattr(self, name))} values for {m} segments")
        if m and (self.seg_from.min() < 0 or max(self.seg_from.max(), self.seg_to.max()) >= n):
            raise ValueError("a segment names a node that does not exist")
        if m and not (self.seg_length_m > 0).all():
            raise ValueError("every segment needs a positive length")

    @property
    def nodes(self) -> int:
        return len(self.node_lat)

    def save(self, path: Path) -> None:
        """Write to a compressed NumPy file (`load` reads it back): the generated city's roads."""
        rules = self.restrictions
        meta = {
            "name": self.name,
            "way_names": {str(k): v for k, v in self.way_names.items()},
            "skipped": self.skipped,
        }
        with open(path, "wb") as out:
            np.savez_compressed(
                out,
                format=np.array([ROADS_FORMAT]),
                node_lat=self.node_lat,
                node_lon=self.node_lon,
                seg_from=self.seg_from,
                seg_to=self.seg_to,
                seg_length_m=self.seg_length_m,
                seg_class=self.seg_class,
                seg_way=self.seg_way,
                seg_posted_kmh=self.seg_posted_kmh,
                rule_from=np.array([r.from_way for r in rules], dtype=np.int64),
                rule_via=np.array([r.via_node for r in rules], dtype=np.int64),
                rule_to=np.array([r.to_way for r in rules], dtype=np.int64),
                rule_only=np.array([r.only for r in rules], dtype=bool),
                rule_kind=np.array([r.kind for r in rules], dtype=str),
                meta=np.array([json.dumps(meta, ensure_ascii=False)]),
            )

    @classmethod
    def load(cls, path: Path) -> RoadData:
        """Read a file `save` wrote (ValueError saying what is wrong with any other)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                if int(f["format"][0]) != ROADS_FORMAT:
                    raise ValueError(
                        f"{path}: road file format {int(f['format'][0])}, expected {ROADS_FORMAT}"
                    )
                meta = json.loads(str(f["meta"][0]))
                rules = tuple(
                    Restriction(int(a), int(v), int(b), only=bool(o), kind=str(k))
                    for a, v, b, o, k in zip(
                        f["rule_from"],
                        f["rule_via"],
                        f["rule_to"],
                        f["rule_only"],
                        f["rule_kind"],
                        strict=True,
                    )
                )
                return cls(
                    name=meta["name"],
                    node_lat=f["node_lat"],
                    node_lon=f["node_lon"],
                    seg_from=f["seg_from"],
                    seg_to=f["seg_to"],
                    seg_length_m=f["seg_length_m"],
                    seg_class=f["seg_class"],
                    seg_way=f["seg_way"],
                    seg_posted_kmh=f["seg_posted_kmh"],
                    restrictions=rules,
                    way_names={int(k): v for k, v in meta["way_names"].items()},
                    skipped=meta["skipped"],
                )
        except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a road network file ({exc})") from exc

    @property
    def segments(self) -> int:
        return len(self.seg_from)


__all__ = ["BAND_FACTOR", "FREE_FLOW_KMH", "Band", "RoadClass", "RoadData", "Restriction", "Speeds"]
