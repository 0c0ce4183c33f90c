"""The city's layout: districts, police-station areas and communities over the road grid,
the roads themselves, and where the RFID base stations stand.

Areas are rectangles of whole 800 m super-blocks (so their edges are arterial roads), cut by
recursive guillotine splits into parts of roughly equal size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from safecity.sim import names
from safecity.sim.grid import FloatArray, Grid, IntArray
from safecity.sim.scale import CityScale

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in super-blocks, half-open


def split_rect(rect: Rect, parts: int, rng: np.random.Generator) -> list[Rect]:
    """Cut a rectangle of blocks into `parts` rectangles, each at least one block."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    if parts == 1:
        return [rect]
    first = w > h if w != h else bool(rng.random() < 0.5)
    for vertical in (first, not first):
        span, other = (w, h) if vertical else (h, w)
        # Try cut positions nearest a slightly random middle first; keep both halves feasible.
        target = span * rng.uniform(0.4, 0.6)
        for cut in sorted(range(1, span), key=lambda c: abs(c - target)):
            left = min(max(round(parts * cut / span), 1), parts - 1)
            if left <= cut * other and parts - left <= (span - cut) * other:
                if vertical:
                    a, b = (x0, y0, x0 + cut, y1), (x0 + cut, y0, x1, y1)
                else:
                    a, b = (x0, y0, x1, y0 + cut), (x0, y0 + cut, x1, y1)
                return split_rect(a, left, rng) + split_rect(b, parts - left, rng)
    raise ValueError(f"cannot split {rect} into {parts} parts")


def allocate(total: int, sizes: list[int]) -> list[int]:
    """Share `total` among parts proportionally to their sizes, each at least 1 and at most its size."""
    weights = np.asarray(sizes, dtype=np.float64)
    share = np.maximum(1, np.floor(total * weights / weights.sum())).astype(int)
    share = np.minimum(share, sizes)
    while share.sum() < total:
        room = np.where(share < sizes, total * weights / weights.sum() - share, -np.inf)
        share[int(np.argmax(room))] += 1
    while share.sum() > total:
        room = np.where(share > 1, share - total * weights / weights.sum(), -np.inf)
        share[int(np.argmax(room))] -= 1
    return [int(s) for s in share]


@dataclass(frozen=True, slots=True)
class Layout:
    """Areas and their geometry; `block_community` maps each super-block to its community index."""

    areas: pl.DataFrame  # id, kind, name, parent_id, station_id, lat, lon, bx0, by0, bx1, by1, density
    block_community: IntArray  # (blocks_x, blocks_y) -> row index into the community rows
    community_ids: list[str]


def _area(
    area_id: str, kind: str, name: str, parent: str | None, station: str | None, rect: Rect
) -> dict[str, object]:
    return {
        "id": area_id,
        "kind": kind,
        "name": name,
        "parent_id": parent,
        "station_id": station,
        "bx0": rect[0],
        "by0": rect[1],
        "bx1": rect[2],
        "by1": rect[3],
    }


def build_areas(scale: CityScale, grid: Grid, rng: np.random.Generator) -> Layout:
    """Partition the city into districts, police-station areas and communities."""
    bx, by = grid.blocks
    districts = split_rect((0, 0, bx, by), scale.districts, rng)
    size = [(r[2] - r[0]) * (r[3] - r[1]) for r in districts]
    per_district = allocate(scale.stations, size)
    station_names = names.place_names(scale.stations, rng)
    community_names = names.place_names(scale.communities, rng, exclude=set(station_names))
    rows: list[dict[str, object]] = []
    stations: list[tuple[str, Rect]] = []
    for d, (rect, (d_name, _code)) in enumerate(
        zip(districts, names.district_names(scale.districts), strict=True)
    ):
        d_id = f"D{d + 1:02d}"
        rows.append(_area(d_id, "district", d_name, None, None, rect))
        for s, s_rect in enumerate(split_rect(rect, per_district[d], rng)):
            s_id = f"S{d + 1:02d}{s + 1:02d}"
            rows.append(_area(s_id, "station", f"{station_names[len(stations)]}派出所", d_id, s_id, s_rect))
            stations.append((s_id, s_rect))
    size = [(r[2] - r[0]) * (r[3] - r[1]) for _, r in stations]
    per_station = allocate(scale.communities, size)
    block_community = np.full((bx, by), -1, dtype=np.int64)
    community_ids: list[str] = []
    for (s_id, s_rect), count in zip(stations, per_station, strict=True):
        for c, c_rect in enumerate(split_rect(s_rect, count, rng)):
            c_id = f"C{s_id[1:]}{c + 1:02d}"
            rows.append(
                _area(c_id, "community", f"{community_names[len(community_ids)]}社区", s_id, s_id, c_rect)
            )
            block_community[c_rect[0] : c_rect[2], c_rect[1] : c_rect[3]] = len(community_ids)
            community_ids.append(c_id)
    areas = pl.DataFrame(rows)
    cx = (areas["bx0"] + areas["bx1"]).to_numpy() * grid.major_units / 2
    cy = (areas["by0"] + areas["by1"]).to_numpy() * grid.major_units / 2
    density = _density(cx / grid.width_units, cy / grid.height_units, rng)
    areas = areas.with_columns(
        lat=pl.Series(grid.lat(cy)).round(6), lon=pl.Series(grid.lon(cx)).round(6), density=pl.Series(density)
    )
    return Layout(areas, block_community, community_ids)


def _density(fx: FloatArray, fy: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Relative population density: dense old town in the middle, a second centre, noise."""
    core = np.exp(-((fx - 0.5) ** 2 + (fy - 0.55) ** 2) / 0.06)
    second = 0.6 * np.exp(-((fx - 0.78) ** 2 + (fy - 0.35) ** 2) / 0.02)
    return np.asarray(0.15 + core + second + 0.25 * rng.random(len(fx)), dtype=np.float64)


def police_buildings(areas: pl.DataFrame, grid: Grid) -> pl.DataFrame:
    """Place each police station's building on the street nearest its area's centre."""
    st = areas.filter(pl.col("kind") == "station")
    cx = (st["bx0"] + st["bx1"]).to_numpy() * grid.major_units / 2
    cy = (st["by0"] + st["by1"]).to_numpy() * grid.major_units / 2
    x, y = grid.snap_parking(cx, cy, np.ones(len(cx), dtype=bool))
    return pl.DataFrame({"id": st["id"], "lat": grid.lat(y).round(6), "lon": grid.lon(x).round(6)})


def place_base_stations(
    scale: CityScale, grid: Grid, layout: Layout, rng: np.random.Generator
) -> pl.DataFrame:
    """Choose base-station sites: busy intersections first, at least one per community."""
    m, big = grid.minor_units, grid.major_units
    mesh_x, mesh_y = np.meshgrid(
        np.arange(0, grid.width_units, m), np.arange(0, grid.height_units, m), indexing="ij"
    )
    gx, gy = mesh_x.ravel(), mesh_y.ravel()
    # Per 200 m cell: its intersection, two quarter points east on the row, two north on the column.
    sx = np.concatenate([gx, gx + 1, gx + 3, gx, gx])
    sy = np.concatenate([gy, gy, gy, gy + 1, gy + 3])
    major_x, major_y = sx % big == 0, sy % big == 0
    crossing = (sx % m == 0) & (sy % m == 0)
    on_major = np.where(sy % m == 0, major_y, major_x)
    weight = np.where(
        crossing,
        np.where(major_x & major_y, 30.0, np.where(major_x | major_y, 8.0, 2.0)),
        np.where(on_major, 4.0, 0.5),
    )
    bxi, byi = grid.block_of(sx, sy)
    community = layout.block_community[bxi, byi]
    comm_rows = layout.areas.filter(pl.col("kind") == "community")
    weight = weight * comm_rows["density"].to_numpy()[community]
    # Efraimidis-Spirakis weighted sampling without replacement: the largest keys win.
    key = np.log(rng.random(len(sx))) / weight
    order = np.lexsort((-key, community))
    first_of_comm = order[np.r_[True, community[order][1:] != community[order][:-1]]]
    chosen = np.zeros(len(sx), dtype=bool)
    chosen[first_of_comm] = True
    rest = np.flatnonzero(~chosen)
    chosen[rest[np.argsort(-key[rest], kind="stable")[: scale.base_stations - len(first_of_comm)]]] = True
    pick = np.flatnonzero(chosen)
    pick = pick[np.lexsort((sx[pick], sy[pick], community[pick]))]
    # Poles stand 2-8 m off the road's centre line, on the side of their own community.
    off_x = np.where(sx[pick] % m == 0, rng.uniform(2, 8, len(pick)) / grid.unit_m, 0.0)
    off_y = np.where(sy[pick] % m == 0, rng.uniform(2, 8, len(pick)) / grid.unit_m, 0.0)
    return pl.DataFrame(
        {
            "id": [f"BS-{i + 1:06d}" for i in range(len(pick))],
            "x": sx[pick],
            "y": sy[pick],
            "lat": grid.lat(sy[pick] + off_y).round(7),
            "lon": grid.lon(sx[pick] + off_x).round(7),
            "area_id": [layout.community_ids[c] for c in community[pick]],
        }
    )


def roads(grid: Grid, rng: np.random.Generator) -> pl.DataFrame:
    """Every road line with its name and class (major every 800 m, minor streets between)."""
    m, big = grid.minor_units, grid.major_units
    rows_y = np.arange(0, grid.height_units + 1, m)
    cols_x = np.arange(0, grid.width_units + 1, m)
    base = names.road_names(len(rows_y) + len(cols_x), rng)
    out = []
    for i, y in enumerate(rows_y):
        major = y % big == 0
        out.append(
            {
                "id": f"R-H{i:03d}",
                "axis": "row",
                "line": int(y),
                "class": "major" if major else "minor",
                "name": base[i] + ("路" if major else "街"),
            }
        )
    for i, x in enumerate(cols_x):
        major = x % big == 0
        out.append(
            {
                "id": f"R-V{i:03d}",
                "axis": "col",
                "line": int(x),
                "class": "major" if major else "minor",
                "name": base[len(rows_y) + i] + ("大道" if major else "巷"),
            }
        )
    return pl.DataFrame(out)


def station_names(stations: pl.DataFrame, road_table: pl.DataFrame, grid: Grid) -> list[str]:
    """Name each base station after its road(s): an intersection or a house number."""
    m = grid.minor_units
    row_name = dict(
        zip(
            road_table.filter(pl.col("axis") == "row")["line"].to_list(),
            road_table.filter(pl.col("axis") == "row")["name"].to_list(),
            strict=True,
        )
    )
    col_name = dict(
        zip(
            road_table.filter(pl.col("axis") == "col")["line"].to_list(),
            road_table.filter(pl.col("axis") == "col")["name"].to_list(),
            strict=True,
        )
    )
    out = []
    for x, y in zip(stations["x"].to_list(), stations["y"].to_list(), strict=True):
        if x % m == 0 and y % m == 0:
            out.append(f"{row_name[y]}与{col_name[x]}交叉口")
        elif y % m == 0:
            out.append(f"{row_name[y]}{x * 5 + 1}号")
        else:
            out.append(f"{col_name[x]}{y * 5 + 2}号")
    return out
