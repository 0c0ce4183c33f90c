"""The routable road network: travel times to and from any point, routes, and what is unreachable.

Built once from a loader's `RoadData` (decision 0013):

* **Turn restrictions** are honoured by splitting the junctions they name: a segment that ends at
  a restricted junction ends at a copy of it kept for that segment, whose way out leaves out the
  forbidden turns (or keeps only the one an "only" restriction allows). Everywhere else a node is
  one graph node, so the graph stays the size of the map.
* **Disconnected pieces** (a car park whose only way in is a one-way street out, a fragment cut
  off at the file's edge) are found at build as strongly connected components. Only the largest
  is routable: points snap to its roads, and the report says how much was left out, so that no
  answer is ever a silent infinite ETA.
* **Points are snapped to segments**, not nodes: a place is a segment and a fraction along it,
  and a journey starts or ends part-way along that segment (or its twin the other way).
* **Searches** are SciPy's Dijkstra on CSR matrices, one forward and one reverse per time band,
  each with one extra "virtual" node whose few edges are set per query to the place's segment
  ends (under a lock: the matrices are shared). "Times to a place" is one reverse search whatever
  the number of units; "times from many places" (coverage) is one forward search from all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import structlog
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from safecity.core.geo import EARTH_RADIUS_M
from safecity.dispatch.roads import Band, FloatArray, IntArray, RoadData, Speeds

log = structlog.get_logger(__name__)

M_PER_DEG_LAT = EARTH_RADIUS_M * np.pi / 180.0
SNAP_STEP_M = 20.0  # points along each segment in the snapping index
SNAP_CANDIDATES = 12  # nearest index points whose segments are measured exactly
MAX_SNAP_M = 300.0  # a place further than this from any routable road is refused


class Unsnappable(ValueError):
    """A point too far from any routable road (at sea, outside the network)."""

    def __init__(self, lat: float, lon: float, distance_m: float, limit_m: float) -> None:
        self.lat, self.lon, self.distance_m, self.limit_m = lat, lon, distance_m, limit_m
        super().__init__(
            f"({lat:.6f}, {lon:.6f}) is {distance_m:,.0f} m from the nearest road of the network; "
            f"places more than {limit_m:,.0f} m from a road are refused"
        )


@dataclass(frozen=True, slots=True)
class Place:
    """A point on the network: `fraction` of the way along segment `segment`."""

    lat: float  # as given
    lon: float
    segment: int
    fraction: float
    snapped_lat: float
    snapped_lon: float
    distance_m: float  # from the given point to the road


@dataclass(frozen=True, slots=True)
class Route:
    """A journey on the network: its time, length and the line to draw."""

    seconds: float
    metres: float
    coords: list[tuple[float, float]]  # (lat, lon), from the origin's snapped point


@dataclass(frozen=True, slots=True)
class NetworkReport:
    """What was loaded and what of it can be routed."""

    name: str
    nodes: int
    segments: int
    components: int  # strongly connected pieces among the nodes that have roads
    routable_nodes: int
    routable_segments: int
    cut_off_nodes: int  # in pieces other than the largest: never snapped to, never routed
    cut_off_segments: int
    restrictions_applied: int
    split_junctions: int
    skipped: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class _Searches:
    """The forward and reverse matrices of one band, each with its virtual row (last node)."""

    def __init__(self, tails: IntArray, heads: IntArray, weights: FloatArray, n: int, slots: int) -> None:
        self.forward = _csr(tails, heads, weights, n, slots)
        self.reverse = _csr(heads, tails, weights, n, slots)
        self.slots = slots
        self.locks = {"forward": threading.Lock(), "reverse": threading.Lock()}

    def run(
        self, direction: str, targets: IntArray, costs: FloatArray, limit: float, predecessors: bool = False
    ) -> Any:
        """Dijkstra from the virtual node, its edges set to (targets, costs) for this search."""
        matrix = getattr(self, direction)
        if len(targets) > self.slots:
            raise ValueError(f"{len(targets)} start edges for {self.slots} slots")
        virtual = matrix.shape[0] - 1
        with self.locks[direction]:
            lo = matrix.indptr[virtual]
            pad = self.slots - len(targets)
            matrix.indices[lo:] = np.concatenate([targets, np.full(pad, virtual)])
            matrix.data[lo:] = np.concatenate([costs, np.ones(pad)])
            return dijkstra(
                matrix, directed=True, indices=virtual, limit=limit, return_predecessors=predecessors
            )


def _csr(rows: IntArray, cols: IntArray, weights: FloatArray, n: int, slots: int) -> csr_matrix:
    """A CSR matrix of n + 1 nodes: the cheapest of parallel edges, and `slots` virtual edges."""
    order = np.lexsort((weights, cols, rows))
    rows, cols, weights = rows[order], cols[order], weights[order]
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, weights = rows[keep], cols[keep], weights[keep]
    counts = np.bincount(rows, minlength=n + 1)
    counts[n] = slots
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.concatenate([cols, np.full(slots, n)]).astype(np.int32)
    data = np.concatenate([weights, np.ones(slots)])
    return csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))


class RoadNetwork:
    """A road network ready to answer travel times, snaps and routes (see the module docstring)."""

    def __init__(
        self, data: RoadData, speeds: Speeds | None = None, *, max_snap_m: float = MAX_SNAP_M
    ) -> None:
        self.data = data
        self.max_snap_m = max_snap_m
        self.speeds = speeds or Speeds()
        self._lat0 = float(np.mean(data.node_lat)) if data.nodes else 0.0
        self._lon0 = float(np.mean(data.node_lon)) if data.nodes else 0.0
        self._m_per_deg_lon = M_PER_DEG_LAT * np.cos(np.radians(self._lat0))
        self._x, self._y = self._project(data.node_lat, data.node_lon)
        self._twin = _twins(data)
        tails, heads, phys, graph_node, applied, split = _expand_turns(data)
        seg_head = heads[: data.segments]  # the first m graph edges are the segments themselves
        in_main, components = _main_component(tails, heads, len(graph_node))
        self._tails, self._heads, self._phys, self._graph_node = tails, heads, phys, graph_node
        self._n = len(graph_node)
        # Each segment's head: the graph node a journey along it reaches (a junction's copy for
        # it). Searches run on the whole graph: a road out of the main piece (a dead end) is no
        # way through, but still the last stretch to a place on its twin.
        self._head = seg_head
        routable_node = np.zeros(data.nodes, dtype=bool)
        routable_node[graph_node[in_main]] = True
        routable_seg = np.zeros(data.segments, dtype=bool)
        routable_seg[phys[in_main[tails] & in_main[heads]]] = True
        self._routable = routable_seg
        # Graph edges grouped by segment: the tails a journey may enter a segment from.
        order = np.argsort(phys, kind="stable")
        self._by_seg_tails = tails[order]
        self._by_seg_start = np.searchsorted(phys[order], np.arange(data.segments + 1))
        entries = np.diff(self._by_seg_start)
        twin_entries = np.where(self._twin >= 0, entries[np.maximum(self._twin, 0)], 0)
        self._slots = int(max(2, (entries + twin_entries).max(initial=0)))
        self._searches: dict[Band, _Searches] = {}
        self._seconds: dict[Band, FloatArray] = {}
        self._build_lock = threading.Lock()
        self._index = self._snap_index()
        has_roads = np.zeros(data.nodes, dtype=bool)
        has_roads[data.seg_from] = has_roads[data.seg_to] = True
        self.report = NetworkReport(
            name=data.name,
            nodes=int(has_roads.sum()),
            segments=data.segments,
            components=components,
            routable_nodes=int(routable_node.sum()),
            routable_segments=int(routable_seg.sum()),
            cut_off_nodes=int((has_roads & ~routable_node).sum()),
            cut_off_segments=int(data.segments - routable_seg.sum()),
            restrictions_applied=applied,
            split_junctions=split,
            skipped=dict(data.skipped),
        )
        log.info("road_network_built", **self.report.as_dict())

    # geometry

    def _project(self, lat: Any, lon: Any) -> tuple[FloatArray, FloatArray]:
        """Local metres east and north of the network's centre (equirectangular; a city is small)."""
        x = (np.asarray(lon, dtype=np.float64) - self._lon0) * self._m_per_deg_lon
        y = (np.asarray(lat, dtype=np.float64) - self._lat0) * M_PER_DEG_LAT
        return x, y

    def _unproject(self, x: Any, y: Any) -> tuple[FloatArray, FloatArray]:
        return (np.asarray(y) / M_PER_DEG_LAT + self._lat0, np.asarray(x) / self._m_per_deg_lon + self._lon0)

    def _snap_index(self) -> tuple[cKDTree | None, IntArray]:
        segs = np.flatnonzero(self._routable)
        if not len(segs):
            return None, segs
        d = self.data
        pieces = np.maximum(1, np.ceil(d.seg_length_m[segs] / SNAP_STEP_M).astype(np.int64))
        seg_of = np.repeat(segs, pieces)
        starts = np.cumsum(pieces) - pieces
        frac = (np.arange(pieces.sum()) - np.repeat(starts, pieces) + 0.5) / np.repeat(pieces, pieces)
        a, b = d.seg_from[seg_of], d.seg_to[seg_of]
        x = self._x[a] + frac * (self._x[b] - self._x[a])
        y = self._y[a] + frac * (self._y[b] - self._y[a])
        return cKDTree(np.column_stack([x, y])), seg_of

    def snap(self, lat: float, lon: float, *, max_m: float | None = None) -> Place:
        """The nearest point on a routable road; `Unsnappable` (with the distance) past `max_m`
        (default: the network's `max_snap_m`)."""
        max_m = self.max_snap_m if max_m is None else max_m
        places, distances = self.snap_many(np.array([lat]), np.array([lon]))
        if places[0] is None:
            raise Unsnappable(lat, lon, float(distances[0]), max_m)
        if distances[0] > max_m:
            raise Unsnappable(lat, lon, float(distances[0]), max_m)
        return places[0]

    def snap_many(self, lat: FloatArray, lon: FloatArray) -> tuple[list[Place | None], FloatArray]:
        """Snap many points at once; each Place (None if the network has no roads) and its distance."""
        tree, seg_of = self._index
        if tree is None:
            return [None] * len(lat), np.full(len(lat), np.inf)
        px, py = self._project(lat, lon)
        k = min(SNAP_CANDIDATES, len(seg_of))
        _, hits = tree.query(np.column_stack([px, py]), k=k)
        cand = seg_of[np.asarray(hits).reshape(len(lat), k)]
        d = self.data
        ax, ay = self._x[d.seg_from[cand]], self._y[d.seg_from[cand]]
        bx, by = self._x[d.seg_to[cand]], self._y[d.seg_to[cand]]
        dx, dy = bx - ax, by - ay
        span = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(span > 0, ((px[:, None] - ax) * dx + (py[:, None] - ay) * dy) / span, 0.0)
        t = np.clip(t, 0.0, 1.0)
        qx, qy = ax + t * dx, ay + t * dy
        dist = np.hypot(px[:, None] - qx, py[:, None] - qy)
        best = np.argmin(dist, axis=1)
        rows = np.arange(len(lat))
        slat, slon = self._unproject(qx[rows, best], qy[rows, best])
        places: list[Place | None] = [
            Place(
                lat=float(lat[i]),
                lon=float(lon[i]),
                segment=int(cand[i, best[i]]),
                fraction=float(t[i, best[i]]),
                snapped_lat=float(slat[i]),
                snapped_lon=float(slon[i]),
                distance_m=float(dist[i, best[i]]),
            )
            for i in rows
        ]
        return places, dist[rows, best]

    def node_coords(self, graph_nodes: IntArray) -> tuple[FloatArray, FloatArray]:
        """(lat, lon) of graph nodes (a junction's copies share its position)."""
        phys = self._graph_node[graph_nodes]
        return self.data.node_lat[phys], self.data.node_lon[phys]

    # travel times

    def seconds(self, band: Band) -> FloatArray:
        """Travel seconds of every segment in a band."""
        self._searches_for(band)
        return self._seconds[band]

    def _searches_for(self, band: Band) -> _Searches:
        found = self._searches.get(band)
        if found is None:
            with self._build_lock:
                found = self._searches.get(band)
                if found is None:
                    d = self.data
                    secs = self.speeds.seconds(d.seg_length_m, d.seg_class, d.seg_posted_kmh, band)
                    self._seconds[band] = secs
                    found = _Searches(self._tails, self._heads, secs[self._phys], self._n, self._slots)
                    self._searches[band] = found
        return found

    def _entries(self, segment: int) -> IntArray:
        """The graph nodes a journey may enter a segment from."""
        return self._by_seg_tails[self._by_seg_start[segment] : self._by_seg_start[segment + 1]]

    def times_to(self, place: Place, band: Band, *, limit_s: float = np.inf) -> FloatArray:
        """Seconds from every graph node to `place` (inf past `limit_s` or where it cannot be reached)."""
        secs = self.seconds(band)
        e, f = place.segment, place.fraction
        targets = [self._entries(e)]
        costs = [np.full(len(targets[0]), f * secs[e])]
        twin = self._twin[e]
        if twin >= 0:
            targets.append(self._entries(twin))
            costs.append(np.full(len(targets[1]), (1.0 - f) * secs[twin]))
        result: FloatArray = self._searches_for(band).run(
            "reverse", np.concatenate(targets), np.concatenate(costs), limit_s
        )
        return result[: self._n]

    def etas(
        self, to_place: Place, reach: FloatArray, segments: IntArray, fractions: FloatArray, band: Band
    ) -> FloatArray:
        """Seconds for journeys starting part-way along `segments` to reach the place `reach` was
        computed for (`times_to`): along the segment to its end, or back along its twin."""
        secs = self.seconds(band)
        segments = np.asarray(segments, dtype=np.int64)
        fractions = np.asarray(fractions, dtype=np.float64)
        head = self._head[segments]
        onward = np.where(head >= 0, (1.0 - fractions) * secs[segments] + reach[np.maximum(head, 0)], np.inf)
        twin = self._twin[segments]
        twin_head = np.where(twin >= 0, self._head[np.maximum(twin, 0)], -1)
        back = np.where(
            twin_head >= 0, fractions * secs[np.maximum(twin, 0)] + reach[np.maximum(twin_head, 0)], np.inf
        )
        eta = np.minimum(onward, back)
        # Already on the place's road: straight there along it, or along its twin.
        e, f = to_place.segment, to_place.fraction
        ahead = (segments == e) & (fractions <= f)
        eta = np.where(ahead, np.minimum(eta, (f - fractions) * secs[e]), eta)
        facing = (segments == self._twin[e]) & (self._twin[e] >= 0) & (1.0 - fractions >= f)
        return np.where(facing, np.minimum(eta, (1.0 - fractions - f) * secs[segments]), eta)

    def eta(self, origin: Place, destination: Place, band: Band) -> float:
        """Seconds from one place to another (inf where the network gives no way)."""
        reach = self.times_to(destination, band)
        return float(
            self.etas(destination, reach, np.array([origin.segment]), np.array([origin.fraction]), band)[0]
        )

    def _starts(
        self, segments: IntArray, fractions: FloatArray, secs: FloatArray
    ) -> tuple[IntArray, FloatArray]:
        """Virtual edges for journeys leaving places: to each segment's head, and its twin's."""
        twin = self._twin[segments]
        has_twin = (twin >= 0) & (self._head[np.maximum(twin, 0)] >= 0)
        targets = np.concatenate([self._head[segments], self._head[twin[has_twin]]])
        costs = np.concatenate(
            [(1.0 - fractions) * secs[segments], (fractions * secs[np.maximum(twin, 0)])[has_twin]]
        )
        ok = targets >= 0
        return targets[ok], costs[ok]

    def times_from(
        self, segments: IntArray, fractions: FloatArray, band: Band, *, limit_s: float = np.inf
    ) -> FloatArray:
        """Seconds from the nearest of many places to every graph node (one search for all)."""
        secs = self.seconds(band)
        targets, costs = self._starts(np.asarray(segments, np.int64), np.asarray(fractions, np.float64), secs)
        searches = self._searches_for(band)
        base = searches.forward
        n = self._n
        # A one-off matrix whose virtual row holds every start (the shared one has a few slots).
        lo = base.indptr[n]
        indptr = base.indptr.copy()
        indptr[n + 1] = lo + len(targets)
        matrix = csr_matrix(
            (
                np.concatenate([base.data[:lo], costs]),
                np.concatenate([base.indices[:lo], targets.astype(np.int32)]),
                indptr,
            ),
            shape=base.shape,
        )
        result: FloatArray = dijkstra(matrix, directed=True, indices=n, limit=limit_s)
        return result[:n]

    def reach_each(
        self, segments: IntArray, fractions: FloatArray, band: Band, *, limit_s: float
    ) -> list[tuple[IntArray, FloatArray]]:
        """For each place alone, the graph nodes reached within `limit_s` and their seconds (one
        bounded search each on the shared matrices: a unit's own response circle)."""
        secs = self.seconds(band)
        searches = self._searches_for(band)
        out = []
        for segment, fraction in zip(np.asarray(segments), np.asarray(fractions), strict=True):
            targets, costs = self._starts(np.array([segment]), np.array([fraction]), secs)
            times = searches.run("forward", targets, costs, limit_s)[: self._n]
            nodes = np.flatnonzero(np.isfinite(times))
            out.append((nodes, times[nodes]))
        return out

    def cover(
        self,
        origins: tuple[IntArray, FloatArray],
        points: tuple[IntArray, FloatArray],
        band: Band,
        *,
        limit_s: float,
    ) -> csr_matrix:
        """Which points each origin reaches within `limit_s` (origins x points, boolean): one
        bounded search per origin, and each point's arrival read from its segment's entries (the
        edges `times_to` would give it), gathered once for all origins."""
        secs = self.seconds(band)
        searches = self._searches_for(band)
        segs = np.asarray(points[0], np.int64)
        fracs = np.asarray(points[1], np.float64)
        entries, costs = self._entry_table(segs, fracs, secs)
        twin_of_point = self._twin[segs]
        rows: list[IntArray] = []
        for o_seg, o_frac in zip(np.asarray(origins[0]), np.asarray(origins[1]), strict=True):
            targets, start_costs = self._starts(np.array([o_seg]), np.array([o_frac]), secs)
            times = searches.run("forward", targets, start_costs, limit_s)
            times[self._n] = np.inf  # the pad entry (the virtual source itself is no way in)
            arrive = (times[entries] + costs).min(axis=1)
            # Along the origin's own road: ahead on it, or on its twin facing the point.
            ahead = (segs == o_seg) & (fracs >= o_frac)
            arrive[ahead] = np.minimum(arrive[ahead], (fracs[ahead] - o_frac) * secs[o_seg])
            facing = (twin_of_point == o_seg) & (o_seg >= 0) & (1.0 - o_frac >= fracs)
            arrive[facing] = np.minimum(arrive[facing], (1.0 - o_frac - fracs[facing]) * secs[o_seg])
            rows.append(np.flatnonzero(arrive <= limit_s))
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
        indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        return csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(len(rows), len(segs)))

    def _entry_table(
        self, segments: IntArray, fractions: FloatArray, secs: FloatArray
    ) -> tuple[IntArray, FloatArray]:
        """Per point, the graph nodes a journey reaches it from and the seconds left from each
        (padded with the unused virtual index at no cost), for gathering arrivals in one step."""
        twin = self._twin[segments]
        counts = np.diff(self._by_seg_start)
        own = counts[segments]
        other = np.where(twin >= 0, counts[np.maximum(twin, 0)], 0)
        width = int(max(1, (own + other).max(initial=0)))
        entries = np.full((len(segments), width), self._n, dtype=np.int64)
        costs = np.zeros((len(segments), width))
        for i, (seg, frac, tw) in enumerate(
            zip(segments.tolist(), fractions.tolist(), twin.tolist(), strict=True)
        ):
            ways = [(self._entries(seg), frac * secs[seg])]
            if tw >= 0:
                ways.append((self._entries(tw), (1.0 - frac) * secs[tw]))
            k = 0
            for nodes, cost in ways:
                entries[i, k : k + len(nodes)] = nodes
                costs[i, k : k + len(nodes)] = cost
                k += len(nodes)
        return entries, costs

    def arrival(self, reached: FloatArray, band: Band) -> FloatArray:
        """Per segment, the seconds to enter it from `times_from`'s answer (inf where never)."""
        enter = np.full(self.data.segments, np.inf)
        np.minimum.at(enter, self._phys, reached[self._tails])
        return enter

    def arrivals_at(
        self,
        reached: FloatArray,
        segments: IntArray,
        fractions: FloatArray,
        band: Band,
        *,
        origins: tuple[IntArray, FloatArray] | None = None,
    ) -> FloatArray:
        """Seconds from `times_from`'s places to points part-way along segments. Give the same
        `origins` (segments, fractions) to count a journey along the origin's own road, which no
        search from its ends can see (a point just ahead on the same street)."""
        secs = self.seconds(band)
        enter = self.arrival(reached, band)
        segments = np.asarray(segments, np.int64)
        fractions = np.asarray(fractions, np.float64)
        twin = self._twin[segments]
        along = enter[segments] + fractions * secs[segments]
        back = np.where(
            twin >= 0, enter[np.maximum(twin, 0)] + (1.0 - fractions) * secs[np.maximum(twin, 0)], np.inf
        )
        out: FloatArray = np.minimum(along, back)
        if origins is not None:
            starts: dict[int, list[float]] = {}
            for segment, fraction in zip(*origins, strict=True):
                starts.setdefault(int(segment), []).append(float(fraction))
            for i, (segment, fraction) in enumerate(zip(segments.tolist(), fractions.tolist(), strict=True)):
                for g in starts.get(segment, ()):
                    if g <= fraction:  # ahead on the same road
                        out[i] = min(out[i], (fraction - g) * secs[segment])
                other = int(self._twin[segment])
                for g in starts.get(other, ()) if other >= 0 else ():
                    if 1.0 - g >= fraction:  # on the twin, facing it
                        out[i] = min(out[i], (1.0 - g - fraction) * secs[other])
        return out

    def node_times(self, graph_times: FloatArray) -> FloatArray:
        """Per physical node, the least of its graph copies' times."""
        out = np.full(self.data.nodes, np.inf)
        np.minimum.at(out, self._graph_node, graph_times)
        return out

    def route(self, origin: Place, destination: Place, band: Band) -> Route | None:
        """The quickest journey between two places, or None where the network gives no way."""
        secs = self.seconds(band)
        targets, costs = self._starts(np.array([origin.segment]), np.array([origin.fraction]), secs)
        dist, pred = self._searches_for(band).run("forward", targets, costs, np.inf, predecessors=True)
        e, f = destination.segment, destination.fraction
        best, via = np.inf, -1
        options = [(self._entries(e), f * secs[e])]
        twin = self._twin[e]
        if twin >= 0:
            options.append((self._entries(twin), (1.0 - f) * secs[twin]))
        for entries, part in options:
            if len(entries):
                i = int(np.argmin(dist[entries]))
                if dist[entries[i]] + part < best:
                    best, via = float(dist[entries[i]] + part), int(entries[i])
        direct = self.etas(
            destination,
            np.full(self._n + 1, np.inf),
            np.array([origin.segment]),
            np.array([origin.fraction]),
            band,
        )[0]
        if direct <= best:
            if not np.isfinite(direct):
                return None
            coords = [
                (origin.snapped_lat, origin.snapped_lon),
                (destination.snapped_lat, destination.snapped_lon),
            ]
            return Route(float(direct), _length(coords), coords)
        if via < 0 or not np.isfinite(best):
            return None
        chain = []
        node, virtual = via, self._n
        while node != virtual and node >= 0:
            chain.append(node)
            node = int(pred[node])
        lat, lon = self.node_coords(np.array(chain[::-1], dtype=np.int64))
        coords = [(origin.snapped_lat, origin.snapped_lon)]
        coords += [(float(a), float(b)) for a, b in zip(lat, lon, strict=True)]
        coords.append((destination.snapped_lat, destination.snapped_lon))
        return Route(best, _length(coords), _dedupe(coords))

    def straight_m(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        """Metres in a straight line (a drone's way) between two (lat, lon) points."""
        ax, ay = self._project(a[0], a[1])
        bx, by = self._project(b[0], b[1])
        return float(np.hypot(bx - ax, by - ay))


def _length(coords: list[tuple[float, float]]) -> float:
    lat = np.array([c[0] for c in coords])
    lon = np.array([c[1] for c in coords])
    y = lat * M_PER_DEG_LAT
    x = lon * M_PER_DEG_LAT * np.cos(np.radians(lat.mean()))
    return float(np.hypot(np.diff(x), np.diff(y)).sum())


def _dedupe(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [coords[0]]
    for c in coords[1:]:
        if c != out[-1]:
            out.append(c)
    return out


def _twins(data: RoadData) -> IntArray:
    """Each segment's opposite on the same way (the other direction of a two-way street), or -1."""
    segs = pl.DataFrame(
        {"a": data.seg_from, "b": data.seg_to, "w": data.seg_way, "i": np.arange(data.segments)}
    )
    back = segs.select(a="b", b="a", w="w", twin="i")
    joined = segs.join(back, on=["a", "b", "w"], how="left").unique("i", keep="first").sort("i")
    return joined["twin"].fill_null(-1).to_numpy().astype(np.int64)


def _expand_turns(data: RoadData) -> tuple[IntArray, IntArray, IntArray, IntArray, int, int]:
    """Graph edges (tail, head, segment) with restricted junctions split per way in; each graph
    node's physical node; how many restrictions took effect and how many junctions were split."""
    n, m = data.nodes, data.segments
    seg_from, seg_to, way = data.seg_from, data.seg_to, data.seg_way
    by_via: dict[int, list[Any]] = {}
    for r in data.restrictions:
        by_via.setdefault(r.via_node, []).append(r)
    restricted = np.zeros(n, dtype=bool)
    restricted[list(by_via)] = True
    into = np.flatnonzero(restricted[seg_to])  # segments ending at a restricted junction
    copy_of = np.full(m, -1, dtype=np.int64)
    copy_of[into] = n + np.arange(len(into))
    heads = np.where(copy_of >= 0, copy_of, seg_to)
    tails_out, heads_out, phys_out = [seg_from], [heads], [np.arange(m, dtype=np.int64)]
    applied: set[int] = set()
    out_of: dict[int, list[int]] = {}
    for s in np.flatnonzero(restricted[seg_from]):
        out_of.setdefault(int(seg_from[s]), []).append(int(s))
    extra_t, extra_h, extra_p = [], [], []
    for e_in in into:
        v = int(seg_to[e_in])
        rules = [r for r in by_via[v] if r.from_way == way[e_in]]
        only = {r.to_way for r in rules if r.only}
        for e_out in out_of.get(v, []):
            w = int(way[e_out])
            allowed = w in only if only else True
            for r in rules:
                if r.only:
                    applied.add(id(r))
                # A ban onto the same way is a U-turn ban: only the way back is forbidden.
                elif r.to_way == w and (r.from_way != r.to_way or seg_to[e_out] == seg_from[e_in]):
                    allowed = False
                    applied.add(id(r))
            if allowed:
                extra_t.append(int(copy_of[e_in]))
                extra_h.append(int(heads[e_out]))
                extra_p.append(e_out)
    tails_out.append(np.array(extra_t, dtype=np.int64))
    heads_out.append(np.array(extra_h, dtype=np.int64))
    phys_out.append(np.array(extra_p, dtype=np.int64))
    graph_node = np.concatenate([np.arange(n, dtype=np.int64), seg_to[into]])
    return (
        np.concatenate(tails_out),
        np.concatenate(heads_out),
        np.concatenate(phys_out),
        graph_node,
        len(applied),
        len(by_via),
    )


def _main_component(tails: IntArray, heads: IntArray, n: int) -> tuple[Any, int]:
    """Which graph nodes are in the largest strongly connected piece, and how many pieces the
    roads fall into."""
    if not len(tails):
        return np.zeros(n, dtype=bool), 0
    adjacency = csr_matrix((np.ones(len(tails)), (tails, heads)), shape=(n, n))
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    touched = np.zeros(n, dtype=bool)
    touched[tails] = touched[heads] = True
    main = int(np.argmax(np.bincount(labels[touched])))
    # Pieces as a person counts them: those a road leads into (a split junction's own node, which
    # only its copies are entered by, is not one).
    return labels == main, len(np.unique(labels[heads]))


__all__ = ["MAX_SNAP_M", "NetworkReport", "Place", "RoadNetwork", "Route", "Unsnappable"]
