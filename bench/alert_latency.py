"""Benchmark `alert_latency`: MQTT publish of a stolen bike's read -> the alert on Server-Sent Events.

A real `safecity serve` runs in its own process (SQLite, lake, in-process bus, MQTT subscriber)
against the real Mosquitto at 127.0.0.1:1883. This process publishes background reads at
2,000 events/s (QoS 1, 100 station uploads of 20 reads per second) for 60 s and, every 0.5 s,
one read of a different stolen tag; it listens on GET /api/v1/alerts/stream and times each
AlertRaised from just before the publish to its arrival. Prints p50_ms and p99_ms (target p99
at most 250 ms); no baseline applies. BENCH_SIZE=small runs 15 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion

from safecity.core.clock import ManualClock
from safecity.platform import Platform
from safecity.registry.models import Device, WatchlistEntry
from safecity.security import accounts
from safecity.security.roles import Role
from safecity.settings import Settings

SMALL = os.environ.get("BENCH_SIZE") == "small"
DURATION_S = 15 if SMALL else 60
RATE = 2_000
UPLOAD = 20
STATIONS, TAGS = 500, 50_000
PROBE_EVERY_S = 0.5
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


def emit(metric: str, value: float, target: float | None) -> None:
    print(
        json.dumps(
            {
                "bench": "alert_latency",
                "metric": metric,
                "value": round(value, 1),
                "unit": "ms",
                "baseline": None,
                "ratio": None,
                "target": target,
            }
        ),
        flush=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(settings: Settings, stolen: list[str]) -> str:
    """Stations, a watchlist and a city-wide dispatcher, inserted before the server starts.

    Returns the dispatcher's access token: the live stream, like every staff route, needs one.
    """
    now = datetime.now(UTC)
    platform = Platform.build(settings, clock=ManualClock(now))
    rng = np.random.default_rng(1)
    devices = [
        {
            "id": f"BS-{i:06d}",
            "kind": "rfid_station",
            "name": f"station {i}",
            "lat": float(28.0 + rng.uniform(-0.05, 0.05)),
            "lon": float(120.7 + rng.uniform(-0.05, 0.05)),
            "area_id": None,
            "status": "active",
            "secret_hash": None,
            "registered_at": now,
        }
        for i in range(STATIONS)
    ]
    entries = [
        {
            "list_kind": "stolen_bike",
            "subject_kind": "tag",
            "subject": tag,
            "ebike_id": None,
            "reported_by": "owner",
            "reported_at": now - timedelta(hours=1),
            "basis": "bench",
            "owner": "officer",
            "expires_at": now + timedelta(days=30),
            "status": "active",
        }
        for tag in stolen
    ]
    with platform.session_factory() as session, session.begin():
        session.execute(Device.__table__.insert(), devices)
        session.execute(WatchlistEntry.__table__.insert(), entries)
    with platform.session_factory.begin() as session:
        account = accounts.create_account(
            session,
            accounts.NewAccount(
                username="bench-dispatcher",
                display_name="Bench",
                role=Role.DISPATCHER,
                unit="Command Centre",
                password=secrets.token_urlsafe(16),
                city_wide=True,
            ),
            by="bench",
            now=now,
        )
        auth, _ = accounts.start_session(session, account, now=now, ttl_s=3600)
        token = platform.security.tokens.issue(
            account_id=account.id, session_id=auth.id, role=account.role, now=now
        )
    platform.engine.dispose()
    return token


def wait_for(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not answer {url} within {timeout_s} s")


class Publisher:
    """Background load plus timed probes, from one paho client."""

    def __init__(self, prefix: str, normal: list[str], stolen: list[str]) -> None:
        self.prefix = prefix
        self.normal = normal
        self.stolen = stolen
        self.sent_at: dict[str, float] = {}
        self.events = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
        self.client.connect(MQTT_HOST, MQTT_PORT)
        self.client.loop_start()
        self.rng = np.random.default_rng(7)
        self.seq = 0

    def _publish(self, station: int, subjects: list[str]) -> list[str]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        ids, lines = [], []
        for subject in subjects:
            self.seq += 1
            event_id = f"BS-{station:06d}-{self.seq}"
            ids.append(event_id)
            lines.append(json.dumps({"id": event_id, "kind": "rfid_read", "ts": now, "subject": subject}))
        self.client.publish(f"{self.prefix}/devices/BS-{station:06d}/events", "\n".join(lines), qos=1)
        self.events += len(subjects)
        return ids

    def run(self, duration_s: float, stop: threading.Event) -> None:
        start = time.monotonic()
        tick = 1 / (RATE / UPLOAD)
        next_probe = start + 2.0
        probe = 0
        n = 0
        while not stop.is_set() and time.monotonic() - start < duration_s:
            n += 1
            subjects = [self.normal[i] for i in self.rng.integers(0, len(self.normal), UPLOAD)]
            self._publish(int(self.rng.integers(0, STATIONS)), subjects)
            now = time.monotonic()
            if now >= next_probe and probe < len(self.stolen):
                t = time.perf_counter()
                [event_id] = self._publish(int(self.rng.integers(0, STATIONS)), [self.stolen[probe]])
                self.sent_at[event_id] = t
                probe += 1
                next_probe += PROBE_EVERY_S
            delay = start + n * tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.client.loop_stop()
        self.client.disconnect()


async def listen(url: str, token: str, arrivals: dict[str, float], stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(timeout=None, headers=headers) as client,
        client.stream("GET", url) as response,
    ):
        response.raise_for_status()
        event = ""
        async for line in response.aiter_lines():
            if stop.is_set():
                return
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "AlertRaised":
                notice = json.loads(line[5:])
                arrivals.setdefault(str(notice.get("corr_id")), time.perf_counter())


def main() -> None:
    # JSON lines own stdout; logs go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    rng = np.random.default_rng(3)
    tags = [f"{t:010X}" for t in rng.choice(1 << 40, TAGS, replace=False).tolist()]
    probes = int(DURATION_S / PROBE_EVERY_S)
    stolen, normal = tags[:probes], tags[probes:]
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="safecity-bench-latency-") as tmp:
        env = {
            **os.environ,
            "SAFECITY_DATA_DIR": tmp,
            "SAFECITY_PORT": str(port),
            "SAFECITY_MQTT_URL": f"mqtt://{MQTT_HOST}:{MQTT_PORT}",
            "SAFECITY_MQTT_TOPIC_PREFIX": prefix,
            "SAFECITY_MQTT_CLIENT_ID": f"{prefix}-ingest",
            "SAFECITY_LOG_LEVEL": "WARNING",
        }
        token = seed(Settings(data_dir=Path(tmp)), stolen)
        server = subprocess.Popen(
            [sys.executable, "-m", "safecity.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sys.stderr,
            start_new_session=True,
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz")
            arrivals: dict[str, float] = {}
            stop = threading.Event()
            publisher = Publisher(prefix, normal, stolen)

            async def run() -> None:
                listener = asyncio.create_task(
                    listen(f"http://127.0.0.1:{port}/api/v1/alerts/stream", token, arrivals, stop)
                )
                await asyncio.sleep(1.0)
                await asyncio.to_thread(publisher.run, DURATION_S, stop)
                await asyncio.sleep(2.0)  # let the last probes arrive
                stop.set()
                listener.cancel()

            asyncio.run(run())
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    latencies = [1000 * (arrivals[e] - t) for e, t in publisher.sent_at.items() if e in arrivals]
    missing = len(publisher.sent_at) - len(latencies)
    print(
        f"{publisher.events:,} events published in {DURATION_S} s; {len(latencies)} probes timed, "
        f"{missing} alerts missing",
        file=sys.stderr,
    )
    if missing:
        raise SystemExit(f"{missing} stolen-bike reads raised no alert")
    emit("p50_ms", float(np.percentile(latencies, 50)), None)
    emit("p99_ms", float(np.percentile(latencies, 99)), 250)


if __name__ == "__main__":
    main()
