"""Skip an integration test when its service is down, or fail it when CI promised the service."""

from __future__ import annotations

import os
import socket

import pytest

# How .ci/run starts each service, so that a CI failure says what to do about it.
_START_HINTS = (
    (("postgres",), "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    (("mosquitto", "mqtt"), "mosquitto -d -c /etc/mosquitto/mosquitto.conf"),
    (
        ("nats",),
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
        "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log",
    ),
)


def require_service(host: str, port: int, name: str) -> None:
    """Return if host:port accepts a TCP connection within 1 s; otherwise skip (or fail when CI=true)."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        reason = f"{name} is not reachable at {host}:{port} ({exc})"
    if os.environ.get("CI") == "true":
        hint = next((cmd for keys, cmd in _START_HINTS if any(k in name.lower() for k in keys)), ".ci/run")
        pytest.fail(f"{reason}; CI=true requires it. Start it with: {hint}", pytrace=False)
    pytest.skip(reason)
