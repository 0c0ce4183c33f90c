"""What the wanderers and the tankers share: a local metric plane on the city's lattice, the reports a
simulated terminal sends, and planted episodes as ground truth.

`Emission` is one thing a terminal sends at one time (a fix, an alarm at a fix, a status report
with its battery level), in protocol-neutral terms: `sim/tracklive.py` speaks it to the device
servers in GT06 or JT/T 808, and `sim/tracklive.records` turns it into the records the servers
would make of it, for the accuracy benchmark. `Episode` is one planted situation: the rule kind
that should find it, the entities it is about (`device:TRK-W-0001`, as the warnings name the
tracker) and its time window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from safecity.sim.grid import M_PER_DEG_LAT, Grid
from safecity.sim.terminals import Reading

FIX, ALARM, STATUS = "fix", "alarm", "status"
LOCAL_HOURS = 8  # Wenzhou: routines are planned in local time

TRUTH_SCHEMA: dict[str, pl.DataType] = {
    "rule_kind": pl.String(),
    "refs": pl.List(pl.String()),
    "start": pl.Datetime("ms", "UTC"),
    "end": pl.Datetime("ms", "UTC"),
    "tag": pl.String(),
}


@dataclass(frozen=True, slots=True)
class Emission:
    """One report of a terminal: `kind` fix, alarm (at the fix, `alarm` its name) or status."""

    terminal: str
    kind: str
    reading: Reading
    alarm: str | None = None
    battery_level: int = 6  # GT06 voltage level 0-6 (status reports)
    alarms: tuple[str, ...] = ()  # JT/T 808: alarm bits raised with the fix

    @property
    def ts(self) -> datetime:
        """When it was sent (the fix's time)."""
        return self.reading.ts


@dataclass(frozen=True, slots=True)
class Episode:
    """One planted situation: what should find it, what it is about, when."""

    rule_kind: str
    refs: tuple[str, ...]
    start: datetime
    end: datetime
    tag: str


def truth_frame(episodes: list[Episode]) -> pl.DataFrame:
    """Episodes as the ground-truth table (sim.replay.incidents reads it)."""
    rows = [
        {"rule_kind": e.rule_kind, "refs": list(e.refs), "start": e.start, "end": e.end, "tag": e.tag}
        for e in episodes
    ]
    return pl.DataFrame(rows, schema=TRUTH_SCHEMA)


@dataclass(frozen=True, slots=True)
class Plane:
    """Metres east (x) and north (y) of the city's south-west corner, and back to degrees."""

    grid: Grid

    @property
    def width_m(self) -> float:
        """West to east."""
        return self.grid.width_units * self.grid.unit_m

    @property
    def height_m(self) -> float:
        """South to north."""
        return self.grid.height_units * self.grid.unit_m

    def lat(self, y: float) -> float:
        """Latitude of `y` metres north of the south edge."""
        return self.grid.south + y / M_PER_DEG_LAT

    def lon(self, x: float) -> float:
        """Longitude of `x` metres east of the west edge."""
        return self.grid.west + x / self.grid.m_per_deg_lon

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        """Metres of a point."""
        return (lon - self.grid.west) * self.grid.m_per_deg_lon, (lat - self.grid.south) * M_PER_DEG_LAT


def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two points of the plane."""
    return math.hypot(a[0] - b[0], a[1] - b[1])


def heading(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Degrees from north of the way from a to b."""
    return math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) % 360


class Track:
    """Keyframes (seconds from the start, x, y): the position at any time by linear interpolation."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.x: list[float] = []
        self.y: list[float] = []

    def add(self, t: float, xy: tuple[float, float]) -> None:
        """Be at `xy` at `t` (a second after the last keyframe at the earliest)."""
        if self.t and t <= self.t[-1]:
            t = self.t[-1] + 1.0
        self.t.append(t)
        self.x.append(xy[0])
        self.y.append(xy[1])

    def walk(self, t: float, to: tuple[float, float], speed_ms: float) -> float:
        """Move from the last keyframe (staying there until `t`) to `to`; the time of arrival."""
        here = (self.x[-1], self.y[-1])
        self.add(t, here)
        arrive = t + distance(here, to) / speed_ms
        self.add(arrive, to)
        return arrive

    def at(self, t: float) -> tuple[float, float]:
        """The position at `t`."""
        return float(np.interp(t, self.t, self.x)), float(np.interp(t, self.t, self.y))

    def cut(self, t: float) -> None:
        """Forget everything from `t` on (an episode takes over), keeping the position at `t`."""
        here = self.at(t)
        keep = [i for i, k in enumerate(self.t) if k < t]
        self.t, self.x, self.y = (
            [self.t[i] for i in keep],
            [self.x[i] for i in keep],
            [self.y[i] for i in keep],
        )
        self.add(t, here)


__all__ = [
    "ALARM",
    "FIX",
    "STATUS",
    "TRUTH_SCHEMA",
    "Emission",
    "Episode",
    "Plane",
    "Track",
    "distance",
    "heading",
    "truth_frame",
]
