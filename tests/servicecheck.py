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


def require_spark() -> None:
    """Return if PySpark and a Java runtime are installed; otherwise skip (or fail when CI=true)."""
    import importlib.util
    import shutil

    missing = [
        what
        for what, present in (
            ("pyspark (pip install -e '.[spark]')", importlib.util.find_spec("pyspark") is not None),
            ("java 17+ (apt-get install openjdk-17-jre-headless)", shutil.which("java") is not None),
        )
        if not present
    ]
    if not missing:
        return
    reason = "Spark needs " + " and ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires it (make install adds pyspark)", pytrace=False)
    pytest.skip(reason)
