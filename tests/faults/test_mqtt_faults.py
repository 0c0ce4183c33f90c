"""`kill -9` of the server under MQTT load (the real Mosquitto at 127.0.0.1:1883)."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from safecity.lake import Lake
from tests.faults.harness import Server, assert_each_stored_once, ndjson, readings
from tests.servicecheck import require_service

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(120)]

HOST, PORT = "127.0.0.1", 1883
MESSAGES = 15  # per station, 100 events each


class Stations:
    """Stations publishing batches with QoS 1, paced, from one client (the broker acknowledges)."""

    def __init__(self, prefix: str, devices: list[str]) -> None:
        self.prefix, self.devices = prefix, devices
        self.sent: set[str] = set()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{prefix}-stations")
        self.client.connect(HOST, PORT)
        self.client.loop_start()

    def publish(self, device: str, run: str, first: int, count: int) -> None:
        events = readings(device, run, first, count)
        self.sent.update(e["id"] for e in events)
        info = self.client.publish(f"{self.prefix}/devices/{device}/events", ndjson(events), qos=1)
        info.wait_for_publish(timeout=10)

    def run(self, pause_s: float) -> None:
        for m in range(MESSAGES):
            for device in self.devices:
                self.publish(device, "load", m * 100, 100)
            time.sleep(pause_s)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def stored(server: Server) -> int:
    """Rows in the lake now (read while the server writes)."""
    lake = Lake(server.data_dir / "lake")
    try:
        return lake.count()
    finally:
        lake.close()


def wait_stored(server: Server, rows: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while (now := stored(server)) < rows:
        assert time.monotonic() < deadline, f"{now} of {rows} rows stored:\n{server.log()}"
        time.sleep(0.05)


def test_kill_9_under_mqtt_load_loses_nothing_and_stores_nothing_twice(
    server: Server, secrets: dict[str, str]
) -> None:
    require_service(HOST, PORT, "Mosquitto")
    prefix = f"faults-{uuid.uuid4().hex[:10]}"  # this test's topics and sessions alone
    server.extra_env.update(
        SAFECITY_MQTT_URL=f"mqtt://{HOST}:{PORT}",
        SAFECITY_MQTT_TOPIC_PREFIX=prefix,
        SAFECITY_MQTT_CLIENT_ID=f"{prefix}-ingest",
    )
    server.start()
    stations = Stations(prefix, sorted(secrets))
    try:
        stations.publish(stations.devices[0], "probe", 0, 10)  # the server's session is subscribed
        wait_stored(server, 10)
        total = 10 + MESSAGES * 100 * len(stations.devices)
        load = threading.Thread(target=stations.run, args=(0.1,), daemon=True)
        load.start()
        wait_stored(server, total // 3)

        server.kill()  # messages in flight are redelivered to the next session, unacknowledged
        server.start()
        load.join()
        wait_stored(server, total)
        time.sleep(0.5)  # any redelivery still under way lands (as a duplicate) before the count
    finally:
        stations.close()

    assert_each_stored_once(server, stations.sent)
