"""The demo's burglary series: something for the investigator to solve in the workbench.

Three shops near three junctions of one station area were broken into over the past day; each
was reported (a `theft` incident, referred to criminal investigation). At each junction an
electronic fence (电子围栏, a phone sensor) and a checkpoint camera stand. The thief's phone was
seen by all three fences at the times of the burglaries; his accomplice's car, seen by the
cameras, travelled with that phone on four other trips; other phones and cars pass all day. And
one plate is read at a checkpoint and minutes later across the city: a cloned plate.

Every car the checkpoints read is in the city's vehicle registry (planted with the series), and
the cameras say what they saw (`attrs`: vehicle type, body and plate colour, confidence). Two are
not what the registry says: one plate registered to a white saloon is read on a black SUV (the
`forged-plate-mismatch` rule warns), and one Zhejiang plate is in no registration at all
(`forged-plate-unregistered`).

Planted once, through the real ingest (so identity numbers are pseudonymised as ever), when the
demo starts; the demo's investigator opens a case, takes the three reports as windows, and the
collision, the companions and the path lead from the reports to the car (README, "Try it").
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from safecity import registry
from safecity.core.context import SYSTEM
from safecity.core.geo import distance_m
from safecity.dispatch.incidents import Incidents
from safecity.dispatch.schemas import IncidentIn
from safecity.driver.live import ndjson
from safecity.ingest.pipeline import Part
from safecity.platform import Platform
from safecity.registry.events import changed
from safecity.store import transaction
from safecity.workbench.vehicle_registry import VehicleRegistry

THIEF_PHONE = "13957512345"
ACCOMPLICE_PLATE = "浙C7M2K9"
# Who the registries say they are: the phone's holder lives by the first junction; the car's
# registered keeper is his accomplice (search finds them, links join them through the car).
THIEF = ("赵立军", "330602198703154515")
ACCOMPLICE = ("钱卫东", "330602199011082316")
CLONED_PLATE = "浙C5T168"  # read by a checkpoint and, minutes later, by a gate camera across the city
FORGED_PLATE = "浙C3F721"  # registered to a white saloon, read on a black SUV
UNREGISTERED_PLATE = "浙C9Q404"  # a Zhejiang plate no registration holds
# What the demo's cars are (type, body colour); a plate's car is chosen by its checksum, so the
# registry and the cameras agree without drawing from the series' random numbers.
CARS = (
    ("car", "white"),
    ("car", "black"),
    ("suv", "silver"),
    ("car", "red"),
    ("van", "white"),
    ("suv", "blue"),
)
FENCE_PREFIX, CAMERA_PREFIX = "EF-", "CK-"
BURGLARIES_AGO = (timedelta(hours=27), timedelta(hours=19), timedelta(hours=5))
SPREAD_M = 600  # the junctions at least this far apart


@dataclass(frozen=True, slots=True)
class BurglarySeries:
    """What was planted: the incidents and the junctions (lat, lon, area)."""

    incidents: list[int]
    places: list[tuple[float, float, str]]


def _junctions(platform: Platform) -> list[tuple[float, float, str]]:
    """Three RFID base stations of one station area, spread apart: where the fences stand."""
    with platform.session_factory() as session:
        directory = registry.device_directory(session)
        parents = dict(registry.area_parents(session))
    stations = directory.filter(directory["device_kind"] == "rfid_station").drop_nulls(
        ["dev_lat", "dev_lon", "area"]
    )
    by_station: dict[str, list[tuple[float, float, str]]] = {}
    for lat, lon, area in stations.sort("device").select("dev_lat", "dev_lon", "area").iter_rows():
        by_station.setdefault(parents.get(area) or area, []).append((lat, lon, area))
    for station in sorted(by_station, key=lambda s: -len(by_station[s])):
        chosen: list[tuple[float, float, str]] = []
        for place in by_station[station]:
            if all(distance_m(place[0], place[1], c[0], c[1]) >= SPREAD_M for c in chosen):
                chosen.append(place)
            if len(chosen) == 3:
                return chosen
    return []


async def plant_burglary_series(platform: Platform, *, seed: int) -> BurglarySeries | None:
    """Plant the series once (None when it is there already or the city has no room for it)."""
    with platform.session_factory() as session:
        if registry.get_device(session, device_id=f"{FENCE_PREFIX}1") is not None:
            return None
    places = _junctions(platform)
    if len(places) < 3:
        return None
    now = platform.clock.now()
    with transaction(platform.session_factory) as session:
        for n, (lat, lon, area) in enumerate(places, start=1):
            for prefix, kind, name in (
                (FENCE_PREFIX, "phone_sensor", "电子围栏"),
                (CAMERA_PREFIX, "plate_camera", "卡口"),
            ):
                registry.create_device(
                    session,
                    device_id=f"{prefix}{n}",
                    kind=kind,
                    name=f"{name} {n}",
                    lat=lat,
                    lon=lon,
                    area_id=area,
                    now=now,
                )
        changed(session, "devices")
        thief, accomplice = (
            registry.get_or_create_person(
                session,
                id_number=id_number,
                name=name,
                phone=phone,
                now=now - timedelta(days=700),
                pseudonymize=platform.pseudonyms.pseudonym,
                home_area_id=places[0][2],
            )
            for (name, id_number), phone in ((THIEF, THIEF_PHONE), (ACCOMPLICE, None))
        )
        keeper = accomplice.id
    incidents = platform.service(Incidents)
    ids = []
    for n, ((lat, lon, _), ago) in enumerate(zip(places, BURGLARIES_AGO, strict=True), start=1):
        found = incidents.create(
            SYSTEM,
            IncidentIn(
                kind="theft",
                lat=lat,
                lon=lon,
                address=f"商铺 {n}",
                description="夜间商铺被撬，现金被盗 (shop broken into, cash stolen)",
                reported_at=now - ago + timedelta(minutes=40),
            ),
            resource="demo",
        )
        incidents.close(SYSTEM, found.id, "转刑侦立案 (referred to criminal investigation)", resource="demo")
        ids.append(found.id)
    parts, plates = _sightings(places, now, random.Random(seed))
    parts += _cloned_plate(platform, places[0], now) + _forged_plates(now)
    _register_vehicles(platform, [*plates, CLONED_PLATE], now, keepers={ACCOMPLICE_PLATE: keeper})
    await platform.ingest.submit_parts(parts)
    return BurglarySeries(ids, places)


def _car(plate: str) -> dict[str, object]:
    """What a camera reports of the registered car carrying `plate` (its attrs)."""
    vehicle_type, colour = CARS[zlib.crc32(plate.encode()) % len(CARS)]
    return {
        "vehicle_type": vehicle_type,
        "vehicle_colour": colour,
        "plate_colour": "blue",
        "confidence": 0.97,
    }


def _register_vehicles(
    platform: Platform, plates: list[str], now: datetime, *, keepers: dict[str, int]
) -> None:
    """The checkpoints' cars in the city's vehicle registry, as the cameras see them (`keepers`: the
    registered keeper of some), and the forged plate's real car (a white saloon); the unregistered
    plate is left out."""
    rows: list[dict[str, object]] = [
        {
            "plate": plate,
            "plate_colour": "blue",
            "vehicle_type": _car(plate)["vehicle_type"],
            "body_colour": _car(plate)["vehicle_colour"],
            "make_model": "",
            "owner_id": keepers.get(plate),
            "registered_at": (now - timedelta(days=400)).isoformat(),
        }
        for plate in sorted(set(plates))
    ]
    rows.append(
        {
            "plate": FORGED_PLATE,
            "plate_colour": "blue",
            "vehicle_type": "car",
            "body_colour": "white",
            "make_model": "大众朗逸",
            "registered_at": (now - timedelta(days=900)).isoformat(),
        }
    )
    platform.service(VehicleRegistry).import_rows(SYSTEM, rows, resource="demo")


def _forged_plates(now: datetime) -> list[Part]:
    """The forged plate on a black SUV at the second checkpoint, the unregistered one at the third."""
    forged = {"vehicle_type": "suv", "vehicle_colour": "black", "plate_colour": "blue", "confidence": 0.96}
    unregistered = _car(UNREGISTERED_PLATE)
    reads = [
        (f"{CAMERA_PREFIX}2", FORGED_PLATE, now - timedelta(hours=3), forged),
        (f"{CAMERA_PREFIX}3", UNREGISTERED_PLATE, now - timedelta(hours=4), unregistered),
    ]
    return [
        Part(
            body=ndjson(
                [
                    {
                        "v": 1,
                        "id": f"forged-{n}",
                        "kind": "plate_read",
                        "subject": plate,
                        "ts": at.isoformat(),
                        "attrs": attrs,
                    }
                ]
            ),
            device_id=device,
            source="sim",
        )
        for n, (device, plate, at, attrs) in enumerate(reads, start=1)
    ]


def _cloned_plate(platform: Platform, checkpoint: tuple[float, float, str], now: datetime) -> list[Part]:
    """One plate read by the first checkpoint and by the farthest gate camera of its district
    (one case over the district sees both), sooner than any car could cover the distance (the
    `cloned-plate` rule warns of it at once)."""
    with platform.session_factory() as session:
        cameras = registry.device_directory(session).filter(
            (pl.col("device_kind") == "plate_camera") & ~pl.col("device").str.starts_with(CAMERA_PREFIX)
        )
        parents = dict(registry.area_parents(session))

    def district(area: str | None) -> str | None:
        while area is not None and parents.get(area) is not None:
            area = parents[area]
        return area

    home = district(checkpoint[2])
    cameras = cameras.drop_nulls(["dev_lat", "dev_lon"]).filter(
        pl.col("area").map_elements(district, return_dtype=pl.String) == home
    )
    if cameras.is_empty():
        return []
    lat, lon, _ = checkpoint
    far = max(cameras.iter_rows(named=True), key=lambda c: distance_m(lat, lon, c["dev_lat"], c["dev_lon"]))
    metres = distance_m(lat, lon, far["dev_lat"], far["dev_lon"])
    first = now - timedelta(hours=2)
    then = first + timedelta(seconds=max(30.0, metres / (200 / 3.6)))  # 200 km/h in a straight line
    read = {"v": 1, "kind": "plate_read", "subject": CLONED_PLATE, "attrs": _car(CLONED_PLATE)}
    return [
        Part(
            body=ndjson([{**read, "id": "clone-1", "ts": first.isoformat()}]),
            device_id=f"{CAMERA_PREFIX}1",
            source="sim",
        ),
        Part(
            body=ndjson([{**read, "id": "clone-2", "ts": then.isoformat()}]),
            device_id=far["device"],
            source="sim",
        ),
    ]


def _sightings(
    places: list[tuple[float, float, str]], now: datetime, rng: random.Random
) -> tuple[list[Part], list[str]]:
    """What the fences and cameras saw (the thief, his accomplice's car, and everyone else), and
    the plates the cameras read."""
    by_device: dict[str, list[dict[str, object]]] = {}
    serial = iter(range(1_000_000))
    plates: list[str] = []

    def seen(device: str, kind: str, subject: str, at: datetime) -> None:
        event: dict[str, object] = {
            "v": 1,
            "id": f"series-{next(serial)}",
            "kind": kind,
            "subject": subject,
            "ts": at.isoformat(),
        }
        if kind == "plate_read":
            event["attrs"] = _car(subject)
            plates.append(subject)
        by_device.setdefault(device, []).append(event)

    for n, ago in enumerate(BURGLARIES_AGO, start=1):
        seen(
            f"{FENCE_PREFIX}{n}",
            "phone_seen",
            THIEF_PHONE,
            now - ago + timedelta(minutes=rng.randint(-20, 20)),
        )
    # The car and the phone together on four trips past the junctions (and the thief alone once).
    for trip in range(4):
        at = now - timedelta(hours=30 - trip * 6, minutes=rng.randint(0, 50))
        for n in rng.sample(range(1, 4), 2):
            at += timedelta(minutes=rng.randint(6, 15))
            seen(f"{FENCE_PREFIX}{n}", "phone_seen", THIEF_PHONE, at)
            seen(
                f"{CAMERA_PREFIX}{n}",
                "plate_read",
                ACCOMPLICE_PLATE,
                at + timedelta(seconds=rng.randint(5, 60)),
            )
    # Everyone else: phones and cars passing each junction over the last day and a half.
    for n in range(1, 4):
        for _ in range(120):
            at = now - timedelta(minutes=rng.randint(0, 36 * 60))
            seen(f"{FENCE_PREFIX}{n}", "phone_seen", f"139{rng.randint(0, 99_999_999):08d}", at)
            seen(f"{CAMERA_PREFIX}{n}", "plate_read", f"浙C{rng.randint(10_000, 99_999)}", at)
    parts = [
        Part(body=ndjson(events), device_id=device, source="sim") for device, events in by_device.items()
    ]
    return parts, plates


__all__ = [
    "ACCOMPLICE",
    "ACCOMPLICE_PLATE",
    "CLONED_PLATE",
    "FORGED_PLATE",
    "THIEF",
    "THIEF_PHONE",
    "UNREGISTERED_PLATE",
    "BurglarySeries",
    "plant_burglary_series",
]
