"""Response circles: where the available units can be within 1, 3 and 5 minutes, and how much of each
district's demand (its past incidents) that covers.

From where the units are now (their last trusted fix, else their station), one search over the
road network from all of them at once gives every junction's quickest arrival (`times_from`). A
circle is the roads reached within its time, drawn as those roads widened a little and merged;
a district's coverage is the share of its incidents of the last `DEMAND_DAYS` whose place is
reached within each time (journeys along a unit's own street included). A district under
`target` within 5 minutes is a gap. Drones are left out: the circles are the road response.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import shapely
from pydantic import BaseModel, Field
from sqlalchemy import select

from safecity.core.context import Context
from safecity.dispatch.kpis import districts_of
from safecity.dispatch.models import Incident, IncidentStatus, Unit, UnitKind, UnitStatus
from safecity.dispatch.network import Place, RoadNetwork
from safecity.dispatch.recommend import position
from safecity.dispatch.roads import Band, FloatArray, IntArray
from safecity.dispatch.service import DispatchService

CIRCLES_S = (60.0, 180.0, 300.0)
DEMAND_DAYS = 30
CELL_M = 200.0  # a circle is drawn as the cells of this size its roads pass through (a city block)
M_PER_DEG_LAT = 111_195.0


class DistrictCover(BaseModel):
    district: str
    incidents: int = Field(description="Past incidents (the demand) in the window")
    share: list[float | None] = Field(description="Share of them reached within 1, 3 and 5 minutes")
    gap: bool = Field(description="Under the target within 5 minutes")


class CirclesOut(BaseModel):
    units: int = Field(description="Available road units counted")
    band: str
    circles: dict[str, Any] = Field(description="GeoJSON FeatureCollection: one polygon per circle (minutes)")
    districts: list[DistrictCover]
    target: float


@dataclass
class _Field:
    """What coverage is computed from: the available road units on the network, and the demand (the
    past incidents of the caller's areas) on it, by district."""

    band: Band
    placed: dict[str, Place]  # unit id -> where it is on the network
    unit_district: dict[str, str]
    demand: dict[str, list[Place | None]]  # district -> its incidents' places (None: off the roads)

    def starts(self, leaving: str | None = None) -> tuple[IntArray, FloatArray]:
        """Segments and fractions of the units' places (less the one leaving)."""
        kept = [p for uid, p in self.placed.items() if uid != leaving]
        return np.array([p.segment for p in kept], dtype=np.int64), np.array([p.fraction for p in kept])


class Coverage(DispatchService):
    """The live 1/3/5-minute response circles, each district's coverage, and what a unit's
    departure does to its district's."""

    target: float = 0.8

    def _field(self, ctx: Context, network: RoadNetwork) -> _Field:
        now = self._now()
        units_q = select(Unit).where(
            Unit.status.in_((UnitStatus.AVAILABLE.value, UnitStatus.RETURNING.value)),
            Unit.kind != UnitKind.DRONE.value,
        )
        demand_q = select(Incident.lat, Incident.lon, Incident.area_id).where(
            Incident.reported_at >= now - timedelta(days=DEMAND_DAYS),
            Incident.status != IncidentStatus.MERGED.value,
        )
        if not ctx.city_wide:
            units_q = units_q.where(Unit.area_id.in_(ctx.areas))
            demand_q = demand_q.where(Incident.area_id.in_(ctx.areas))
        with self._sessions() as session:
            units = list(session.scalars(units_q))
            demand = session.execute(demand_q).all()
            district_of = districts_of(session)
        spots, off = network.snap_many(
            np.array([position(u)[0] for u in units]), np.array([position(u)[1] for u in units])
        )
        placed = {
            u.id: p
            for u, p, d in zip(units, spots, off, strict=True)
            if p is not None and d <= network.max_snap_m
        }
        by_district: dict[str, list[Place | None]] = {}
        if demand:
            points, away = network.snap_many(
                np.array([r[0] for r in demand]), np.array([r[1] for r in demand])
            )
            for row, point, d in zip(demand, points, away, strict=True):
                kept = point if point is not None and d <= network.max_snap_m else None
                by_district.setdefault(district_of.get(row[2], row[2]), []).append(kept)
        return _Field(
            band=network.speeds.band_at(now),
            placed=placed,
            unit_district={u.id: district_of.get(u.area_id, u.area_id) for u in units},
            demand=by_district,
        )

    def circles(self, ctx: Context) -> CirclesOut:
        network = self._network()
        field = self._field(ctx, network)
        segs, fracs = field.starts()
        features = []
        reached = None
        if len(segs):
            reached = network.times_from(segs, fracs, field.band, limit_s=CIRCLES_S[-1])
            node = network.node_times(reached)
            d = network.data
            for limit in CIRCLES_S:
                both = (node[d.seg_from] <= limit) & (node[d.seg_to] <= limit)
                shape = reach_shape(d.node_lat, d.node_lon, d.seg_from[both], d.seg_to[both])
                if shape is not None:
                    features.append(
                        {
                            "type": "Feature",
                            "geometry": shapely.geometry.mapping(shape),
                            "properties": {"minutes": limit / 60},
                        }
                    )
        out = []
        for district, points in sorted(field.demand.items()):
            seconds = _arrivals(network, field.band, reached, (segs, fracs), points)
            share: list[float | None] = [round(float((seconds <= t).mean()), 3) for t in CIRCLES_S]
            out.append(
                DistrictCover(
                    district=district,
                    incidents=len(points),
                    share=share,
                    gap=(share[-1] or 0.0) < self.target,
                )
            )
        return CirclesOut(
            units=len(segs),
            band=field.band.value,
            circles={"type": "FeatureCollection", "features": features},
            districts=out,
            target=self.target,
        )

    def departure_effects(
        self, ctx: Context, leaving: list[str]
    ) -> dict[str, tuple[str, float | None, float | None]]:
        """For each unit that might leave: its district, and the district's 5-minute coverage of its
        past incidents with every available unit and without that one (None: no incidents)."""
        network = self._network()
        field = self._field(ctx, network)
        limit = CIRCLES_S[-1]

        def share(district: str, without: str | None) -> float | None:
            points = field.demand.get(district, [])
            if not points:
                return None
            starts = field.starts(without)
            reached = network.times_from(*starts, field.band, limit_s=limit) if len(starts[0]) else None
            return round(float((_arrivals(network, field.band, reached, starts, points) <= limit).mean()), 3)

        now: dict[str, float | None] = {}
        out: dict[str, tuple[str, float | None, float | None]] = {}
        for unit_id in leaving:
            district = field.unit_district.get(unit_id)
            if district is None:
                continue
            if district not in now:
                now[district] = share(district, None)
            out[unit_id] = (district, now[district], share(district, unit_id))
        return out


def _arrivals(
    network: RoadNetwork,
    band: Band,
    reached: FloatArray | None,
    starts: tuple[IntArray, FloatArray],
    points: list[Place | None],
) -> FloatArray:
    """Seconds from the units' places to each point (inf: off the roads, or no unit)."""
    seconds = np.full(len(points), np.inf)
    found = [i for i, p in enumerate(points) if p is not None]
    if reached is not None and found:
        kept = [p for p in points if p is not None]
        seconds[found] = network.arrivals_at(
            reached,
            np.array([p.segment for p in kept]),
            np.array([p.fraction for p in kept]),
            band,
            origins=starts,
        )
    return seconds


def reach_shape(lat: Any, lon: Any, frm: Any, to: Any) -> Any:
    """The reached roads as the merged cells (`CELL_M` square) their junctions and midpoints fall
    in: a circle drawn in tens of milliseconds even for 200,000 roads (widening and merging the
    roads themselves took 40 s there). None if nothing is reached."""
    if not len(frm):
        return None
    plat = np.concatenate([lat[frm], lat[to], (lat[frm] + lat[to]) / 2])
    plon = np.concatenate([lon[frm], lon[to], (lon[frm] + lon[to]) / 2])
    south, west = float(plat.min()), float(plon.min())
    dlat = CELL_M / M_PER_DEG_LAT
    dlon = dlat / max(np.cos(np.radians(south)), 0.1)
    row = np.floor((plat - south) / dlat).astype(np.int64)
    col = np.floor((plon - west) / dlon).astype(np.int64)
    cells = np.unique(row * (1 << 32) + col)
    row, col = cells >> 32, cells & ((1 << 32) - 1)
    # Runs of neighbouring cells along a row become one box; the boxes only touch, so their union
    # is a coverage union (fast), not a general overlay.
    starts = np.ones(len(cells), dtype=bool)
    starts[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1] + 1)
    first = np.flatnonzero(starts)
    last = np.append(first[1:], len(cells)) - 1
    boxes = shapely.box(
        west + col[first] * dlon,
        south + row[first] * dlat,
        west + (col[last] + 1) * dlon,
        south + (row[first] + 1) * dlat,
    )
    return shapely.coverage_union_all(boxes)


__all__ = ["CIRCLES_S", "CirclesOut", "Coverage", "DistrictCover", "reach_shape"]
