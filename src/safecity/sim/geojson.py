"""The city map as GeoJSON: area polygons, roads, the canals and their bridges, base stations and
police stations.

The console map draws this FeatureCollection as is, one layer per `layer` property.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import polars as pl

from safecity.sim.grid import Grid
from safecity.sim.roadnet import canals

_PLACES = 6  # ~0.1 m: more digits only make the file larger
CANAL_WIDTH_UNITS = 0.8  # 40 m of water


def rect_polygon(grid: Grid, bx0: int, by0: int, bx1: int, by1: int) -> dict[str, Any]:
    """A GeoJSON Polygon of a block rectangle, counter-clockwise and closed (RFC 7946)."""
    m = grid.major_units
    w, s = round(float(grid.lon(bx0 * m)), _PLACES), round(float(grid.lat(by0 * m)), _PLACES)
    e, n = round(float(grid.lon(bx1 * m)), _PLACES), round(float(grid.lat(by1 * m)), _PLACES)
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _point(lat: float, lon: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, _PLACES), round(lat, _PLACES)]}


def _canals(grid: Grid) -> list[dict[str, Any]]:
    """The canals (`sim.roadnet.canals`) as strips of water, and a short piece of road for each
    bridge."""
    half = CANAL_WIDTH_UNITS / 2

    def at(axis: str, along: float, across: float) -> list[float]:
        """[lon, lat] of a point `along` the canal and `across` it (grid units)."""
        x, y = (along, across) if axis == "x" else (across, along)
        return [round(float(grid.lon(x)), _PLACES), round(float(grid.lat(y)), _PLACES)]

    out = []
    for water in canals(grid):
        lonlat = partial(at, water.axis)
        end = grid.width_units if water.axis == "x" else grid.height_units
        lo, hi = water.at - half, water.at + half
        ring = [lonlat(0, lo), lonlat(end, lo), lonlat(end, hi), lonlat(0, hi), lonlat(0, lo)]
        if water.axis == "y":  # counter-clockwise (RFC 7946) with the axes swapped
            ring.reverse()
        name = "东西运河" if water.axis == "x" else "南北运河"
        out.append(
            _feature(
                {"type": "Polygon", "coordinates": [ring]}, layer="water", id=f"canal-{water.axis}", name=name
            )
        )
        for k, b in enumerate(water.bridges, start=1):
            line = [lonlat(b, water.at - 2 * half), lonlat(b, water.at + 2 * half)]
            out.append(
                _feature(
                    {"type": "LineString", "coordinates": line},
                    layer="bridge",
                    id=f"bridge-{water.axis}-{k}",
                    name=f"{name}{k}号桥",
                )
            )
    return out


def feature_collection(
    grid: Grid, areas: pl.DataFrame, roads: pl.DataFrame, devices: pl.DataFrame, police: pl.DataFrame
) -> dict[str, Any]:
    """Build the map: districts, station areas, communities, roads, base and police stations."""
    layer_of = {"district": "district", "station": "station_area", "community": "community"}
    features = [
        _feature(
            json.loads(row["boundary"]),
            layer=layer_of[row["kind"]],
            id=row["id"],
            name=row["name"],
            parent_id=row["parent_id"],
        )
        for row in areas.iter_rows(named=True)
    ]
    for row in roads.iter_rows(named=True):
        line = row["line"]
        if row["axis"] == "row":
            ends = [[grid.lon(0), grid.lat(line)], [grid.lon(grid.width_units), grid.lat(line)]]
        else:
            ends = [[grid.lon(line), grid.lat(0)], [grid.lon(line), grid.lat(grid.height_units)]]
        coords = [[round(float(lon), _PLACES), round(float(lat), _PLACES)] for lon, lat in ends]
        features.append(
            _feature(
                {"type": "LineString", "coordinates": coords},
                layer="road",
                id=row["id"],
                name=row["name"],
                road_class=row["class"],
            )
        )
    features += _canals(grid)
    features += [
        _feature(
            _point(row["lat"], row["lon"]),
            layer="base_station",
            id=row["id"],
            name=row["name"],
            area_id=row["area_id"],
        )
        for row in devices.select("id", "name", "lat", "lon", "area_id").iter_rows(named=True)
    ]
    names = dict(zip(areas["id"].to_list(), areas["name"].to_list(), strict=True))
    features += [
        _feature(_point(row["lat"], row["lon"]), layer="police_station", id=row["id"], name=names[row["id"]])
        for row in police.iter_rows(named=True)
    ]
    bbox = grid.bbox
    return {
        "type": "FeatureCollection",
        "bbox": [round(v, _PLACES) for v in bbox.as_list()],
        "features": features,
    }
