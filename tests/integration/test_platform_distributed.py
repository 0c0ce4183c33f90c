"""The whole platform distributed: PostgreSQL registry, NATS JetStream bus, MQTT devices.

The same code as the embedded demo, chosen by settings alone: a stolen bike's read published
over MQTT is stored, evaluated by the rule worker over NATS, raised as an alert in PostgreSQL
and pushed to a console stream.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tests.conftest import T0
from tests.servicecheck import require_service

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.platform import Platform
from safecity.settings import Settings

pytestmark = pytest.mark.integration


async def test_stolen_bike_read_over_mqtt_raises_an_alert_through_nats_and_postgres(
    tmp_path: Path, empty_postgres_url: str
) -> None:
    require_service("127.0.0.1", 4222, "NATS")
    require_service("127.0.0.1", 1883, "Mosquitto")
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        data_dir=tmp_path,
        database_url=empty_postgres_url,
        bus="nats",
        nats_stream=f"SCTEST{run}",
        mqtt_url="mqtt://127.0.0.1:1883",
        mqtt_topic_prefix=f"sctest-{run}",
        mqtt_client_id=f"sctest-{run}",
    )
    clock = ManualClock(T0 + timedelta(minutes=1))
    platform = Platform.build(settings, clock=clock)
    with platform.session_factory() as s, s.begin():
        registry.create_device(
            s,
            device_id="BS-000007",
            kind="rfid_station",
            name="Station 7",
            lat=28.0,
            lon=120.7,
            area_id=None,
            now=T0,
        )
        bike = registry.register_bike(
            s,
            reg=registry.BikeRegistration(
                tag_id="00DEADBEEF",
                frame_number="F-77",
                model="Yadea",
                colour="blue",
                owner_id_number="11010519491231002X",
                owner_name="Li Si",
            ),
            by="clerk",
            now=T0,
            pseudonymize=platform.pseudonyms.pseudonym,
        )
        registry.report_stolen(
            s, bike_id=bike.id, reported_by="owner", basis="case 7", owner="officer", now=T0
        )
    await platform.start()
    stream = platform.alert_stream.subscribe()
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sctest-pub-{run}")
    try:
        publisher.connect("127.0.0.1", 1883)
        publisher.loop_start()
        event = {
            "id": f"BS-000007-{run}",
            "kind": "rfid_read",
            "ts": "2026-11-22T08:00:30Z",
            "subject": "00DEADBEEF",
        }
        publisher.publish(
            f"sctest-{run}/devices/BS-000007/events", json.dumps(event), qos=1
        ).wait_for_publish(5)
        notice = await asyncio.wait_for(anext(aiter(stream)), timeout=30)
        assert notice["type"] == "AlertRaised"
        assert notice["subject"] == "00DEADBEEF" and notice["corr_id"] == event["id"]
        detail = platform.alerts.get(notice["alert_id"])
        assert [e.device for e in detail.evidence] == ["BS-000007"]
        assert platform.lake.count() == 1
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        stream.close()
        await platform.stop()
        from safecity.bus.nats import NatsBus

        cleanup = NatsBus("nats://127.0.0.1:4222", stream=f"SCTEST{run}", subject_prefix=f"sctest{run}")
        await cleanup.start()
        await cleanup.delete_stream()
        await cleanup.close()
