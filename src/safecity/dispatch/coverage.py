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

from datetime import timedelta
from typing import Any

import numpy as np
import shapely
from pydantic import BaseModel, Field
from sqlalchemy import select

from safecity.core.context import Context
from safecity.dispatch.kpis import _districts
from safecity.dispatch.models import Incident, IncidentStatus, Unit, UnitKind, UnitStatus
from safecity.dispatch.recommend import position
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


class Coverage(DispatchService):
    """The live 1/3/5-minute response circles and each district's coverage."""

    target: float = 0.8

    def circles(self, ctx: Context) -> CirclesOut:
        network = self._network()
        now = self._now()
        band = network.speeds.band_at(now)
        query = select(Unit).where(
            Unit.status.in_((UnitStatus.AVAILABLE.value, UnitStatus.RETURNING.value)),
            Unit.kind != UnitKind.DRONE.value,
        )
        demand_q = select(Incident.lat, Incident.lon, Incident.area_id).where(
            Incident.reported_at >= now - timedelta(days=DEMAND_DAYS),
            Incident.status != IncidentStatus.MERGED.value,
        )
        if not ctx.city_wide:
            query = query.where(Unit.area_id.in_(ctx.areas))
            demand_q = demand_q.where(Incident.area_id.in_(ctx.areas))
        with self._sessions() as session:
            units = list(session.scalars(query))
            demand = session.execute(demand_q).all()
            district_of = _districts(session)
        places, off = network.snap_many(
            np.array([position(u)[0] for u in units]), np.array([position(u)[1] for u in units])
        )
        ok = [p for p, d in zip(places, off, strict=True) if p is not None and d <= network.max_snap_m]
        segs = np.array([p.segment for p in ok], dtype=np.int64)
        fracs = np.array([p.fraction for p in ok])
        features = []
        times = None
        if len(ok):
            reached = network.times_from(segs, fracs, band, limit_s=CIRCLES_S[-1])
            times = reached
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
        districts: dict[str, list[float]] = {}
        if demand:
            spots, away = network.snap_many(
                np.array([r[0] for r in demand]), np.array([r[1] for r in demand])
            )
            arrive = np.full(len(demand), np.inf)
            if times is not None:
                idx = [i for i, s in enumerate(spots) if s is not None and away[i] <= network.max_snap_m]
                if idx:
                    arrive[idx] = network.arrivals_at(
                        times,
                        np.array([spots[i].segment for i in idx]),  # type: ignore[union-attr]
                        np.array([spots[i].fraction for i in idx]),  # type: ignore[union-attr]
                        band,
                        origins=(segs, fracs),
                    )
            for row, seconds in zip(demand, arrive, strict=True):
                districts.setdefault(district_of.get(row[2], row[2]), []).append(float(seconds))
        out = []
        for district, seconds in sorted(districts.items()):
            values = np.array(seconds)
            share: list[float | None] = [round(float((values <= t).mean()), 3) for t in CIRCLES_S]
            out.append(
                DistrictCover(
                    district=district,
                    incidents=len(values),
                    share=share,
                    gap=(share[-1] or 0.0) < self.target,
                )
            )
        return CirclesOut(
            units=len(ok),
            band=band.value,
            circles={"type": "FeatureCollection", "features": features},
            districts=out,
            target=self.target,
        )


def _shares(
    network: Any, band: Any, segs: Any, fracs: Any, demand_spots: list[Any], limit: float
) -> float | None:
    """Share of the demand places reached within `limit` from the units' places (None: no demand)."""
    if not demand_spots:
        return None
    if not len(segs):
        return 0.0
    times = network.times_from(segs, fracs, band, limit_s=limit)
    arrive = network.arrivals_at(
        times,
        np.array([p.segment for p in demand_spots]),
        np.array([p.fraction for p in demand_spots]),
        band,
        origins=(segs, fracs),
    )
    return round(float((arrive <= limit).mean()), 3)


def departure_effects(
    coverage: Coverage, ctx: Context, leaving: list[str]
) -> dict[str, tuple[str, float | None, float | None]]:
    """For each unit that might leave: its district, and the district's 5-minute coverage of its past
    incidents with every available unit and without that one."""
    network = coverage._network()
    now = coverage._now()
    band = network.speeds.band_at(now)
    with coverage._sessions() as session:
        query = select(Unit).where(
            Unit.status.in_((UnitStatus.AVAILABLE.value, UnitStatus.RETURNING.value)),
            Unit.kind != UnitKind.DRONE.value,
        )
        if not ctx.city_wide:
            query = query.where(Unit.area_id.in_(ctx.areas))
        units = list(session.scalars(query))
        demand = session.execute(
            select(Incident.lat, Incident.lon, Incident.area_id).where(
                Incident.reported_at >= now - timedelta(days=DEMAND_DAYS),
                Incident.status != IncidentStatus.MERGED.value,
            )
        ).all()
        district_of = _districts(session)
    spots, off = network.snap_many(
        np.array([position(u)[0] for u in units]), np.array([position(u)[1] for u in units])
    )
    placed = {
        u.id: p
        for u, p, d in zip(units, spots, off, strict=True)
        if p is not None and d <= network.max_snap_m
    }
    by_district: dict[str, list[Any]] = {}
    if demand:
        demand_spots, away = network.snap_many(
            np.array([r[0] for r in demand]), np.array([r[1] for r in demand])
        )
        for row, spot, d in zip(demand, demand_spots, away, strict=True):
            if spot is not None and d <= network.max_snap_m:
                by_district.setdefault(district_of.get(row[2], row[2]), []).append(spot)
    unit_district = {u.id: district_of.get(u.area_id, u.area_id) for u in units}
    limit = CIRCLES_S[-1]
    before: dict[str, float | None] = {}
    out: dict[str, tuple[str, float | None, float | None]] = {}
    for unit_id in leaving:
        district = unit_district.get(unit_id)
        if district is None:
            continue
        stay = [p for uid, p in placed.items() if uid != unit_id]
        every = list(placed.values())
        points = by_district.get(district, [])
        if district not in before:
            before[district] = _shares(
                network,
                band,
                np.array([p.segment for p in every], dtype=np.int64),
                np.array([p.fraction for p in every]),
                points,
                limit,
            )
        after = _shares(
            network,
            band,
            np.array([p.segment for p in stay], dtype=np.int64),
            np.array([p.fraction for p in stay]),
            points,
            limit,
        )
        out[unit_id] = (district, before[district], after)
    return out


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
