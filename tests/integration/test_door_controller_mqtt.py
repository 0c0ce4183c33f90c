"""A door controller against the real Mosquitto and the whole platform: the whitelist reaches it,
it keeps deciding while cut off, and every swipe it buffered is delivered once after reconnecting."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from tests.conftest import T0
from tests.integration.test_mqtt_broker_auth import (  # noqa: F401  (fixtures)
    _broker_config,
    _start,
    broker,
    secrets,
    settings,
)
from tests.servicecheck import require_service

from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.ingest.broker import PLATFORM_USER
from safecity.ingest.models import IngestBatch
from safecity.ingest.settings import IngestSettings
from safecity.places import Doors, Places
from safecity.places.door_schemas import DoorIn
from safecity.places.schemas import BuildingIn, CheckOutIn, CompoundIn, FlatIn, IdCardIn, TenantIn
from safecity.places.sync import WhitelistPublisher, WhitelistSync
from safecity.places.whitelist import FullList, digest
from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.settings import Settings
from safecity.sim.door_controller import MqttDoorController
from safecity.sim.door_farm import DoorFarm
from safecity.store import transaction

pytestmark = pytest.mark.integration

HOST, PORT = "127.0.0.1", 1883
TENANT = "330302199003071231"
STRANGER = "330302198805051238"


def _forget(client_id: str, topics: list[str]) -> None:
    """Remove a client's persistent session and the retained messages of these topics."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect(HOST, PORT, clean_start=True)
    client.loop_start()
    for topic in topics:
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


async def eventually(condition: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Wait until condition() is truthy."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.fixture
async def estate(tmp_path: Path) -> AsyncIterator[tuple[Platform, str]]:
    """A running platform on its own topic prefix with compound P, building A, flat 1 and door DC-A."""
    require_service(HOST, PORT, "Mosquitto MQTT")
    run = uuid.uuid4().hex[:10]
    prefix = f"doortest{run}/v1"
    config = Settings(
        data_dir=tmp_path,
        mqtt_url=f"mqtt://{HOST}:{PORT}",
        mqtt_topic_prefix=prefix,
        mqtt_client_id=f"dt-{run}",
    )
    platform = Platform.build(config, clock=ManualClock(T0 + timedelta(minutes=1)))
    with transaction(platform.session_factory) as session:
        session.add(Area(id="C1", kind="community", name="C1"))
    places = platform.service(Places)
    places.add_compound(
        SYSTEM, CompoundIn(id="P", name="P", community_id="C1", lat=28.0, lon=120.6), resource="t"
    )
    places.add_building(SYSTEM, BuildingIn(id="A", compound_id="P", name="A"), resource="t")
    places.add_flat(SYSTEM, FlatIn(building_id="A", number="101", capacity=4), resource="t")
    platform.service(Doors).add_door(
        SYSTEM, DoorIn(device_id="DC-A", name="A", building_id="A"), resource="t"
    )
    await platform.start()
    yield platform, prefix
    await platform.stop()
    topics = [f"{prefix}/devices/DC-A/whitelist", f"{prefix}/devices/DC-A/whitelist/delta"]
    _forget(f"dt-{run}", [])
    _forget(f"dt-{run}-whitelists", topics)
    _forget("door-DC-A", [])


def stored_swipes(platform: Platform) -> tuple[int, int]:
    """(stored, duplicates) over every batch DC-A sent."""
    with platform.session_factory() as session:
        row = session.execute(
            select(
                func.coalesce(func.sum(IngestBatch.stored), 0),
                func.coalesce(func.sum(IngestBatch.duplicates), 0),
            ).where(IngestBatch.device_id == "DC-A")
        ).one()
    return int(row[0]), int(row[1])


async def test_a_cut_off_controller_keeps_deciding_and_delivers_every_swipe_once(
    estate: tuple[Platform, str],
) -> None:
    platform, prefix = estate
    places = platform.service(Places)
    door = MqttDoorController("DC-A", host=HOST, port=PORT, prefix=prefix)
    try:
        await asyncio.to_thread(door.connect)
        assert await asyncio.to_thread(door.wait_for, lambda s: s.version >= 1 and not s.wants_full)

        # A registration reaches the door within seconds, as a delta.
        started = time.monotonic()
        card = IdCardIn(id_number=TENANT, name="陈平")
        registered = await asyncio.to_thread(
            places.register_tenant, SYSTEM, 1, TenantIn(card=card), resource="t"
        )
        assert await asyncio.to_thread(door.wait_for, lambda s: s.decide(TENANT, T0)[0])
        assert time.monotonic() - started < 2.0
        assert "applied" in door.outcomes

        # Cut off: the door still decides from its list; reports wait in its buffer.
        await asyncio.to_thread(door.cut)
        swipes = [door.swipe(TENANT if n % 2 == 0 else STRANGER, T0 + timedelta(seconds=n)) for n in range(5)]
        assert [s["code"] for s in swipes] == ["granted", "denied", "granted", "denied", "granted"]
        assert all(s["attrs"]["buffered"] for s in swipes)
        # Meanwhile the tenant moves out: the change waits in the door's session.
        await asyncio.to_thread(
            places.check_out, SYSTEM, registered.tenant.tenancy_id, CheckOutIn(at=None), resource="t"
        )
        await asyncio.sleep(0.3)
        assert stored_swipes(platform) == (0, 0)

        await asyncio.to_thread(door.reconnect)
        await eventually(door.delivered)
        await eventually(lambda: stored_swipes(platform)[0] == 5)
        assert await asyncio.to_thread(door.wait_for, lambda s: not s.decide(TENANT, T0)[0])

        # The same reports again (a PUBACK lost on the way): ingest keeps the first of each.
        resend = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"resend-{uuid.uuid4().hex[:6]}")
        resend.connect(HOST, PORT)
        resend.loop_start()
        body = b"\n".join(msgspec.json.encode(s) for s in swipes)
        await asyncio.to_thread(resend.publish(door.events_topic, body, qos=1).wait_for_publish, 5)
        resend.disconnect()
        resend.loop_stop()
        await eventually(lambda: stored_swipes(platform)[1] == 5)
        assert stored_swipes(platform) == (5, 5)
    finally:
        door.close()


async def test_a_report_naming_another_door_is_refused_naming_the_device(
    estate: tuple[Platform, str],
) -> None:
    platform, prefix = estate
    results: list[bytes] = []
    subscribed = asyncio.Event()
    loop = asyncio.get_running_loop()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dc-a-{uuid.uuid4().hex[:6]}")
    client.on_message = lambda _c, _u, msg: results.append(msg.payload)
    client.on_subscribe = lambda *_: loop.call_soon_threadsafe(subscribed.set)
    client.connect(HOST, PORT)
    client.loop_start()
    try:
        client.subscribe(f"{prefix}/devices/DC-A/results", qos=1)
        await asyncio.wait_for(subscribed.wait(), 5)
        report = {
            "id": "x-1",
            "kind": "door_swipe",
            "device": "DC-B",  # a door this controller is not
            "ts": T0.isoformat(),
            "subject": TENANT,
            "code": "granted",
            "attrs": {"reason": "listed", "wl_version": 1, "buffered": False},
        }
        client.publish(f"{prefix}/devices/DC-A/events", msgspec.json.encode(report), qos=1)
        await eventually(lambda: results)
        answer = msgspec.json.decode(results[0])
        assert (answer["stored"], answer["dead_lettered"]) == (0, 1)  # kept as a dead letter, not lost
        [refused] = answer["rejected"]
        assert refused["field"] == "device"
        assert "does not match the authenticated device 'DC-A'" in refused["reason"]
        assert stored_swipes(platform) == (0, 0)
    finally:
        client.disconnect()
        client.loop_stop()


async def test_on_the_generated_broker_a_door_reads_only_its_own_whitelist(
    settings: Settings,  # noqa: F811 (the fixtures of test_mqtt_broker_auth)
    secrets: dict[str, str],  # noqa: F811
    broker: tuple[int, Path, list[subprocess.Popen[bytes]]],  # noqa: F811
) -> None:
    port, out, started = broker
    platform_password = _broker_config(settings, out, port)
    _start(out, port, started)
    prefix = settings.section(IngestSettings).mqtt_topic_prefix
    publisher = WhitelistPublisher(
        url=f"mqtt://{PLATFORM_USER}:{platform_password}@{HOST}:{port}", prefix=prefix, client_id="wl-acl"
    )
    await publisher.start()
    for door in ("BS-A", "BS-B"):
        publisher.publish_full(FullList(door, 1, digest([]), "00" * 16, []))
    await publisher.flush(10)
    publisher.stop()

    door = MqttDoorController("BS-A", host=HOST, port=port, prefix=prefix, password=secrets["BS-A"])
    try:
        await asyncio.to_thread(door.connect)
        assert await asyncio.to_thread(door.wait_for, lambda s: s.version == 1)
        # Listening in on another door's list is not allowed; neither is writing one's own.
        door._client.subscribe(f"{prefix}/devices/BS-B/whitelist", qos=1)
        forged = msgspec.json.encode(FullList("BS-A", 99, digest([]), "11" * 16, []))
        door._client.publish(f"{prefix}/devices/BS-A/whitelist", forged, qos=1, retain=True)
        await asyncio.sleep(0.5)
        assert door.outcomes == ["applied"]
        assert door.state.version == 1
    finally:
        door.close()
    check = MqttDoorController("BS-A", host=HOST, port=port, prefix=prefix, password=secrets["BS-A"])
    try:
        await asyncio.to_thread(check.connect)
        assert await asyncio.to_thread(check.wait_for, lambda s: s.version >= 1)
        await asyncio.sleep(0.3)
        assert check.state.version == 1  # the forged list never replaced the platform's
    finally:
        check.close()


class OwnBroker:
    """A Mosquitto of this test's own (anonymous, no persistence), to restart without disturbing others."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            self.port = int(sock.getsockname()[1])
        self.conf = folder / "own-mosquitto.conf"
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(f"listener {self.port} {HOST}\nallow_anonymous true\npersistence false\n{user}")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["/usr/sbin/mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex((HOST, self.port)) == 0:
                    return
            assert time.monotonic() < deadline, "mosquitto did not listen"
            time.sleep(0.02)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


async def test_after_a_broker_restart_every_door_takes_its_list_again_with_what_changed_meanwhile(
    tmp_path: Path,
) -> None:
    if not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("/usr/sbin/mosquitto is not installed")
    own = OwnBroker(tmp_path)
    own.start()
    platform = Platform.build(Settings(data_dir=tmp_path / "data"), clock=ManualClock(T0))
    with transaction(platform.session_factory) as session:
        session.add(Area(id="C1", kind="community", name="C1"))
    places, doors = platform.service(Places), platform.service(Doors)
    places.add_compound(
        SYSTEM, CompoundIn(id="P", name="P", community_id="C1", lat=28.0, lon=120.6), resource="t"
    )
    names = ["GATE"] + [f"D{b}" for b in range(12)]
    doors.add_door(SYSTEM, DoorIn(device_id="GATE", name="gate", compound_id="P"), resource="t")
    for b in range(12):
        places.add_building(SYSTEM, BuildingIn(id=f"B{b}", compound_id="P", name=str(b)), resource="t")
        places.add_flat(SYSTEM, FlatIn(building_id=f"B{b}", number="1", capacity=4), resource="t")
        doors.add_door(SYSTEM, DoorIn(device_id=f"D{b}", name=str(b), building_id=f"B{b}"), resource="t")
    prefix = f"resync{uuid.uuid4().hex[:6]}/v1"
    publisher = WhitelistPublisher(url=f"mqtt://{HOST}:{own.port}", prefix=prefix, client_id="rs-platform")
    sync = WhitelistSync(doors, platform.hub, publisher)
    platform.hub.bind(asyncio.get_running_loop())
    await sync.start()
    farm = DoorFarm(names, host=HOST, port=own.port, prefix=prefix, per_client=5)

    def server() -> dict[str, tuple[int, str]]:
        return {d: ((f := doors.whitelist(d)).version, f.digest) for d in names}

    try:
        await eventually(lambda: sync.rounds >= 1)
        await asyncio.to_thread(farm.connect)
        await eventually(lambda: farm.in_step(server()) == len(names))
        own.kill()
        # While the broker is down a tenant moves in (the worker's publishes wait in its client).
        card = IdCardIn(id_number=TENANT, name="陈平")
        await asyncio.to_thread(places.register_tenant, SYSTEM, 1, TenantIn(card=card), resource="t")
        await eventually(lambda: farm.in_step(server()) == len(names) - 2)  # the gate and B0's door changed
        own.start()
        await eventually(lambda: farm.in_step(server()) == len(names), timeout_s=30)
        assert farm.states["GATE"].decide(TENANT, T0)[0]
        assert farm.states["D0"].decide(TENANT, T0)[0]
        assert not farm.states["D1"].decide(TENANT, T0)[0]
    finally:
        farm.close()
        await sync.stop()
        own.kill()
        platform.engine.dispose()


async def test_a_delta_lost_on_the_way_is_found_by_the_periodic_check(estate: tuple[Platform, str]) -> None:
    platform, prefix = estate
    door = MqttDoorController("DC-A", host=HOST, port=PORT, prefix=prefix, check_every_s=0.5)
    try:
        await asyncio.to_thread(door.connect)
        assert await asyncio.to_thread(door.wait_for, lambda s: s.version >= 1 and not s.wants_full)
        held = door.state.version
        # The deltas are lost: the door is not listening when they are published (nothing queues
        # them), and its periodic check is held back meanwhile.
        door.stop_checks()
        door._client.unsubscribe(door.delta_topic)
        await asyncio.sleep(0.2)
        places, doors = platform.service(Places), platform.service(Doors)
        for n, number in enumerate((TENANT, STRANGER), 1):  # two changes, two versions, both missed
            card = IdCardIn(id_number=number, name="T")
            await asyncio.to_thread(places.register_tenant, SYSTEM, 1, TenantIn(card=card), resource="t")
            await eventually(lambda n=n: doors.whitelist("DC-A").version >= held + n)
        await asyncio.sleep(0.3)
        assert door.state.version == held
        assert not door.state.decide(TENANT, T0)[0]
        door.start_checks()
        # Its periodic check (every 0.5 s here) subscribes again: the retained newest delta is
        # based on a version it lacks, so it takes the full list.
        assert await asyncio.to_thread(door.wait_for, lambda s: s.decide(STRANGER, T0)[0])
        assert "gap" in door.outcomes
        assert door.state.decide(TENANT, T0)[0]
        assert door.state.version == doors.whitelist("DC-A").version
    finally:
        door.close()


async def test_a_re_keyed_door_reaches_its_online_controller_as_a_whole_list(
    estate: tuple[Platform, str],
) -> None:
    platform, prefix = estate
    places, doors = platform.service(Places), platform.service(Doors)
    door = MqttDoorController("DC-A", host=HOST, port=PORT, prefix=prefix)
    try:
        await asyncio.to_thread(door.connect)
        card = IdCardIn(id_number=TENANT, name="陈平")
        await asyncio.to_thread(places.register_tenant, SYSTEM, 1, TenantIn(card=card), resource="t")
        assert await asyncio.to_thread(door.wait_for, lambda s: s.decide(TENANT, T0)[0])
        old_salt = door.state.salt
        rekeyed = await asyncio.to_thread(doors.rekey, SYSTEM, "DC-A", resource="t")
        assert await asyncio.to_thread(door.wait_for, lambda s: s.version == rekeyed.version)
        assert door.state.salt != old_salt
        assert door.state.decide(TENANT, T0) == (True, "listed")
        assert "gap" in door.outcomes  # the marker delta did not apply: it took the full list
    finally:
        door.close()
