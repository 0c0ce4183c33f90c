"""The generated city's road network for dispatch: its street lattice as `RoadData`.

Junctions stand every 200 m (the lattice's streets), arterial roads every 800 m. As in a real
grid city, some streets are one-way (alternating directions, so that every block can still be
reached and left), and some arterial crossings ban left turns. Canals run across the city, one
west to east and one south to north through its middle (`canals`), crossed only by bridges on
every other arterial: as in Shaoxing, the water city, a unit just across the water may be a long
way round by road. Each
block-long piece of road is a way of its own, as OpenStreetMap splits ways at junctions, so that
a restriction names the approach and the exit exactly. The same grid and seed give the same network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safecity.dispatch.roads import Restriction, RoadClass, RoadData
from safecity.sim.grid import Grid

ONE_WAY_SHARE = 0.3  # of the minor streets
NO_LEFT_SHARE = 0.25  # of the arterial crossings
BRIDGE_EVERY = 2  # arterials: every second one bridges a canal


@dataclass(frozen=True)
class Canal:
    """A straight canal: `axis` "x" runs west to east at y = `at`, "y" south to north at x = `at`
    (grid units), bridged where the streets at `bridges` (grid units along it) cross."""

    axis: str
    at: float
    bridges: tuple[int, ...]


def canals(grid: Grid) -> list[Canal]:
    """The city's two canals, each between the first and second minor streets of the middle row
    (or column) of super-blocks, bridged on every other arterial."""
    m, big = grid.minor_units, grid.major_units

    def middle(extent: int) -> float:
        return float(min((max(1, extent // big) // 2) * big + 1.5 * m, extent - 0.5 * m))

    def every_other(extent: int) -> tuple[int, ...]:
        return tuple(range(0, extent + 1, big * BRIDGE_EVERY))

    return [
        Canal("x", middle(grid.height_units), every_other(grid.width_units)),
        Canal("y", middle(grid.width_units), every_other(grid.height_units)),
    ]


def city_roads(grid: Grid, seed: int, *, name: str = "city") -> RoadData:
    """The lattice of `grid` as a road network (see the module docstring)."""
    rng = np.random.default_rng([seed, 808])
    m, big = grid.minor_units, grid.major_units
    xs = np.arange(0, grid.width_units + 1, m)
    ys = np.arange(0, grid.height_units + 1, m)
    nx, ny = len(xs), len(ys)
    node = np.arange(nx * ny).reshape(ny, nx)  # node[row j, column i]
    gx, gy = np.meshgrid(xs, ys)
    lat = np.asarray(grid.lat(gy.ravel()), dtype=np.float64)
    lon = np.asarray(grid.lon(gx.ravel()), dtype=np.float64)
    row_major = ys % big == 0
    col_major = xs % big == 0
    # One-way minor streets: direction +1 (east / north) or -1, 0 for two-way.
    row_dir = np.where(~row_major & (rng.random(ny) < ONE_WAY_SHARE), np.where(np.arange(ny) % 2, 1, -1), 0)
    col_dir = np.where(~col_major & (rng.random(nx) < ONE_WAY_SHARE), np.where(np.arange(nx) % 2, 1, -1), 0)
    # The streets along a canal's banks are two-way: a one-way street cut by the water must still
    # lead somewhere from the junction where it now ends.
    for water in canals(grid):
        if water.axis == "x":
            row_dir[np.abs(ys - water.at) < m] = 0
        else:
            col_dir[np.abs(xs - water.at) < m] = 0
    seg_from, seg_to, seg_class, seg_way = [], [], [], []
    way = 0

    def add(a: np.ndarray, b: np.ndarray, direction: np.ndarray, major: np.ndarray) -> None:
        nonlocal way
        ids = way + np.arange(len(a))
        way += len(a)
        forward, backward = direction >= 0, direction <= 0
        seg_from.extend([a[forward], b[backward]])
        seg_to.extend([b[forward], a[backward]])
        road = np.where(major, int(RoadClass.PRIMARY), int(RoadClass.RESIDENTIAL))
        seg_class.extend([road[forward], road[backward]])
        seg_way.extend([ids[forward], ids[backward]])

    # Along each row (west -> east) and each column (south -> north), block by block.
    a, b = node[:, :-1].ravel(), node[:, 1:].ravel()
    add(a, b, np.repeat(row_dir, nx - 1), np.repeat(row_major, nx - 1))
    a, b = node[:-1, :].ravel(), node[1:, :].ravel()
    add(a, b, np.tile(col_dir, ny - 1), np.tile(col_major, ny - 1))
    frm = np.concatenate(seg_from)
    to = np.concatenate(seg_to)
    ways = np.concatenate(seg_way)
    classes = np.concatenate(seg_class)
    # The canals: the streets across them are cut, but for the bridges.
    fx, fy, tx, ty = gx.ravel()[frm], gy.ravel()[frm], gx.ravel()[to], gy.ravel()[to]
    across = np.zeros(len(frm), dtype=bool)
    for water in canals(grid):
        a, b, along = (fy, ty, fx) if water.axis == "x" else (fx, tx, fy)
        across |= (
            (np.minimum(a, b) < water.at) & (np.maximum(a, b) > water.at) & ~np.isin(along, water.bridges)
        )
    frm, to, ways, classes = frm[~across], to[~across], ways[~across], classes[~across]
    length = np.full(len(frm), m * grid.unit_m)
    rules = _no_left_turns(node, xs, ys, row_major, col_major, frm, to, ways, rng)
    return RoadData(
        name=name,
        node_lat=lat,
        node_lon=lon,
        seg_from=frm,
        seg_to=to,
        seg_length_m=length,
        seg_class=classes,
        seg_way=ways,
        seg_posted_kmh=np.full(len(frm), np.nan),
        restrictions=tuple(rules),
    )


def _no_left_turns(
    node: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    row_major: np.ndarray,
    col_major: np.ndarray,
    frm: np.ndarray,
    to: np.ndarray,
    ways: np.ndarray,
    rng: np.random.Generator,
) -> list[Restriction]:
    """No left turn at a share of the arterial crossings (inside the city: four roads meet)."""
    ny, nx = node.shape
    js = [j for j in range(1, ny - 1) if row_major[j]]
    is_ = [i for i in range(1, nx - 1) if col_major[i]]
    crossings = [(j, i) for j in js for i in is_ if rng.random() < NO_LEFT_SHARE]
    out_of: dict[int, list[int]] = {}
    into: dict[int, list[int]] = {}
    wanted = {int(node[j, i]) for j, i in crossings}
    for s in range(len(frm)):
        if int(to[s]) in wanted:
            into.setdefault(int(to[s]), []).append(s)
        if int(frm[s]) in wanted:
            out_of.setdefault(int(frm[s]), []).append(s)
    flat_x = np.tile(xs, ny)
    flat_y = np.repeat(ys, nx)
    rules = []
    for v in sorted(wanted):
        for s_in in into.get(v, []):
            ux, uy = flat_x[frm[s_in]], flat_y[frm[s_in]]
            for s_out in out_of.get(v, []):
                wx, wy = flat_x[to[s_out]], flat_y[to[s_out]]
                cross = (flat_x[v] - ux) * (wy - flat_y[v]) - (flat_y[v] - uy) * (wx - flat_x[v])
                if cross > 0:  # counter-clockwise: a left turn
                    rules.append(
                        Restriction(int(ways[s_in]), v, int(ways[s_out]), only=False, kind="no_left_turn")
                    )
    return rules


__all__ = ["Canal", "canals", "city_roads"]
