"""A door controller against the real Mosquitto and the whole platform: the whitelist reaches it,
it keeps deciding while cut off, and every swipe it buffered is delivered once after reconnecting."""

from __future__ import annotations

import asyncio
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
from tests.servicecheck import require_service

from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.ingest.models import IngestBatch
from safecity.places import Doors, Places
from safecity.places.door_schemas import DoorIn
from safecity.places.schemas import BuildingIn, CheckOutIn, CompoundIn, FlatIn, IdCardIn, TenantIn
from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.settings import Settings
from safecity.sim.door_controller import MqttDoorController
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
    settings = Settings(
        data_dir=tmp_path,
        mqtt_url=f"mqtt://{HOST}:{PORT}",
        mqtt_topic_prefix=prefix,
        mqtt_client_id=f"dt-{run}",
    )
    platform = Platform.build(settings, clock=ManualClock(T0 + timedelta(minutes=1)))
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
