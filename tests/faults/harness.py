"""A real `safecity serve` in a process of its own, devices that retry as real ones do, and the checks
every fault test ends with: `safecity reconcile` balanced and no event id stored twice."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from safecity import registry
from safecity.lake import Lake
from safecity.platform import Platform
from safecity.settings import Settings
from safecity.store import transaction

# Statuses a device meets while storage or the server is away, and answers by sending again.
RETRY_STATUSES = frozenset({502, 503, 504})


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def register_devices(data_dir: Path, count: int) -> dict[str, str]:
    """Register base stations before the server first starts; return their secrets by id."""
    platform = Platform.build(Settings(data_dir=data_dir))
    secrets: dict[str, str] = {}
    with transaction(platform.session_factory) as session:
        for n in range(count):
            device = f"BS-{n + 1:06d}"
            _, secrets[device] = registry.create_device(
                session,
                device_id=device,
                kind="rfid_station",
                name=device,
                lat=28.0,
                lon=120.7,
                area_id=None,
                now=datetime.now(UTC),
            )
    platform.lake.close()
    platform.engine.dispose()
    return secrets


@dataclass
class Server:
    """`python -m safecity.cli serve` on a free port, with its data folder and log kept apart."""

    data_dir: Path
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where the server answers."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The SAFECITY_* settings of this server (and of the commands run against its data)."""
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "SAFECITY_DATA_DIR": str(self.data_dir),
            "SAFECITY_PORT": str(self.port),
            "SAFECITY_LOG_LEVEL": "WARNING",
            "SAFECITY_COMPACT_INTERVAL_S": "2",  # compaction runs (and is interrupted) during the test
            **self.extra_env,
        }

    def start(self, timeout_s: float = 60) -> None:
        """Start the server and wait until it answers /healthz."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "safecity.cli", "serve"],
                env=self.env(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the server did not answer within {timeout_s} s:\n{self.log()}")

    def kill(self) -> None:
        """`kill -9` the server: no clean-up of any kind runs."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server as an operator would (SIGTERM), waiting for it to finish."""
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def log(self) -> str:
        """The end of the server's output, for failure messages."""
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def reconcile(self) -> dict[str, Any]:
        """Run `safecity reconcile` on the server's data; return its figures, failing unless balanced."""
        done = subprocess.run(
            [sys.executable, "-m", "safecity.cli", "reconcile"],
            env={**self.env(), "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0 and "OK: accepted = stored + dead-lettered" in done.stdout, (
            f"reconcile failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\nserver log:\n{self.log()}"
        )
        figures = {}
        for line in done.stdout.splitlines():
            cells = [c.strip() for c in line.strip("│┃ ").replace("┃", "│").split("│")]
            if len(cells) == 2 and cells[1].lstrip("-").isdigit():
                figures[cells[0]] = int(cells[1])
        return figures

    def stored_ids(self) -> pl.Series:
        """Every event id in the lake (of the last 8 days and the next one).

        The server may be compacting meanwhile: a file listed by the scan can be replaced by its
        compacted successor before it is read; the scan is then made again (the rows are in the new
        file), a few times at most.
        """
        for attempt in range(5):
            lake = Lake(self.data_dir / "lake")
            try:
                now = datetime.now(UTC)
                scan = lake.scan(start=now - timedelta(days=8), end=now + timedelta(days=1))
                return scan.select("event_id").collect()["event_id"]
            except FileNotFoundError:
                if attempt == 4:
                    raise
                time.sleep(0.2)
            finally:
                lake.close()
        raise AssertionError("unreachable")


def assert_each_stored_once(server: Server, sent: set[str]) -> None:
    """The lake holds exactly the events sent: none lost, none twice; and the ledger agrees."""
    stored = server.stored_ids()
    twice = stored.filter(stored.is_duplicated()).unique().to_list()
    assert twice == [], f"{len(twice)} event ids stored more than once, e.g. {twice[:5]}"
    missing = sent - set(stored.to_list())
    assert not missing, f"{len(missing)} events acknowledged but not stored, e.g. {sorted(missing)[:5]}"
    figures = server.reconcile()
    assert figures["stored_lake"] == len(stored), figures


def readings(
    device: str, run: str, first: int, count: int, *, at: datetime | None = None
) -> list[dict[str, Any]]:
    """A station's batch: tag reads, every fifth a heartbeat (two partitions per batch)."""
    at = at or datetime.now(UTC) - timedelta(seconds=5)
    return [
        {"id": f"{device}-{run}-{n}", "kind": "heartbeat", "ts": at.isoformat()}
        if n % 5 == 4
        else {"id": f"{device}-{run}-{n}", "kind": "rfid_read", "ts": at.isoformat(), "subject": f"{n:010X}"}
        for n in range(first, first + count)
    ]


def ndjson(events: Sequence[dict[str, Any]]) -> bytes:
    """A batch body."""
    return "\n".join(json.dumps(e) for e in events).encode()


@dataclass
class HttpDevices:
    """Stations uploading batches over HTTP, each retrying a batch until it is acknowledged, as a
    device with a local buffer does; unexpected answers are kept for the test to report."""

    server: Server
    secrets: dict[str, str]
    batches: int
    events: int = 100
    run: str = "r1"
    acknowledged: int = 0
    refused_503: int = 0
    unexpected: list[str] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, deadline_s: float = 90) -> list[threading.Thread]:
        """One thread per station; join them to wait for every batch to be acknowledged."""
        deadline = time.monotonic() + deadline_s
        threads = [
            threading.Thread(target=self._upload, args=(device, secret, deadline), daemon=True)
            for device, secret in self.secrets.items()
        ]
        for thread in threads:
            thread.start()
        return threads

    def wait_for(self, acknowledged: int, timeout_s: float = 60) -> None:
        """Block until so many batches were acknowledged."""
        deadline = time.monotonic() + timeout_s
        while self.acknowledged < acknowledged:
            assert time.monotonic() < deadline, f"only {self.acknowledged} batches acknowledged"
            time.sleep(0.02)

    def wait_for_refusals(self, more: int, timeout_s: float = 30) -> None:
        """Block until so many more batches were answered 503."""
        target, deadline = self.refused_503 + more, time.monotonic() + timeout_s
        while self.refused_503 < target:
            assert time.monotonic() < deadline, f"only {self.refused_503} batches refused with 503"
            time.sleep(0.02)

    def _upload(self, device: str, secret: str, deadline: float) -> None:
        with httpx.Client(timeout=15) as client:
            for b in range(self.batches):
                events = readings(device, self.run, b * self.events, self.events)
                with self._lock:
                    self.sent.update(e["id"] for e in events)
                self._until_acknowledged(client, device, secret, ndjson(events), deadline)

    def _until_acknowledged(
        self, client: httpx.Client, device: str, secret: str, body: bytes, deadline: float
    ) -> None:
        while time.monotonic() < deadline:
            try:
                answer = client.post(
                    f"{self.server.url}/api/v1/ingest",
                    content=body,
                    auth=(device, secret),
                    headers={"Content-Type": "application/x-ndjson"},
                )
            except httpx.HTTPError:
                time.sleep(0.1)  # the server is down: try again, as a device would
                continue
            if answer.status_code == 200:
                with self._lock:
                    self.acknowledged += 1
                return
            with self._lock:
                if answer.status_code == 503:
                    self.refused_503 += 1
                elif answer.status_code not in RETRY_STATUSES:
                    self.unexpected.append(f"{answer.status_code}: {answer.text[:300]}")
                    return
            time.sleep(0.1)
        with self._lock:
            self.unexpected.append(f"{device}: a batch was still not acknowledged at the deadline")
