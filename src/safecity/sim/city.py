"""Generate a synthetic city from a seed, write it to a folder, and open it again.

A city folder holds `city.json` (metadata, written last so that its presence means the city
is complete), `city.geojson` (the map), `roads.npz` (the road network dispatch routes on) and
one Parquet table each for areas, people, bikes, devices and routines. The same seed and scale
give byte-identical files (the road file: the same network).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import structlog

from safecity.core.geo import BBox
from safecity.registry import DeviceKind
from safecity.sim import layout as lay
from safecity.sim.geojson import feature_collection, rect_polygon
from safecity.sim.grid import Grid
from safecity.sim.population import make_bikes, make_people, make_routines
from safecity.sim.roadnet import city_roads
from safecity.sim.scale import CityScale, resolve_scale

log = structlog.get_logger(__name__)

FORMAT_VERSION = 1
TABLES = ("areas", "people", "bikes", "devices", "routines")
META_FILE, GEOJSON_FILE, SECRETS_FILE = "city.json", "city.geojson", "device_secrets.parquet"
ROADS_FILE = "roads.npz"  # the road network dispatch routes on (dispatch.capability.CITY_ROADS)
UTC_OFFSET_H = 8  # China Standard Time, no daylight saving: routines are in local time


class CityMismatch(ValueError):
    """A folder already holds a city generated with another seed or scale."""


@dataclass(frozen=True)
class City:
    """A generated city on disk: its metadata, and its tables read on demand."""

    out_dir: Path
    meta: dict[str, Any]

    @classmethod
    def open(cls, out_dir: Path) -> City:
        """Open the city generated in `out_dir`."""
        path = Path(out_dir) / META_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no city in {out_dir}: {META_FILE} is missing (generate one first)")
        return cls(Path(out_dir), json.loads(path.read_text(encoding="utf-8")))

    @property
    def seed(self) -> int:
        """The seed the city was generated from."""
        return int(self.meta["seed"])

    @property
    def scale(self) -> CityScale:
        """The scale the city was generated at."""
        return CityScale(**self.meta["scale"])

    @property
    def grid(self) -> Grid:
        """The road lattice."""
        return Grid.from_dict(self.meta["grid"])

    @property
    def bbox(self) -> BBox:
        """The city's bounding box."""
        south, west, north, east = self.meta["bbox"]
        return BBox(south, west, north, east)

    @property
    def counts(self) -> dict[str, int]:
        """How many of each thing the city holds."""
        return dict(self.meta["counts"])

    @property
    def geojson_path(self) -> Path:
        """The map file."""
        return self.out_dir / GEOJSON_FILE

    @property
    def secrets_path(self) -> Path:
        """Where `load_city` writes the device secrets (demo data only)."""
        return self.out_dir / SECRETS_FILE

    def table(self, name: str) -> pl.DataFrame:
        """Read one of the city's tables: areas, people, bikes, devices or routines."""
        if name not in TABLES:
            raise ValueError(f"unknown city table {name!r}; the tables are {', '.join(TABLES)}")
        return pl.read_parquet(self.out_dir / f"{name}.parquet")

    def device_secrets(self) -> dict[str, str]:
        """Device id -> plaintext secret, as written by `load_city`."""
        if not self.secrets_path.is_file():
            raise FileNotFoundError(f"{self.secrets_path} is missing: load the city into the registry first")
        frame = pl.read_parquet(self.secrets_path)
        return dict(zip(frame["device"].to_list(), frame["secret"].to_list(), strict=True))


def _write_table(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression="zstd", statistics=False)


def generate_city(*, seed: int, scale: str | CityScale, out_dir: Path) -> City:
    """Generate a city deterministically from `seed` at `scale` and write it to `out_dir`."""
    spec = resolve_scale(scale)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_FILE).unlink(missing_ok=True)  # a half-written city must not look complete
    rng_layout, rng_sites, rng_roads, rng_people, rng_bikes, rng_routines, rng_dates = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)
    )
    grid = Grid.centred(spec.width_units, spec.height_units)
    layout = lay.build_areas(spec, grid, rng_layout)
    police = lay.police_buildings(layout.areas, grid)
    areas = _areas_table(layout, grid, police)
    roads = lay.roads(grid, rng_roads)
    sites = lay.place_base_stations(spec, grid, layout, rng_sites)
    installed = rng_dates.integers(int(1.55e9), int(1.70e9), sites.height) * 1000  # 2019-2023
    devices = sites.with_columns(
        kind=pl.lit(DeviceKind.RFID_STATION.value),
        name=pl.Series(lay.station_names(sites, roads, grid)),
        registered_at=pl.Series(installed).cast(pl.Datetime("ms", "UTC")),
    ).select("id", "kind", "name", "lat", "lon", "area_id", "x", "y", "registered_at")
    people = make_people(spec.people, layout, grid, rng_people)
    station_of = dict(zip(areas["id"].to_list(), areas["station_id"].to_list(), strict=True))
    bikes = make_bikes(spec.bikes, people, station_of, rng_bikes)
    routines = make_routines(bikes, people, layout, grid, rng_routines)
    for name, frame in zip(TABLES, (areas, people, bikes, devices, routines), strict=True):
        _write_table(frame, out_dir / f"{name}.parquet")
    _write_roads(grid, seed, out_dir)
    fc = feature_collection(grid, areas, roads, devices, police)
    (out_dir / GEOJSON_FILE).write_text(
        json.dumps(fc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )
    kinds = areas["kind"].value_counts()
    per_kind = dict(zip(kinds["kind"].to_list(), kinds["count"].to_list(), strict=True))
    counts = {
        "districts": per_kind.get("district", 0),
        "stations": per_kind.get("station", 0),
        "communities": per_kind.get("community", 0),
        "base_stations": devices.height,
        "police_stations": police.height,
        "roads": roads.height,
        "people": people.height,
        "bikes": bikes.height,
    }
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "seed": seed,
        "scale": spec.as_dict(),
        "bbox": grid.bbox_list(),
        "grid": grid.as_dict(),
        "utc_offset_h": UTC_OFFSET_H,
        "timezone": "Asia/Shanghai",
        "counts": counts,
    }
    (out_dir / META_FILE).write_text(
        json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    log.info("city generated", seed=seed, scale=spec.name, out_dir=str(out_dir), **counts)
    return City(out_dir, meta)


def _areas_table(layout: lay.Layout, grid: Grid, police: pl.DataFrame) -> pl.DataFrame:
    """Areas with their GeoJSON boundary; a station area's point is its police building."""
    boundary = [
        json.dumps(rect_polygon(grid, *rect), separators=(",", ":"))
        for rect in layout.areas.select("bx0", "by0", "bx1", "by1").iter_rows()
    ]
    building = police.rename({"lat": "b_lat", "lon": "b_lon"})
    return (
        layout.areas.with_columns(boundary=pl.Series(boundary))
        .join(building, on="id", how="left", maintain_order="left")
        .with_columns(lat=pl.coalesce("b_lat", "lat"), lon=pl.coalesce("b_lon", "lon"))
        .select(
            "id",
            "kind",
            "name",
            "parent_id",
            "station_id",
            "lat",
            "lon",
            "boundary",
            "bx0",
            "by0",
            "bx1",
            "by1",
            "density",
        )
    )


def ensure_city(settings_like_dir: Path, *, seed: int, scale: str) -> City:
    """Open the city in this folder (e.g. `Settings.city_dir`), generating it first if missing."""
    folder = Path(settings_like_dir)
    if not (folder / META_FILE).is_file():
        return generate_city(seed=seed, scale=scale, out_dir=folder)
    city = City.open(folder)
    wanted = resolve_scale(scale)
    if city.seed != seed or city.scale != wanted:
        raise CityMismatch(
            f"{folder} holds a city with seed {city.seed} at scale {city.scale.name!r}, not seed {seed} "
            f"at {wanted.name!r}; remove the folder (and reset the registry) to generate another"
        )
    if not (folder / ROADS_FILE).is_file():  # a city generated before the road network existed
        _write_roads(city.grid, seed, folder)
    return city


def _write_roads(grid: Grid, seed: int, folder: Path) -> None:
    """The city's road network for dispatch (sim.roadnet), written atomically."""
    part = folder / (ROADS_FILE + ".part")
    city_roads(grid, seed).save(part)
    part.replace(folder / ROADS_FILE)
