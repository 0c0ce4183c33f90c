"""Response circles: where the available units can be within 1, 3 and 5 minutes, how much of each
district's demand (its past incidents and its residents) that covers, and where the units should
stand to cover more.

From where the units are now (their last trusted fix, else their station), one search over the
road network from all of them at once gives every junction's quickest arrival (`times_from`). A
circle is the roads reached within its time, drawn as those roads widened a little and merged;
a district's coverage is the share of its incidents of the last `DEMAND_DAYS` whose place is
reached within each time (journeys along a unit's own street included), and the same for its
registered residents, spread over the roads of the communities they live in. A district under
`target` within 5 minutes is a gap. Drones and foot patrols are left out: the circles are the
response by car and motorcycle (a walker covers a few hundred metres in 5 minutes; counted at
driving speed, as they once were, a station's foot patrol looked like a third car).

`reposition` suggests standby posts for the available units that maximise the demand covered
within a standard (`dispatch.mclp`), and which unit should drive to which post (least total
driving time). Live, the heuristic starts from where the units stand and moves a unit only where
that covers at least `MOVE_GAIN` more of the demand (no shuffling for a sliver); for planning,
the exact optimum, with the gap between it and the heuristic's best from scratch.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import shapely
from pydantic import BaseModel, Field
from scipy.optimize import linear_sum_assignment
from sqlalchemy import select

from safecity import registry
from safecity.core.context import Context
from safecity.dispatch import mclp
from safecity.dispatch.errors import DispatchError
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
RESIDENT_SPOTS = 12  # a community's residents are spread over this many places on its roads
POST_SPACING_M = 500.0  # candidate standby posts: one road place per cell of this size over the demand
MAX_POSTS = 600
EXACT_LIMIT_S = 30.0  # the planning optimum's time limit on the desk
MOVE_GAIN = 0.01  # a live suggestion moves a unit only for this share of the demand more covered


def _unknown() -> list[float | None]:
    return [None, None, None]


class DistrictCover(BaseModel):
    district: str
    incidents: int = Field(description="Past incidents (the demand) in the window")
    share: list[float | None] = Field(description="Share of them reached within 1, 3 and 5 minutes")
    residents: int = Field(0, description="Registered residents living in the district")
    population_share: list[float | None] = Field(
        default_factory=_unknown,
        description="Share of the residents reached within 1, 3 and 5 minutes",
    )
    gap: bool = Field(description="Under the target within 5 minutes")


class Move(BaseModel):
    unit_id: str
    from_: tuple[float, float] = Field(alias="from", description="(lat, lon) where it is")
    to: tuple[float, float] = Field(description="(lat, lon) of its suggested post")
    eta_s: float = Field(description="Driving time to the post")

    model_config = {"populate_by_name": True}


class RepositionOut(BaseModel):
    """A suggestion, never an order: where the available units would cover the most demand."""

    demand: str = Field(description="incidents (of the last 30 days) or population")
    standard_min: float
    units: int
    posts_considered: int
    demand_total: float
    share_now: float = Field(description="Demand covered within the standard where the units are")
    share_suggested: float
    method: str = Field(description="heuristic (live) or exact (planning optimum)")
    seconds: float
    optimal: bool
    heuristic_share: float | None = Field(None, description="With exact: the live heuristic's share")
    gap_pct: float | None = Field(
        None, description="With exact: how far the heuristic falls short of the optimum (or of its bound)"
    )
    bound_share: float | None = Field(
        None, description="With exact: no choice covers more (equal to the suggestion when optimal)"
    )
    moves: list[Move]
    message: str = ""


class CirclesOut(BaseModel):
    units: int = Field(description="Available cars and motorcycles counted (not walkers, not drones)")
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
    residents: dict[str, int]  # district -> registered residents
    population: dict[str, list[tuple[Place, float]]]  # district -> residents' places and weights

    def starts(self, leaving: str | None = None) -> tuple[IntArray, FloatArray]:
        """Segments and fractions of the units' places (less the one leaving)."""
        kept = [p for uid, p in self.placed.items() if uid != leaving]
        return np.array([p.segment for p in kept], dtype=np.int64), np.array([p.fraction for p in kept])


class Coverage(DispatchService):
    """The live 1/3/5-minute response circles, each district's coverage, and what a unit's
    departure does to its district's."""

    target: float = 0.8

    def _field(self, ctx: Context, network: RoadNetwork, *, residents: bool = False) -> _Field:
        """The units and the demand; the residents too if asked (placing them costs a query and
        a snap per community, which a candidate's departure effect does not need)."""
        now = self._now()
        units_q = select(Unit).where(
            Unit.status.in_((UnitStatus.AVAILABLE.value, UnitStatus.RETURNING.value)),
            Unit.kind.not_in((UnitKind.DRONE.value, UnitKind.FOOT.value)),
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
            homes = (
                registry.residents_by_area(session, area_ids=None if ctx.city_wide else ctx.areas)
                if residents
                else []
            )
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
        people: dict[str, int] = {}
        population: dict[str, list[tuple[Place, float]]] = {}
        for area_id, count, placed_homes in _resident_places(network, homes):
            district = district_of.get(area_id, area_id)
            people[district] = people.get(district, 0) + count
            population.setdefault(district, []).extend(placed_homes)
        return _Field(
            band=network.speeds.band_at(now),
            placed=placed,
            unit_district={u.id: district_of.get(u.area_id, u.area_id) for u in units},
            demand=by_district,
            residents=people,
            population=population,
        )

    def circles(self, ctx: Context) -> CirclesOut:
        network = self._network()
        field = self._field(ctx, network, residents=True)
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
        for district in sorted(set(field.demand) | set(field.residents)):
            points = field.demand.get(district, [])
            share: list[float | None] = [None, None, None]
            if points:
                seconds = _arrivals(network, field.band, reached, (segs, fracs), points)
                share = [round(float((seconds <= t).mean()), 3) for t in CIRCLES_S]
            people = field.residents.get(district, 0)
            people_share: list[float | None] = [None, None, None]
            spots = field.population.get(district, [])
            if people:
                seconds = _arrivals(network, field.band, reached, (segs, fracs), [p for p, _ in spots])
                weight = np.array([w for _, w in spots])
                people_share = [round(float(weight[seconds <= t].sum() / people), 3) for t in CIRCLES_S]
            # A gap: under the target within 5 minutes for its incidents, or for its residents
            # where it has had no incident.
            judged = share[-1] if share[-1] is not None else people_share[-1]
            out.append(
                DistrictCover(
                    district=district,
                    incidents=len(points),
                    share=share,
                    residents=people,
                    population_share=people_share,
                    gap=judged is not None and judged < self.target,
                )
            )
        return CirclesOut(
            units=len(segs),
            band=field.band.value,
            circles={"type": "FeatureCollection", "features": features},
            districts=out,
            target=self.target,
        )

    def reposition(
        self,
        ctx: Context,
        *,
        demand: Literal["incidents", "population"] = "incidents",
        minutes: float = 5.0,
        exact: bool = False,
    ) -> RepositionOut:
        """Standby posts for the available road units that cover the most demand within `minutes`
        (see the module docstring)."""
        if not 1.0 <= minutes <= 15.0:
            raise DispatchError(f"a standard of 1 to 15 minutes, not {minutes}", field="minutes")
        network = self._network()
        field = self._field(ctx, network, residents=demand == "population")
        limit = minutes * 60.0
        if demand == "incidents":
            spots = [(p, 1.0) for points in field.demand.values() for p in points if p is not None]
        else:
            spots = [spot for points in field.population.values() for spot in points]
        unit_ids = list(field.placed)
        empty = RepositionOut(
            demand=demand,
            standard_min=minutes,
            units=len(unit_ids),
            posts_considered=0,
            demand_total=float(sum(w for _, w in spots)),
            share_now=0.0,
            share_suggested=0.0,
            method="exact" if exact else "heuristic",
            seconds=0.0,
            optimal=False,
            moves=[],
        )
        if not unit_ids:
            return empty.model_copy(update={"message": "no available road unit to place"})
        if not spots:
            return empty.model_copy(update={"message": f"no {demand} on the roads of your areas to cover"})
        points = (np.array([p.segment for p, _ in spots]), np.array([p.fraction for p, _ in spots]))
        weights = np.array([w for _, w in spots])
        posts = self._posts(network, field, [p for p, _ in spots])
        cover = network.cover(
            (np.array([p.segment for p in posts]), np.array([p.fraction for p in posts])),
            points,
            field.band,
            limit_s=limit,
        )
        problem = mclp.Problem(cover, weights, len(unit_ids))
        # The units' own places are the first posts: where they stand now is one choice, and the
        # one kept unless another covers strictly more (no driving about for nothing).
        here = np.arange(len(unit_ids))
        share_now = problem.covered(here) / problem.total
        if exact:
            # Planning: the optimum, and how close the heuristic gets from scratch. A search the
            # time limit stopped says how far off it may be (its bound); if the heuristic did
            # better than its best so far, the heuristic's choice is the suggestion.
            best = mclp.exact(problem, time_limit_s=EXACT_LIMIT_S)
            plain = mclp.heuristic(problem)
            chosen = plain if plain.covered > best.covered else best
            bound = max(best.bound, chosen.covered)
            extra = {
                "heuristic_share": round(plain.share, 4),
                "gap_pct": round(100.0 * max(0.0, bound - plain.covered) / bound, 3) if bound else 0.0,
                "bound_share": round(bound / problem.total, 4),
            }
            chosen = replace(chosen, seconds=best.seconds, optimal=best.optimal, bound=bound)
        else:
            # Live: from where the units stand, each move worth `MOVE_GAIN` of the demand.
            chosen = mclp.heuristic(problem, current=here, move_cost=MOVE_GAIN * problem.total)
            extra = {}
        stay = chosen.covered <= problem.covered(here) + 1e-9
        moves = [] if stay else self._moves(network, field, unit_ids, [posts[j] for j in chosen.posts])
        return empty.model_copy(
            update={
                "posts_considered": len(posts),
                "share_now": round(share_now, 4),
                "share_suggested": round(chosen.share, 4),
                "seconds": round(chosen.seconds, 3),
                "optimal": chosen.optimal,
                "method": chosen.method,
                "moves": moves,
                **extra,
            }
        )

    @staticmethod
    def _posts(network: RoadNetwork, field: _Field, demand: list[Place]) -> list[Place]:
        """Candidate standby posts: where each unit is now (first, in the units' order), then one
        road place per `POST_SPACING_M` cell around the demand, up to `MAX_POSTS`."""
        posts = list(field.placed.values())
        lat = np.array([p.snapped_lat for p in demand])
        lon = np.array([p.snapped_lon for p in demand])
        dlat = POST_SPACING_M / M_PER_DEG_LAT
        dlon = dlat / max(np.cos(np.radians(float(lat.mean()))), 0.1)
        row = np.floor((lat - lat.min()) / dlat).astype(np.int64)
        col = np.floor((lon - lon.min()) / dlon).astype(np.int64)
        width = int(col.max()) + 1
        cells, counts = np.unique(row * width + col, return_counts=True)
        # The busiest cells if there are more than the cap allows, in cell order.
        cells = np.sort(cells[np.argsort(-counts, kind="stable")[: max(0, MAX_POSTS - len(posts))]])
        cells = np.stack([cells // width, cells % width], axis=1)
        centre_lat = lat.min() + (cells[:, 0] + 0.5) * dlat
        centre_lon = lon.min() + (cells[:, 1] + 0.5) * dlon
        found, away = network.snap_many(centre_lat, centre_lon)
        posts += [p for p, d in zip(found, away, strict=True) if p is not None and d <= network.max_snap_m]
        return posts

    @staticmethod
    def _moves(network: RoadNetwork, field: _Field, unit_ids: list[str], posts: list[Place]) -> list[Move]:
        """Which unit drives to which post: the least total driving time (Hungarian method). A
        unit whose post is where it is now stays and is not listed."""
        segs = np.array([field.placed[u].segment for u in unit_ids])
        fracs = np.array([field.placed[u].fraction for u in unit_ids])
        cost = np.empty((len(unit_ids), len(posts)))
        for j, post in enumerate(posts):
            cost[:, j] = network.etas(post, network.times_to(post, field.band), segs, fracs, field.band)
        finite = np.where(np.isfinite(cost), cost, 1e9)
        rows, cols = linear_sum_assignment(finite)
        moves = []
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            here, post = field.placed[unit_ids[i]], posts[j]
            if cost[i, j] < 1.0 or not np.isfinite(cost[i, j]):
                continue
            moves.append(
                Move(
                    unit_id=unit_ids[i],
                    from_=(here.snapped_lat, here.snapped_lon),
                    to=(post.snapped_lat, post.snapped_lon),
                    eta_s=round(float(cost[i, j]), 1),
                )
            )
        return sorted(moves, key=lambda m: m.unit_id)

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


def _resident_places(
    network: RoadNetwork, homes: list[tuple[str, int, float | None, float | None, dict[str, Any] | None]]
) -> list[tuple[str, int, list[tuple[Place, float]]]]:
    """Each area's residents spread evenly over `RESIDENT_SPOTS` road places inside its boundary
    (seeded by the area, so the same each time), or at its centre without one. An area none of
    whose places is on the roads keeps its count with no places: its people are not reached."""
    owner: list[int] = []
    lats: list[float] = []
    lons: list[float] = []
    for k, (area_id, _, lat, lon, boundary) in enumerate(homes):
        points: list[tuple[float, float]] = []
        if boundary:
            shape = shapely.geometry.shape(boundary)
            west, south, east, north = shape.bounds
            rng = np.random.default_rng(zlib.crc32(area_id.encode()))
            tries_lat = rng.uniform(south, north, RESIDENT_SPOTS * 8)
            tries_lon = rng.uniform(west, east, RESIDENT_SPOTS * 8)
            inside = shapely.contains_xy(shape, tries_lon, tries_lat)
            points = list(zip(tries_lat[inside], tries_lon[inside], strict=True))[:RESIDENT_SPOTS]
        if not points and lat is not None and lon is not None:
            points = [(lat, lon)]
        owner += [k] * len(points)
        lats += [p[0] for p in points]
        lons += [p[1] for p in points]
    kept: list[list[Place]] = [[] for _ in homes]
    if lats:  # one snap for every area's places
        found, away = network.snap_many(np.array(lats), np.array(lons))
        for k, place, d in zip(owner, found, away, strict=True):
            if place is not None and d <= network.max_snap_m:
                kept[k].append(place)
    return [
        (area_id, count, [(p, count / len(kept[k])) for p in kept[k]])
        for k, (area_id, count, *_) in enumerate(homes)
    ]


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


__all__ = ["CIRCLES_S", "CirclesOut", "Coverage", "DistrictCover", "Move", "RepositionOut", "reach_shape"]
