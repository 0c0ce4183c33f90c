"""Benchmark `whitelist`: a registration reaching its compound's doors, and a city's doors resynced.

Both run against a Mosquitto of this benchmark's own (/usr/sbin/mosquitto on a free port, no
persistence), because the second one restarts it and the shared broker at 1883 serves others.

* `delta_p99_ms`: a running platform (SQLite, its whitelist worker publishing over MQTT) with one
  compound: a gate and 20 buildings of 20 flats, already home to `PREFILL` tenants; every door
  has its own simulated controller (`MqttDoorController`, one MQTT connection each). Each of
  `REGISTRATIONS` registrations (the use case, one after another) is timed from the call until
  both doors it concerns (the gate and the tenant's building) open for the new card by their
  own local decision. Target: p99 under 2,000 ms.
* `full_resync_s`: `DOORS` door lists (about 60 cards each: 1.4 M tenants over 23,671 doors)
  retained on the broker and held by simulated controllers (`DoorFarm`: each door its own state
  and topics, sockets shared); the broker is restarted without persistence (every retained list
  and session gone) and the clock runs from the new broker listening until every controller
  has taken its door's full list again and holds the server's version and digest. The
  platform's side is the real worker: its MQTT client finds its session lost and publishes every
  list again. No target is set by the issue; no baseline applies.

BENCH_SIZE=small: 40 registrations over 200 tenants, 2,000 doors.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import structlog
from sqlalchemy import insert

from safecity.bus.hub import EventHub
from safecity.core.context import SYSTEM
from safecity.core.ids import id_number_check_char
from safecity.places import Doors, Places
from safecity.places.door_schemas import DoorIn
from safecity.places.models import Door, DoorWhitelist
from safecity.places.schemas import BuildingIn, CompoundIn, FlatIn, IdCardIn, TenantIn
from safecity.places.sync import WhitelistPublisher, WhitelistSync
from safecity.places.whitelist import Entry, digest
from safecity.platform import Platform
from safecity.registry.models import Area, Device
from safecity.settings import Settings
from safecity.sim.door_controller import MqttDoorController
from safecity.sim.door_farm import DoorFarm

SMALL = os.environ.get("BENCH_SIZE") == "small"
REGISTRATIONS = 40 if SMALL else 300
PREFILL = 200 if SMALL else 2_000
BUILDINGS, FLATS = 20, 20
DOORS = 2_000 if SMALL else 23_671
CARDS_PER_DOOR = 60
HOST = "127.0.0.1"
MOSQUITTO = "/usr/sbin/mosquitto"


def emit(metric: str, value: float, unit: str, target: float | None, **extra: object) -> None:
    print(
        json.dumps(
            {
                "bench": "whitelist",
                "metric": metric,
                "value": round(value, 2),
                "unit": unit,
                "baseline": None,
                "ratio": None,
                "target": target,
                **extra,
            }
        ),
        flush=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Broker:
    """This benchmark's own Mosquitto: started, killed and started again on one port."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"listener {self.port} {HOST}\nallow_anonymous true\npersistence false\n"
            f"max_queued_messages 100000\n{user}"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it; the monotonic time it listens."""
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while True:
            with socket.socket() as s:
                s.settimeout(0.05)
                if s.connect_ex((HOST, self.port)) == 0:
                    return time.monotonic()
            time.sleep(0.005)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def number(n: int) -> str:
    """A distinct valid identity number for every n below 336,000."""
    first17 = f"3303021990{n % 12 + 1:02d}{(n // 12) % 28 + 1:02d}{n // 336:03d}"
    return first17 + id_number_check_char(first17)


def card(n: int) -> TenantIn:
    return TenantIn(card=IdCardIn(id_number=number(n), name=f"T{n}"))


async def delta_latency(folder: Path, broker: Broker) -> list[float]:
    """Latencies (ms) of registrations reaching both doors they concern."""
    prefix = f"wlbench{uuid.uuid4().hex[:6]}/v1"
    settings = Settings(
        data_dir=folder / "delta",
        mqtt_url=f"mqtt://{HOST}:{broker.port}",
        mqtt_topic_prefix=prefix,
        mqtt_client_id=f"wlb-{uuid.uuid4().hex[:6]}",
    )
    platform = Platform.build(settings)
    places, doors = platform.service(Places), platform.service(Doors)
    with platform.session_factory() as session, session.begin():
        session.add(Area(id="C1", kind="community", name="C1"))
    places.add_compound(
        SYSTEM, CompoundIn(id="P", name="P", community_id="C1", lat=28.0, lon=120.6), resource="b"
    )
    flats: list[tuple[str, int]] = []
    door_ids = ["GATE"]
    doors.add_door(SYSTEM, DoorIn(device_id="GATE", name="gate", compound_id="P"), resource="b")
    for b in range(BUILDINGS):
        places.add_building(SYSTEM, BuildingIn(id=f"B{b}", compound_id="P", name=str(b)), resource="b")
        doors.add_door(SYSTEM, DoorIn(device_id=f"D{b}", name=str(b), building_id=f"B{b}"), resource="b")
        door_ids.append(f"D{b}")
        for f in range(FLATS):
            flat = places.add_flat(
                SYSTEM, FlatIn(building_id=f"B{b}", number=f"{b}-{f}", capacity=50), resource="b"
            )
            flats.append((f"D{b}", flat.id))
    for n in range(PREFILL):
        places.register_tenant(SYSTEM, flats[n % len(flats)][1], card(n), resource="b")
    await platform.start()
    controllers = {d: MqttDoorController(d, host=HOST, port=broker.port, prefix=prefix) for d in door_ids}
    try:
        for controller in controllers.values():
            await asyncio.to_thread(controller.connect)
        gate_version = doors.whitelist("GATE").version
        for controller in controllers.values():
            server = doors.whitelist(controller.state.door)
            ok = await asyncio.to_thread(controller.wait_for, lambda s, v=server.version: s.version >= v, 60)
            assert ok, f"{controller.state.door} never took its list"
        assert gate_version >= 1
        latencies = []
        for n in range(PREFILL, PREFILL + REGISTRATIONS):
            door, flat = flats[n % len(flats)]
            who = number(n)
            started = time.perf_counter()
            await asyncio.to_thread(places.register_tenant, SYSTEM, flat, card(n), resource="b")
            for target in ("GATE", door):
                reached = await asyncio.to_thread(
                    controllers[target].wait_for, lambda s, w=who: s.decide(w, datetime.now(UTC))[0], 10
                )
                assert reached, f"registration {n} never reached {target}"
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies
    finally:
        for controller in controllers.values():
            controller.close()
        await platform.stop()


def seed_doors(platform: Platform, rng: np.random.Generator) -> dict[str, tuple[int, str]]:
    """DOORS doors, each with a list of about CARDS_PER_DOOR keyed cards at version 1."""
    now = datetime.now(UTC)
    server: dict[str, tuple[int, str]] = {}
    devices, doors, lists = [], [], []
    for n in range(DOORS):
        door = f"DC-{n:05d}"
        keys = {
            rng.bytes(16).hex()
            for _ in range(int(rng.integers(CARDS_PER_DOOR // 2, CARDS_PER_DOOR * 3 // 2)))
        }
        entries = sorted(Entry(k) for k in keys)
        found = digest(entries)
        server[door] = (1, found)
        devices.append(
            {
                "id": door,
                "kind": "door_controller",
                "name": door,
                "lat": 28.0,
                "lon": 120.6,
                "status": "active",
                "registered_at": now,
            }
        )
        doors.append({"device_id": door, "name": door})
        lists.append(
            {
                "device_id": door,
                "salt": secrets.token_bytes(16),
                "version": 1,
                "digest": found,
                "entries": [[e.key, None, None] for e in entries],
                "changed_at": now,
            }
        )
    with platform.session_factory() as session, session.begin():
        for table, rows in ((Device, devices), (Door, doors), (DoorWhitelist, lists)):
            for start in range(0, len(rows), 5_000):
                session.execute(insert(table.__table__), rows[start : start + 5_000])
    return server


async def full_resync(folder: Path, broker: Broker) -> tuple[float, float]:
    """(initial sync s, resync after a broker restart s) of DOORS controllers."""
    prefix = f"wlresync{uuid.uuid4().hex[:6]}/v1"
    platform = Platform.build(Settings(data_dir=folder / "resync"))
    server = seed_doors(platform, np.random.default_rng(7))
    publisher = WhitelistPublisher(
        url=f"mqtt://{HOST}:{broker.port}", prefix=prefix, client_id="wlb-publisher"
    )
    # The seeded lists stand for tenancies this benchmark did not create: no catching up at start.
    sync = WhitelistSync(platform.service(Doors), EventHub(platform.bus), publisher, catch_up=False)
    await sync.start()
    farm = DoorFarm(sorted(server), host=HOST, port=broker.port, prefix=prefix, per_client=3_000)
    try:
        started = time.monotonic()
        await asyncio.to_thread(farm.connect)
        while farm.in_step(server) < len(server):
            await asyncio.sleep(0.05)
        initial = time.monotonic() - started
        broker.stop()
        listening = broker.start()
        deadline = listening + 600
        before = farm.fulls_taken
        while farm.fulls_taken - before < len(server) or farm.in_step(server) < len(server):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{farm.in_step(server)} of {len(server)} doors in step after 600 s")
            await asyncio.sleep(0.02)
        return initial, time.monotonic() - listening
    finally:
        farm.close()
        await sync.stop()
        platform.engine.dispose()


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp))
        broker.start()
        try:
            latencies = await delta_latency(Path(tmp), broker)
            p50, p99 = np.percentile(latencies, [50, 99])
            emit("delta_p50_ms", float(p50), "ms", None, registrations=len(latencies), tenants=PREFILL)
            emit("delta_p99_ms", float(p99), "ms", 2000.0, registrations=len(latencies), tenants=PREFILL)
            initial, resync = await full_resync(Path(tmp), broker)
            emit("initial_sync_s", initial, "s", None, controllers=DOORS)
            emit("full_resync_s", resync, "s", None, controllers=DOORS)
        finally:
            broker.stop()


def main() -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(30),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    if not Path(MOSQUITTO).exists():
        raise SystemExit(f"{MOSQUITTO} is not installed: this benchmark runs its own broker")
    asyncio.run(run())


if __name__ == "__main__":
    main()
