"""Small hand-made road networks for the dispatch tests, and a brute-force router to check against.

`lattice(...)` lays nodes on a grid 100 m apart near Helsinki; `roads(...)` makes `RoadData` from
(from node, to node, way, one-way) tuples. `brute_eta` searches journey states (a node and the
segment just driven) with a plain priority queue: an implementation independent of the
network's junction splitting, with the same rules (restrictions by way, a U-turn ban forbidding
only the way back, turning round mid-road on a two-way street).
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from safecity.dispatch.network import Place, RoadNetwork
from safecity.dispatch.roads import Band, Restriction, RoadClass, RoadData

LAT0, LON0 = 60.17, 24.94
STEP_M = 100.0
M_PER_DEG = 6_371_008.8 * math.pi / 180


def position(i: int, j: int) -> tuple[float, float]:
    """(lat, lon) of lattice point column i, row j."""
    return LAT0 + j * STEP_M / M_PER_DEG, LON0 + i * STEP_M / (M_PER_DEG * math.cos(math.radians(LAT0)))


def roads(
    coords: list[tuple[float, float]],
    links: list[tuple[int, int, int, bool]],
    *,
    restrictions: tuple[Restriction, ...] = (),
    road_class: RoadClass = RoadClass.RESIDENTIAL,
    lengths: list[float] | None = None,
) -> RoadData:
    """RoadData from node positions and (a, b, way, one_way) links (two segments unless one-way)."""
    frm, to, way, length = [], [], [], []
    for n, (a, b, w, one_way) in enumerate(links):
        dist = lengths[n] if lengths else _metres(coords[a], coords[b])
        for u, v in [(a, b)] if one_way else [(a, b), (b, a)]:
            frm.append(u)
            to.append(v)
            way.append(w)
            length.append(dist)
    k = len(frm)
    return RoadData(
        name="test",
        node_lat=np.array([c[0] for c in coords]),
        node_lon=np.array([c[1] for c in coords]),
        seg_from=np.array(frm, dtype=np.int64),
        seg_to=np.array(to, dtype=np.int64),
        seg_length_m=np.array(length, dtype=np.float64),
        seg_class=np.full(k, int(road_class), dtype=np.int64),
        seg_way=np.array(way, dtype=np.int64),
        seg_posted_kmh=np.full(k, np.nan),
        restrictions=restrictions,
    )


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (b[0] - a[0]) * M_PER_DEG
    dx = (b[1] - a[1]) * M_PER_DEG * math.cos(math.radians(LAT0))
    return math.hypot(dx, dy)


def place(net: RoadNetwork, segment: int, fraction: float) -> Place:
    """A place on a segment without snapping (the tests choose where)."""
    d = net.data
    a, b = int(d.seg_from[segment]), int(d.seg_to[segment])
    lat = float(d.node_lat[a] + fraction * (d.node_lat[b] - d.node_lat[a]))
    lon = float(d.node_lon[a] + fraction * (d.node_lon[b] - d.node_lon[a]))
    return Place(lat, lon, segment, fraction, lat, lon, 0.0)


def _allowed(data: RoadData, seg_in: int, seg_out: int) -> bool:
    v = int(data.seg_to[seg_in])
    rules = [r for r in data.restrictions if r.via_node == v and r.from_way == data.seg_way[seg_in]]
    only = {r.to_way for r in rules if r.only}
    if only and int(data.seg_way[seg_out]) not in only:
        return False
    for r in rules:
        if r.only or r.to_way != data.seg_way[seg_out]:
            continue
        if r.from_way != r.to_way or data.seg_to[seg_out] == data.seg_from[seg_in]:
            return False
    return True


def _twin(data: RoadData, s: int) -> int:
    for t in range(data.segments):
        if (
            data.seg_from[t] == data.seg_to[s]
            and data.seg_to[t] == data.seg_from[s]
            and data.seg_way[t] == data.seg_way[s]
        ):
            return t
    return -1


def brute_eta(data: RoadData, secs: np.ndarray, origin: tuple[int, float], dest: tuple[int, float]) -> float:
    """Seconds from (segment, fraction) to (segment, fraction) by a search over journey states."""
    (eo, go), (ed, fd) = origin, dest
    best = math.inf
    if eo == ed and go <= fd:
        best = (fd - go) * secs[eo]
    twin_o = _twin(data, eo)
    if twin_o >= 0 and twin_o == ed and 1.0 - go >= fd:
        best = min(best, (1.0 - go - fd) * secs[twin_o])
    start = [((1.0 - go) * secs[eo], eo)]
    if twin_o >= 0:
        start.append((go * secs[twin_o], twin_o))
    twin_d = _twin(data, ed)
    done: dict[int, float] = {}
    queue = list(start)
    heapq.heapify(queue)
    while queue:
        cost, seg = heapq.heappop(queue)
        if seg in done:
            continue
        done[seg] = cost
        for out in range(data.segments):
            if data.seg_from[out] != data.seg_to[seg] or not _allowed(data, seg, out):
                continue
            if out == ed:
                best = min(best, cost + fd * secs[ed])
            if out == twin_d:
                best = min(best, cost + (1.0 - fd) * secs[twin_d])
            if out not in done:
                heapq.heappush(queue, (cost + secs[out], out))
    return best


BAND = Band.NIGHT
