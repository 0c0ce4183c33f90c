"""Device authentication at a real Mosquitto configured by `safecity mqtt broker-config`.

The test starts its own broker (/usr/sbin/mosquitto) on a free port with the generated password
file, ACL and configuration snippet: a device with its own id and secret publishes its events and
the platform ingests them; it cannot publish as another device; anonymous clients and wrong
secrets are refused; after a rotation the file is regenerated and the old secret stops working.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from safecity import cli, registry
from safecity.driver import DevicePublishers
from safecity.ingest.broker import PLATFORM_USER
from safecity.ingest.settings import IngestSettings
from safecity.platform import Platform
from safecity.settings import Settings
from safecity.store import transaction

pytestmark = pytest.mark.integration

MOSQUITTO = "/usr/sbin/mosquitto"
HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


class Device:
    """An MQTT v5 client; `connect` returns the broker's CONNACK reason."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self._connack = threading.Event()
        self.reason: str = ""
        self.acks: dict[int, int] = {}  # message id -> PUBACK reason code
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda _c, _u, mid, reason, _p: self.acks.__setitem__(mid, reason.value)

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self.reason = str(reason)
        self._connack.set()

    def connect(self, port: int) -> str:
        """Connect and wait for the CONNACK: "Success" or the refusal."""
        self.client.connect(HOST, port)
        self.client.loop_start()
        assert self._connack.wait(10), "no CONNACK"
        return self.reason

    def publish(self, topic: str, body: bytes) -> int:
        """Publish with QoS 1; the broker's PUBACK reason code (0 = accepted, 135 = not authorised)."""
        info = self.client.publish(topic, body, qos=1)
        deadline = time.monotonic() + 10
        while info.mid not in self.acks:
            assert time.monotonic() < deadline, "no PUBACK"
            time.sleep(0.02)
        return self.acks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", mqtt_topic_prefix=f"t{uuid.uuid4().hex[:8]}/v1")


@pytest.fixture
def secrets(settings: Settings) -> dict[str, str]:
    """Two registered base stations and their secrets, shown once at registration."""
    platform = Platform.build(settings)
    found = {}
    with transaction(platform.session_factory) as session:
        for device in ("BS-A", "BS-B"):
            _row, found[device] = registry.create_device(
                session,
                device_id=device,
                kind="rfid_station",
                name=device,
                lat=28.0,
                lon=120.7,
                area_id=None,
                now=datetime.now(UTC),
            )
    platform.engine.dispose()
    return found


def _broker_config(settings: Settings, out: Path, port: int) -> str:
    """Run `safecity mqtt broker-config` as an operator would; the platform account's password."""
    saved = structlog.get_config()  # the command logs to the runner's stderr, closed after it
    result = CliRunner().invoke(
        cli.app,
        ["mqtt", "broker-config", "--out", str(out), "--listen", f"{HOST}:{port}"],
        env={
            "SAFECITY_DATA_DIR": str(settings.data_dir),
            "SAFECITY_MQTT_TOPIC_PREFIX": settings.section(IngestSettings).mqtt_topic_prefix,
        },
    )
    structlog.configure(**saved)
    assert result.exit_code == 0, result.output
    assert "2 devices" in result.output
    return (out / "platform.password").read_text().strip()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[int, Path, list[subprocess.Popen[bytes]]]]:
    """A port and folder for the test's own Mosquitto; the broker is started by `_start`."""
    if not Path(MOSQUITTO).exists():
        pytest.skip(f"{MOSQUITTO} is not installed")
    started: list[subprocess.Popen[bytes]] = []
    yield _free_port(), tmp_path / "broker", started
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def _start(out: Path, port: int, started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    # The generated snippet as is, plus what only this throwaway broker needs: no persistence,
    # and running as the test's user (as root it would drop to `mosquitto`, who cannot read tmp).
    conf = out.parent / "test-mosquitto.conf"
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text((out / "mosquitto.conf").read_text() + f"\npersistence false\n{user}")
    process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    started.append(process)
    deadline = time.monotonic() + 10
    while not _port_open(port):
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        assert time.monotonic() < deadline, "mosquitto did not listen"
        time.sleep(0.05)
    return process


def _reads(subject: str, n: int = 2) -> bytes:
    now = datetime.now(UTC)
    events = [
        {
            "id": f"{subject}-{i}",
            "kind": "rfid_read",
            "ts": (now - timedelta(seconds=i)).isoformat(),
            "subject": subject,
        }
        for i in range(n)
    ]
    return "\n".join(json.dumps(e) for e in events).encode()


async def _ingesting(settings: Settings, platform_password: str, port: int) -> Platform:
    """The platform running, its MQTT client signed in with the generated platform account."""
    platform = Platform.build(
        Settings(
            data_dir=settings.data_dir,
            mqtt_topic_prefix=settings.section(IngestSettings).mqtt_topic_prefix,
            mqtt_url=f"mqtt://{PLATFORM_USER}:{platform_password}@{HOST}:{port}",
        )
    )
    await platform.start()
    return platform


def _stored_subjects(platform: Platform) -> set[str]:
    now = platform.clock.now()
    frame = platform.lake.scan(start=now - timedelta(hours=1), end=now + timedelta(hours=1)).collect()
    return set(frame["subject"].to_list()) if frame.height else set()


async def test_each_device_publishes_only_as_itself_on_the_generated_broker(
    settings: Settings, secrets: dict[str, str], broker: tuple[int, Path, list[subprocess.Popen[bytes]]]
) -> None:
    port, out, started = broker
    platform_password = _broker_config(settings, out, port)
    _start(out, port, started)
    prefix = settings.section(IngestSettings).mqtt_topic_prefix

    # Nobody without credentials, or with a wrong secret, gets in.
    assert Device().connect(port) == "Not authorized"
    assert Device("BS-A", secrets["BS-B"]).connect(port) in {"Not authorized", "Bad user name or password"}

    platform = await _ingesting(settings, platform_password, port)
    device = Device("BS-A", secrets["BS-A"])
    try:
        assert await asyncio.to_thread(device.connect, port) == "Success"
        forged = await asyncio.to_thread(
            device.publish, f"{prefix}/devices/BS-B/events", _reads("00BBBBBBB2")
        )
        assert forged == 135, "the broker refuses a device publishing as another (Not authorised)"
        own = await asyncio.to_thread(device.publish, f"{prefix}/devices/BS-A/events", _reads("00AAAAAAA1"))
        assert own == 0
        deadline = time.monotonic() + 15
        while "00AAAAAAA1" not in _stored_subjects(platform):
            assert time.monotonic() < deadline, "the platform never stored BS-A's reads"
            await asyncio.sleep(0.1)
        assert "00BBBBBBB2" not in _stored_subjects(platform)
    finally:
        device.close()
        await platform.stop()


def test_a_rotated_secret_works_once_the_file_is_regenerated_and_the_old_one_stops(
    settings: Settings, secrets: dict[str, str], broker: tuple[int, Path, list[subprocess.Popen[bytes]]]
) -> None:
    port, out, started = broker
    _broker_config(settings, out, port)
    process = _start(out, port, started)
    platform = Platform.build(settings)
    with transaction(platform.session_factory) as session:
        new = registry.rotate_device_secret(session, device_id="BS-A")
    platform.engine.dispose()
    _broker_config(settings, out, port)
    process.send_signal(signal.SIGHUP)  # Mosquitto re-reads its password and ACL files
    deadline = time.monotonic() + 10
    while (reason := Device("BS-A", secrets["BS-A"]).connect(port)) == "Success":
        assert time.monotonic() < deadline, "the old secret still works after the reload"
        time.sleep(0.2)
    assert reason != "Success"
    fresh = Device("BS-A", new)
    assert fresh.connect(port) == "Success"
    fresh.close()


async def test_the_simulator_signs_in_as_each_station_with_its_own_secret(
    settings: Settings, secrets: dict[str, str], broker: tuple[int, Path, list[subprocess.Popen[bytes]]]
) -> None:
    port, out, started = broker
    platform_password = _broker_config(settings, out, port)
    _start(out, port, started)
    prefix = settings.section(IngestSettings).mqtt_topic_prefix
    platform = await _ingesting(settings, platform_password, port)
    publishers = DevicePublishers(f"mqtt://{HOST}:{port}", secrets, prefix)
    try:
        publishers.publish("BS-A", _reads("00AAAAAAA1"))
        publishers.publish("BS-B", _reads("00BBBBBBB2"))
        deadline = time.monotonic() + 15
        while not {"00AAAAAAA1", "00BBBBBBB2"} <= _stored_subjects(platform):
            assert time.monotonic() < deadline, f"stored only {_stored_subjects(platform)}"
            await asyncio.sleep(0.1)
    finally:
        publishers.close()
        await platform.stop()
