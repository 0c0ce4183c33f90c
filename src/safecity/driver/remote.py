"""Feed a remote platform as real devices would: each station posts its own uploads over HTTP with
its own secret, or publishes them over MQTT."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog

from safecity.driver.live import DUTY_OFFICER, HORIZON, ndjson
from safecity.sim import City, SimBatch, Simulation

log = structlog.get_logger(__name__)


async def run_remote(
    city_dir: Path,
    *,
    url: str,
    mqtt_url: str,
    speedup: float,
    thefts_per_hour: float,
    seed: int,
    duration_s: float,
) -> None:
    """Simulate the city against a running platform over HTTP (or MQTT), as real devices would."""
    city = City.open(city_dir)
    secrets = city.device_secrets()
    stop = asyncio.Event()
    if duration_s:
        asyncio.get_running_loop().call_later(duration_s, stop.set)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        publishers = DevicePublishers(mqtt_url, secrets, _topic_prefix()) if mqtt_url else None
        limiter = asyncio.Semaphore(32)

        async def post(batch: SimBatch) -> None:
            async with limiter:
                response = await client.post(
                    "/api/v1/ingest",
                    content=ndjson(batch.events),
                    auth=(batch.device_id or "", secrets.get(batch.device_id or "", "")),
                    headers={"content-type": "application/x-ndjson"},
                )
                if response.status_code != 200:
                    log.warning(
                        "sim.upload_refused",
                        device=batch.device_id,
                        status=response.status_code,
                        body=response.text[:200],
                    )

        async def send(batch: SimBatch) -> None:
            for action in batch.actions:
                response = await client.post(
                    f"/api/v1/bikes/{action.bike_id}/stolen",
                    json={
                        "reported_by": action.reported_by,
                        "basis": action.basis,
                        "owner": DUTY_OFFICER,
                        "owner_station_id": action.station_id,
                    },
                )
                log.info("sim.bike_reported_stolen", bike_id=action.bike_id, status=response.status_code)
            if batch.device_id is None or not batch.events:
                return
            if publishers is not None:
                publishers.publish(batch.device_id, ndjson(batch.events))
            else:
                asyncio.create_task(post(batch))

        sim = Simulation(
            city,
            seed=seed,
            start=datetime.now(UTC),
            speedup=speedup,
            thefts=max(1, round(thefts_per_hour * HORIZON.total_seconds() / 3600)),
            horizon=HORIZON,
        )
        try:
            sent = await sim.run_live(send, stop_event=stop)
        finally:
            if publishers is not None:
                publishers.close()
        log.info("sim.finished", batches=sent)


class DevicePublishers:
    """One MQTT connection per device, signed in with its own id and secret, as real devices are.

    A broker set up by `safecity mqtt broker-config` lets a device publish only on its own
    topic, so one shared connection cannot speak for them all. One thread serves every
    connection through a selector (a city has thousands of stations: a thread each is too many).
    """

    def __init__(self, mqtt_url: str, secrets: dict[str, str], prefix: str) -> None:
        host, _, port = mqtt_url.removeprefix("mqtt://").rpartition("@")[2].partition(":")
        self._host, self._port = host, int(port or 1883)
        self._secrets, self._prefix = secrets, prefix
        self._clients: dict[str, Any] = {}
        self._sockets: dict[str, Any] = {}
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mqtt-devices", daemon=True)
        self._thread.start()

    def publish(self, device_id: str, body: bytes) -> None:
        """Publish a device's batch on its own events topic (QoS 1), connecting it first if need be."""
        client = self._clients.get(device_id) or self._connect(device_id)
        client.publish(f"{self._prefix}/devices/{device_id}/events", body, qos=1)

    def _connect(self, device_id: str) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"safecity-sim-{device_id}")
        client.username_pw_set(device_id, self._secrets.get(device_id, ""))
        client.on_connect = _log_refusal
        client.connect(self._host, self._port)
        with self._lock:
            self._clients[device_id] = client
            self._sockets[device_id] = client.socket()
            self._selector.register(self._sockets[device_id], selectors.EVENT_READ, device_id)
        return client

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                clients = dict(self._clients)
            if not clients:
                self._stop.wait(0.05)
                continue
            for key, _events in self._selector.select(timeout=0.05):
                client = clients.get(key.data)
                if client is not None and client.loop_read() != 0:  # refused or closed by the broker
                    self._drop(key.data)
            for device_id, client in clients.items():
                if client.want_write() and client.loop_write() != 0:
                    self._drop(device_id)
                else:
                    client.loop_misc()

    def _drop(self, device_id: str) -> None:
        """Forget a connection the broker closed (the next batch of the device connects again)."""
        with self._lock:
            self._clients.pop(device_id, None)
            sock = self._sockets.pop(device_id, None)
            if sock is not None:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.unregister(sock)

    def close(self) -> None:
        """Disconnect every device."""
        self._stop.set()
        self._thread.join(timeout=5)
        for client in self._clients.values():
            client.disconnect()


def _log_refusal(_client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
    if reason.is_failure:
        log.warning("sim.mqtt_refused", reason=str(reason))


def _topic_prefix() -> str:
    from safecity.ingest.settings import IngestSettings
    from safecity.settings import Settings

    return Settings().section(IngestSettings).mqtt_topic_prefix
