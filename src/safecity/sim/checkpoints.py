"""The city's checkpoint and face cameras, and what they capture, with the ground truth (issue 14).

Camera sites are placed in the generated city: a road checkpoint (公安检查站, a plate camera) where
a road leaves the city on each side, and face cameras at the railway station, three metro
stations, the airport and two tourist sites. The railway station, the metro line and the first
tourist site lie in one district (the grandmother's walk stays inside one case area).

`plan_checkpoints` draws what the cameras capture over some hours: vehicles passing the
checkpoints (random GA 36 plates across formats, a few frames a pass at the camera's frame
interval, degraded: blur, motion, perspective, night after dark, JPEG, a plate a few pixels
high), passers-by at the face cameras (LFW crops, upscaled), and the planted events: one
watch-listed plate passing a checkpoint regularly, one cloned plate seen at two checkpoints
farther apart than any car could drive in the time, and the fugitive walking past one metro
camera regularly. `grandmother_sightings` is the missing grandmother's walk over the last hours
(railway station, two metro stations, a tourist site, in time order). Every capture is a
`Shot`: metadata and a seed, drawn under the plan's seed; `ShotImages.image` renders its JPEG
(a plate crop, or a 640 x 360 frame) from that seed alone, so the same seed gives the same bytes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from safecity.core.geo import distance_m
from safecity.recognition.plate_format import PlateColour, PlateFormat
from safecity.sim.city import UTC_OFFSET_H, City
from safecity.sim.face_images import astronaut, augment, compose_frame, lfw_faces
from safecity.sim.face_images import encode as encode_face
from safecity.sim.plate_images import (
    DEGRADATIONS,
    FORMAT_WEIGHTS,
    PlateRenderer,
    PlateSample,
    car_frame,
    degrade,
    encode,
    random_plate,
)

FRAME_SIZE = (640, 360)  # width, height: the face cameras' frames and the frame checkpoint's
LISTED_PLATE = "闽C7K2M5"  # on the wanted-vehicle list: a car from Quanzhou the investigators want
CLONED_PLATE = "苏E5T268"  # two cars carry it: seen at two checkpoints minutes apart, kilometres apart
# Through traffic is drawn from every province but Zhejiang: the city's vehicle registry covers 浙
# plates (`forged-plate-unregistered` warns of one it does not hold), and random traffic is in no
# registry. The planted plates are out-of-province for the same reason.
LOCAL_PROVINCE = "浙"
CLONE_GAP_S = 40.0  # between the two sightings of the cloned plate: well over 120 km/h across the city
EDGE_INSET_M = 80.0  # a checkpoint stands this far inside the city's edge
# The planted plates' frames are degraded mildly (one frame in a bad light would be fine; a plate a
# few pixels high in every frame would make the demo's hit a matter of luck).
MILD = ("blur", "perspective", "jpeg")
ROUTINE = tuple(d for d in DEGRADATIONS if d != "night")  # night comes from the clock, not the dice
# LFW crops dlib finds when upscaled to about 120 px, and whose descriptors stay over 0.68 from both
# the fugitive's and the grandmother's under augmentation (measured over four copies each; of the
# 100 crops, 93 are found and 52 stay that far): passers-by who never look like a listed person.
PASSERS_BY = (1, 2, 6, 12, 15, 17, 18, 20, 21, 23, 24, 25, 26, 27, 29, 31, 32, 33, 35, 36, 40, 41, 42, 46)


class Place(StrEnum):
    """What a camera site is."""

    CHECKPOINT = "checkpoint"
    RAILWAY = "railway"
    METRO = "metro"
    AIRPORT = "airport"
    TOURIST = "tourist"


class Planted(StrEnum):
    """The planted events a shot belongs to (None: routine traffic)."""

    LISTED = "listed"
    CLONE = "clone"
    FUGITIVE = "fugitive"
    GRANDMOTHER = "grandmother"


@dataclass(frozen=True, slots=True)
class CameraSite:
    """A camera: a registry device of kind `checkpoint_camera` (a road checkpoint's plates, never a
    compound's gate) or `face_camera`, in a community."""

    device: str
    kind: str
    place: Place
    name: str
    lat: float
    lon: float
    area_id: str
    framing: str  # crop (the camera cuts out the plate) | frame (it sends the whole scene)
    frame_interval_s: float


@dataclass(frozen=True, slots=True)
class Shot:
    """One image a camera takes, and what is in it."""

    at: datetime
    device: str
    purpose: str  # plate | face
    framing: str  # crop | frame
    pass_id: int  # one vehicle's pass or one group walking by
    frame: int  # the frame's number within the pass
    seed: int  # draws the image
    plate: str | None = None
    plate_format: PlateFormat | None = None
    plate_colour: PlateColour | None = None
    degradations: tuple[str, ...] = ()
    people: tuple[str, ...] = ()  # fugitive | grandmother | lfw-<n>
    planted: Planted | None = None


@dataclass(frozen=True, slots=True)
class CheckpointPlan:
    """What the cameras capture between `start` and `end`, in time order."""

    start: datetime
    end: datetime
    shots: list[Shot] = field(default_factory=list)

    def planted(self, kind: Planted) -> list[Shot]:
        """The shots of one planted event kind, in time order."""
        return [s for s in self.shots if s.planted is kind]


def _bounds(boundary: str) -> tuple[float, float, float, float]:
    ring = json.loads(boundary)["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return min(lats), min(lons), max(lats), max(lons)


def camera_sites(city: City) -> list[CameraSite]:
    """The city's checkpoint and face cameras (the same city gives the same sites)."""
    areas = city.table("areas")
    communities = areas.filter(pl.col("kind") == "community").sort("id")
    district_of = _district_of(areas)
    rows = [
        {**r, "district": district_of[r["id"]], "box": _bounds(r["boundary"])}
        for r in communities.iter_rows(named=True)
    ]
    return _checkpoints(city, rows) + _face_sites(city, rows)


def _district_of(areas: pl.DataFrame) -> dict[str, str]:
    parent = dict(zip(areas["id"].to_list(), areas["parent_id"].to_list(), strict=True))
    out = {}
    for area in parent:
        top = area
        while parent.get(top) is not None:
            top = parent[top]
        out[area] = top
    return out


def _checkpoints(city: City, rows: list[dict[str, Any]]) -> list[CameraSite]:
    box = city.bbox
    mid_lat, mid_lon = (box.south + box.north) / 2, (box.west + box.east) / 2
    inset_lat = EDGE_INSET_M / 111_195
    inset_lon = inset_lat / math.cos(math.radians(mid_lat))
    sides = (
        ("N", "北", "north", box.north - inset_lat, mid_lon, "crop"),
        ("E", "东", "east", mid_lat, box.east - inset_lon, "crop"),
        # An older camera with no plate finder of its own: it sends the whole scene.
        ("S", "南", "south", box.south + inset_lat, mid_lon, "frame"),
        ("W", "西", "west", mid_lat, box.west + inset_lon, "crop"),
    )
    sites = []
    for code, zh, en, lat, lon, framing in sides:
        area = (
            next(
                (
                    r["id"]
                    for r in rows
                    if r["box"][0] <= lat <= r["box"][2] and r["box"][1] <= lon <= r["box"][3]
                ),
                None,
            )
            or min(rows, key=lambda r: distance_m(lat, lon, r["lat"], r["lon"]))["id"]
        )
        sites.append(
            CameraSite(
                f"KK-{code}",
                "checkpoint_camera",
                Place.CHECKPOINT,
                f"{zh}出城公安检查站 ({en} city-edge checkpoint)",
                round(lat, 6),
                round(lon, 6),
                area,
                framing,
                0.4,
            )
        )
    return sites


def _face_sites(city: City, rows: list[dict[str, Any]]) -> list[CameraSite]:
    by_district: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_district.setdefault(r["district"], []).append(r)
    home = max(sorted(by_district), key=lambda d: len(by_district[d]))
    mine = by_district[home]
    others = [r for r in rows if r["district"] != home] or mine
    rail = max(mine, key=lambda r: (r["density"], r["id"]))
    rest = sorted(
        (r for r in mine if r is not rail),
        key=lambda r: distance_m(rail["lat"], rail["lon"], r["lat"], r["lon"]),
    )
    rest = rest or [rail]
    # Metro stations spread along the line away from the railway station; the islet at its far end.
    metro = [rest[(len(rest) * k) // 4] for k in range(3)]
    islet = rest[-1]
    centre = (city.bbox.south + city.bbox.north) / 2, (city.bbox.west + city.bbox.east) / 2
    airport = max(others, key=lambda r: (distance_m(*centre, r["lat"], r["lon"]), r["id"]))
    street = max(others, key=lambda r: (r["density"], r["id"]))

    def site(device: str, place: Place, name: str, r: dict[str, Any]) -> CameraSite:
        return CameraSite(device, "face_camera", place, name, r["lat"], r["lon"], r["id"], "frame", 1.0)

    return [
        site("FC-RAIL-1", Place.RAILWAY, "温州站 进站口 (railway station entrance)", rail),
        *(
            site(f"FC-METRO-{n}", Place.METRO, f"地铁S1线 {r['name']}站 (metro station)", r)
            for n, r in enumerate(metro, start=1)
        ),
        site("FC-AIR-1", Place.AIRPORT, "龙湾国际机场 到达厅 (airport arrivals)", airport),
        site("FC-TOUR-1", Place.TOURIST, "江心屿 码头 (Jiangxin Islet pier, tourist site)", islet),
        site("FC-TOUR-2", Place.TOURIST, "五马街 步行街 (Wuma Street, tourist site)", street),
    ]


def is_night(at: datetime) -> bool:
    """Dark at the camera: before 06:00 or from 19:00 local time."""
    hour = (at + timedelta(hours=UTC_OFFSET_H)).hour
    return hour < 6 or hour >= 19


def _through_plate(rng: np.random.Generator) -> tuple[str, PlateFormat, PlateColour]:
    formats = list(FORMAT_WEIGHTS)  # every format, as often as the plate benchmark draws them
    weights = np.array(list(FORMAT_WEIGHTS.values()))
    fmt = formats[int(rng.choice(len(formats), p=weights / weights.sum()))]
    while True:
        plate, colour = random_plate(rng, fmt)
        if LOCAL_PROVINCE not in plate:
            return plate, fmt, colour


class _Planner:
    """Draws one plan's shots; every random number comes from `rng`, in a fixed order."""

    def __init__(self, sites: list[CameraSite], rng: np.random.Generator) -> None:
        self.sites = sites
        self.rng = rng
        self.shots: list[Shot] = []
        self._pass = 0

    def seed(self) -> int:
        return int(self.rng.integers(0, 2**31 - 1))

    def vehicle(
        self,
        site: CameraSite,
        at: datetime,
        plate: tuple[str, PlateFormat, PlateColour],
        planted: Planted | None = None,
    ) -> None:
        """A vehicle passing a checkpoint: two to four frames at the camera's interval."""
        self._pass += 1
        frames = int(self.rng.integers(2, 5))
        pool = MILD if planted else ROUTINE
        for n in range(frames):
            when = _ms(at + timedelta(seconds=n * site.frame_interval_s))
            k = int(self.rng.choice(2 if planted else 3, p=[0.5, 0.5] if planted else [0.3, 0.45, 0.25]))
            what = {str(d) for d in self.rng.choice(pool, size=k, replace=False)}
            if is_night(when):
                what.add("night")
            self.shots.append(
                Shot(
                    when,
                    site.device,
                    "plate",
                    site.framing,
                    self._pass,
                    n,
                    self.seed(),
                    plate=plate[0],
                    plate_format=plate[1],
                    plate_colour=plate[2],
                    degradations=tuple(sorted(what)),
                    planted=planted,
                )
            )

    def walkers(self, site: CameraSite, at: datetime, who: str | None = None) -> None:
        """A group walking past a face camera, in one frame: 1-3 passers-by, or `who` and 0-1."""
        self._pass += 1
        extra = int(self.rng.integers(0, 2)) if who else int(self.rng.integers(1, 4))
        picks = self.rng.choice(len(PASSERS_BY), size=extra, replace=False)
        people = ([str(who)] if who else []) + [f"lfw-{PASSERS_BY[int(i)]}" for i in picks]
        planted = Planted(who) if who else None
        self.shots.append(
            Shot(
                _ms(at),
                site.device,
                "face",
                "frame",
                self._pass,
                0,
                self.seed(),
                people=tuple(people),
                planted=planted,
            )
        )


def _ms(at: datetime) -> datetime:
    """The time to the millisecond: what a camera's epoch-ms timestamp carries."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _arrivals(rng: np.random.Generator, start: datetime, end: datetime, per_hour: float) -> list[datetime]:
    """Poisson arrivals at `per_hour` between start and end."""
    out: list[datetime] = []
    at = start
    if per_hour <= 0:
        return out
    while True:
        at += timedelta(seconds=float(rng.exponential(3600.0 / per_hour)))
        if at >= end:
            return out
        out.append(at)


def _rhythm(
    origin: datetime, first: timedelta, every: timedelta, start: datetime, end: datetime
) -> list[datetime]:
    """origin + first + k * every, for the k that fall in [start, end)."""
    out: list[datetime] = []
    k = max(0, math.ceil((start - origin - first) / every))
    while (at := origin + first + k * every) < end:
        out.append(at)
        k += 1
    return out


def plan_checkpoints(
    sites: list[CameraSite],
    *,
    seed: int,
    start: datetime,
    hours: float,
    vehicles_per_hour: float = 3.0,
    walkers_per_hour: float = 3.0,
    listed_every: timedelta = timedelta(minutes=60),
    fugitive_every: timedelta = timedelta(minutes=120),
    origin: datetime | None = None,
    salt: int = 0,
) -> CheckpointPlan:
    """The cameras' shots from `start` for `hours`: routine traffic at each camera's rate (per
    simulated hour), the listed plate every `listed_every` and the fugitive every `fugitive_every`
    from `origin` (default `start`: the first of each within minutes), the cloned plate once."""
    rng = np.random.default_rng([seed, salt, 14])
    end = start + timedelta(hours=hours)
    origin = origin or start
    planner = _Planner(sites, rng)
    plate_sites = [s for s in sites if s.kind == "checkpoint_camera"]
    croppers = [s for s in plate_sites if s.framing == "crop"] or plate_sites
    face_sites = [s for s in sites if s.kind == "face_camera"]
    for site in plate_sites:
        for at in _arrivals(rng, start, end, vehicles_per_hour):
            planner.vehicle(site, at, _through_plate(rng))
    for site in face_sites:
        for at in _arrivals(rng, start, end, walkers_per_hour):
            planner.walkers(site, at)
    listed = (LISTED_PLATE, PlateFormat.ORDINARY, PlateColour.BLUE)
    for at in _rhythm(origin, timedelta(minutes=1), listed_every, start, end):
        site = croppers[int(rng.integers(0, min(2, len(croppers))))]
        planner.vehicle(site, at, listed, Planted.LISTED)
    metro = next((s for s in face_sites if s.place is Place.METRO), face_sites[0] if face_sites else None)
    if metro is not None:
        for at in _rhythm(origin, timedelta(minutes=3), fugitive_every, start, end):
            planner.walkers(metro, at, Planted.FUGITIVE)
    first, second = clone_pair(croppers)
    at = start + timedelta(minutes=10)
    if first is not second and at < end:
        cloned = (CLONED_PLATE, PlateFormat.ORDINARY, PlateColour.BLUE)
        planner.vehicle(first, at, cloned, Planted.CLONE)
        planner.vehicle(second, at + timedelta(seconds=CLONE_GAP_S), cloned, Planted.CLONE)
    shots = sorted(planner.shots, key=lambda s: (s.at, s.device, s.pass_id, s.frame))
    return CheckpointPlan(start, end, shots)


def clone_pair(sites: list[CameraSite]) -> tuple[CameraSite, CameraSite]:
    """The two checkpoints farthest apart: where the cloned plate is seen."""
    pairs = [(a, b) for i, a in enumerate(sites) for b in sites[i + 1 :]] or [(sites[0], sites[0])]
    return max(pairs, key=lambda p: distance_m(p[0].lat, p[0].lon, p[1].lat, p[1].lon))


# The grandmother's walk: railway station, then along the metro line, then the islet (hours ago).
GRANDMOTHER_PATH = (
    ("FC-RAIL-1", timedelta(hours=5)),
    ("FC-METRO-2", timedelta(hours=3, minutes=40)),
    ("FC-METRO-3", timedelta(hours=2, minutes=10)),
    ("FC-TOUR-1", timedelta(minutes=50)),
)


def grandmother_sightings(sites: list[CameraSite], *, seed: int, now: datetime) -> list[Shot]:
    """The missing grandmother seen at four cameras over the last five hours, in time order."""
    rng = np.random.default_rng([seed, 4])  # her own stream: the live plans' draws do not move her
    planner = _Planner(sites, rng)
    known = {s.device: s for s in sites}
    for device, ago in GRANDMOTHER_PATH:
        jitter = timedelta(minutes=float(rng.uniform(-8, 8)))
        planner.walkers(known[device], now - ago + jitter, Planted.GRANDMOTHER)
    return planner.shots


class ShotImages:
    """Renders a shot's JPEG from its seed: plates through `plate_images`, faces from the photographs."""

    def __init__(self, renderer: PlateRenderer | None = None) -> None:
        self._plates = renderer or PlateRenderer()

    @cached_property
    def _faces(self) -> dict[str, np.ndarray]:
        lfw = lfw_faces()
        return {
            # Head and shoulders, the face about 100 px wide: a face camera's best shot.
            "fugitive": _cut(astronaut(), (140, 40, 310, 260), 1.15),
            "grandmother": _cut(grace_hopper(), (100, 60, 440, 460), 0.5),
            **{f"lfw-{i}": _cut(lfw[i], (0, 0, 25, 25), 4.8) for i in PASSERS_BY},
        }

    def image(self, shot: Shot) -> bytes:
        """The shot's JPEG bytes."""
        rng = np.random.default_rng(shot.seed)
        if shot.purpose == "plate":
            return self._plate(shot, rng)
        return self._face_frame(shot, rng)

    def _plate(self, shot: Shot, rng: np.random.Generator) -> bytes:
        if shot.plate is None or shot.plate_format is None or shot.plate_colour is None:
            raise ValueError(f"shot {shot.pass_id}/{shot.frame} of {shot.device} names no plate")
        clean = self._plates.render(shot.plate, shot.plate_format, shot.plate_colour)
        seen = degrade(clean, rng, shot.degradations)
        if shot.framing == "crop":
            return encode(seen, ".jpg", 90)
        sample = PlateSample(seen, shot.plate, shot.plate_format, shot.plate_colour, shot.degradations)
        return encode(car_frame(sample, rng, size=FRAME_SIZE).image, ".jpg", 85)

    def _face_frame(self, shot: Shot, rng: np.random.Generator) -> bytes:
        width, height = FRAME_SIZE
        columns = rng.permutation(3)
        placed = []
        for person, column in zip(shot.people, columns, strict=False):
            face = self._faces[person]
            if person.startswith("lfw-"):  # faces of strangers differ in size and light too
                face = augment(face, int(rng.integers(0, 2**31 - 1)), strength=0.5)
            else:
                face = augment(face, int(rng.integers(0, 2**31 - 1)))
            h, w = face.shape[:2]
            slot = width // 3
            x = int(column) * slot + int(rng.integers(0, max(1, slot - w)))
            y = int(rng.integers(5, max(6, height - h - 5)))
            placed.append((face, (x, y)))
        frame = compose_frame(placed, size=(height, width), seed=int(rng.integers(0, 2**31 - 1)))
        return encode_face(frame, "JPEG", quality=85)


def grace_hopper() -> np.ndarray:
    """Grace Hopper's portrait (512 x 600 RGB) from matplotlib's sample data: the missing grandmother."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _cut(image: np.ndarray, box: tuple[int, int, int, int], scale: float) -> np.ndarray:
    from PIL import Image

    x0, y0, x1, y1 = box
    part = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
    size = (round(part.width * scale), round(part.height * scale))
    return np.asarray(part.resize(size, Image.Resampling.BICUBIC))


__all__ = [
    "CLONED_PLATE",
    "FRAME_SIZE",
    "GRANDMOTHER_PATH",
    "LISTED_PLATE",
    "PASSERS_BY",
    "CameraSite",
    "CheckpointPlan",
    "Place",
    "Planted",
    "Shot",
    "ShotImages",
    "camera_sites",
    "clone_pair",
    "grace_hopper",
    "grandmother_sightings",
    "is_night",
    "plan_checkpoints",
]
