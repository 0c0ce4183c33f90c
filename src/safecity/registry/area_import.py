"""Loading a city's own districts, police station areas and communities from GeoJSON.

A city the generator did not make brings its areas as a FeatureCollection: one Feature per area,
its `properties` saying `id`, `kind` (`district`, `station`, `community`), `name` and `parent_id`,
its geometry the boundary (a Polygon or MultiPolygon; a police station may give a Point, its
building, or `lat`/`lon` in its properties). The whole file is checked first and refused with
every problem and where it is; then areas are created or updated by id (never deleted: devices,
people and cases name them). Which area holds a point answers where a device registered with a
position but no area stands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
import shapely.errors
import shapely.validation
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.registry.errors import InvalidInput
from safecity.registry.events import AREAS, DEVICES, changed
from safecity.registry.models import Area, AreaKind, Device

MAX_FEATURES = 100_000
MAX_PROBLEMS = 20  # named in one refusal; the rest are counted
AREA_ID = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
# What each kind of area may sit inside.
PARENT_KINDS = {
    AreaKind.DISTRICT: (),
    AreaKind.STATION: (AreaKind.DISTRICT,),
    AreaKind.COMMUNITY: (AreaKind.STATION, AreaKind.DISTRICT),
}


@dataclass(frozen=True, slots=True)
class AreaFeature:
    """One area as the file gives it, checked."""

    id: str
    kind: AreaKind
    name: str
    parent_id: str | None
    station_id: str | None
    lat: float | None
    lon: float | None
    boundary: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did."""

    created: int
    updated: int
    devices_placed: int


def parse_features(doc: Any, known: dict[str, str]) -> list[AreaFeature]:
    """The areas of a GeoJSON FeatureCollection, or InvalidInput naming every problem and where.

    `known` is the kind of every area already registered (parents may be there or in the file).
    """
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise InvalidInput("features", "the body must be a GeoJSON FeatureCollection with a features list")
    features = doc["features"]
    if not 1 <= len(features) <= MAX_FEATURES:
        raise InvalidInput("features", f"give 1 to {MAX_FEATURES:,} features (got {len(features):,})")
    problems: list[tuple[str, str]] = []
    parsed: list[AreaFeature] = []
    seen: dict[str, str] = {}
    for n, feature in enumerate(features):
        found = _feature(feature, f"features[{n}]", problems)
        if found is None:
            continue
        if found.id in seen:
            problems.append((f"features[{n}].properties.id", f"area {found.id} is given twice"))
            continue
        seen[found.id] = found.kind.value
        parsed.append(found)
    kinds = {**known, **seen}
    for n, area in enumerate(parsed):
        _check_parent(area, kinds, f"features[{n}].properties", problems)
    if problems:
        shown = "; ".join(f"{where}: {what}" for where, what in problems[:MAX_PROBLEMS])
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise InvalidInput(problems[0][0], f"{len(problems)} problem(s), nothing imported: {shown}{more}")
    return [_with_station(a, {p.id: p for p in parsed}, known) for a in parsed]


def _feature(feature: Any, at: str, problems: list[tuple[str, str]]) -> AreaFeature | None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        problems.append((at, "not a GeoJSON Feature"))
        return None
    props = feature.get("properties")
    if not isinstance(props, dict):
        problems.append((f"{at}.properties", "missing: the area's id, kind and name go here"))
        return None
    before = len(problems)
    area_id, name, parent = props.get("id"), props.get("name"), props.get("parent_id")
    if not isinstance(area_id, str) or not AREA_ID.fullmatch(area_id):
        problems.append((f"{at}.properties.id", "1 to 32 of A-Z a-z 0-9 _ . : -"))
    if props.get("kind") not in {k.value for k in AreaKind}:
        problems.append((f"{at}.properties.kind", "one of district, station, community"))
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 128:
        problems.append((f"{at}.properties.name", "1 to 128 characters"))
    if parent is not None and not isinstance(parent, str):
        problems.append((f"{at}.properties.parent_id", "an area id, or null"))
    lat, lon, boundary = _geometry(feature.get("geometry"), props, at, problems)
    if len(problems) > before:
        return None
    station = props.get("station_id") if isinstance(props.get("station_id"), str) else None
    return AreaFeature(
        str(area_id), AreaKind(props["kind"]), str(name).strip(), parent, station, lat, lon, boundary
    )


def _geometry(
    geometry: Any, props: dict[str, Any], at: str, problems: list[tuple[str, str]]
) -> tuple[float | None, float | None, dict[str, Any] | None]:
    lat, lon = props.get("lat"), props.get("lon")
    if geometry is None:
        shaped = None
    else:
        try:
            shaped = shape(geometry)
        except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
            problems.append((f"{at}.geometry", f"not a GeoJSON geometry ({exc})"))
            return None, None, None
    if shaped is not None and shaped.geom_type == "Point":
        lon, lat = shaped.x, shaped.y
        shaped = None
    if shaped is not None:
        if shaped.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(
                (f"{at}.geometry", f"a Polygon or MultiPolygon (or a Point), not {shaped.geom_type}")
            )
            return None, None, None
        if not shaped.is_valid:
            problems.append(
                (f"{at}.geometry", f"not a valid polygon: {shapely.validation.explain_validity(shaped)}")
            )
            return None, None, None
        west, south, east, north = shaped.bounds
        if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
            problems.append((f"{at}.geometry", "coordinates are longitude, latitude in WGS 84 degrees"))
            return None, None, None
        if lat is None and lon is None:
            centre = shaped.representative_point()
            lon, lat = centre.x, centre.y
    if (lat is None) != (lon is None) or not _in_range(lat, lon):
        problems.append((f"{at}.properties.lat", "lat and lon together, in WGS 84 degrees"))
        return None, None, None
    return lat, lon, shapely.geometry.mapping(shaped) if shaped is not None else None


def _in_range(lat: Any, lon: Any) -> bool:
    if lat is None:
        return True
    return (
        isinstance(lat, int | float)
        and isinstance(lon, int | float)
        and -90 <= lat <= 90
        and -180 <= lon <= 180
    )


def _check_parent(area: AreaFeature, kinds: dict[str, str], at: str, problems: list[tuple[str, str]]) -> None:
    allowed = PARENT_KINDS[area.kind]
    if area.parent_id is None:
        if area.kind is not AreaKind.DISTRICT:
            problems.append((f"{at}.parent_id", f"a {area.kind.value} lies in a {' or '.join(allowed)}"))
        return
    parent_kind = kinds.get(area.parent_id)
    if parent_kind is None:
        problems.append(
            (f"{at}.parent_id", f"there is no area {area.parent_id!r}, in the file or registered")
        )
    elif parent_kind not in allowed:
        problems.append(
            (
                f"{at}.parent_id",
                f"a {area.kind.value} lies in a {' or '.join(allowed) or 'nothing'}, not a {parent_kind}",
            )
        )


def _with_station(area: AreaFeature, given: dict[str, AreaFeature], known: dict[str, str]) -> AreaFeature:
    """The station answerable: a station itself, a community its nearest station up the tree."""
    if area.kind is AreaKind.STATION:
        station: str | None = area.id
    elif area.kind is AreaKind.COMMUNITY:
        station = area.station_id or (
            area.parent_id if _kind(area.parent_id, given, known) == "station" else None
        )
    else:
        station = None
    return AreaFeature(
        area.id, area.kind, area.name, area.parent_id, station, area.lat, area.lon, area.boundary
    )


def _kind(area_id: str | None, given: dict[str, AreaFeature], known: dict[str, str]) -> str | None:
    if area_id is None:
        return None
    return given[area_id].kind.value if area_id in given else known.get(area_id)


def import_areas(session: Session, areas: Sequence[AreaFeature], *, place_devices: bool) -> ImportReport:
    """Create or update the areas (parents first); with `place_devices`, give devices without an
    area the area that holds their position."""
    order = {AreaKind.DISTRICT: 0, AreaKind.STATION: 1, AreaKind.COMMUNITY: 2}
    created = updated = 0
    for area in sorted(areas, key=lambda a: order[a.kind]):
        row = session.get(Area, area.id)
        if row is None:
            row = Area(id=area.id)
            session.add(row)
            created += 1
        else:
            updated += 1
        row.kind, row.name, row.parent_id, row.station_id = (
            area.kind.value,
            area.name,
            area.parent_id,
            area.station_id,
        )
        row.lat, row.lon, row.boundary = area.lat, area.lon, area.boundary
        session.flush()
    placed = place_unplaced_devices(session) if place_devices else 0
    changed(session, AREAS)
    return ImportReport(created, updated, placed)


class AreaLocator:
    """Which area holds a point: the smallest registered area whose boundary contains it."""

    def __init__(self, rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        rank = {AreaKind.COMMUNITY.value: 0, AreaKind.STATION.value: 1, AreaKind.DISTRICT.value: 2}
        self._areas: list[tuple[int, str, BaseGeometry]] = []
        for area_id, kind, boundary in rows:
            geometry = shape(boundary)
            shapely.prepare(geometry)
            self._areas.append((rank.get(kind, 3), area_id, geometry))
        self._tree = STRtree([g for _, _, g in self._areas])

    @classmethod
    def of(cls, session: Session) -> AreaLocator:
        """Every registered area with a boundary."""
        rows = session.execute(select(Area.id, Area.kind, Area.boundary).where(Area.boundary.is_not(None)))
        return cls((str(i), str(k), b) for i, k, b in rows if b)

    def area_at(self, lat: float, lon: float) -> str | None:
        """The id of the smallest area holding the point (a community before its station's area)."""
        point = Point(lon, lat)
        hits = [self._areas[int(i)] for i in self._tree.query(point, predicate="intersects")]
        return min(hits)[1] if hits else None


def place_unplaced_devices(session: Session) -> int:
    """Give every device that has a position but no area the area holding it; how many got one."""
    locator = AreaLocator.of(session)
    placed = 0
    for device in session.scalars(
        select(Device).where(Device.area_id.is_(None), Device.lat.is_not(None), Device.lon.is_not(None))
    ):
        area = locator.area_at(float(device.lat or 0), float(device.lon or 0))
        if area is not None:
            device.area_id = area
            placed += 1
    if placed:
        changed(session, DEVICES)
    return placed


__all__ = [
    "AreaFeature",
    "AreaLocator",
    "ImportReport",
    "import_areas",
    "parse_features",
    "place_unplaced_devices",
]
