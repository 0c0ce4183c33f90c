"""The device directory as ingest needs it: a cached frame and lookup table, and secret checks."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.geo import cell_expr
from safecity.ingest.validate import DEVICE_FRAME_SCHEMA, DeviceTable

MIN_RELOAD_S = 2.0


@dataclass(frozen=True, slots=True)
class DeviceAuth:
    """Outcome of checking a device's credentials."""

    ok: bool
    reason: str = ""


class DeviceDirectory:
    """Registry devices, reloaded when told (registry notices) or at most every `ttl_s` seconds."""

    depends_on = frozenset({"devices"})  # the RegistryChanged groups it holds

    def __init__(self, session_factory: sessionmaker[Session], *, h3_resolution: int, ttl_s: float = 30.0):
        self._factory = session_factory
        self._res = h3_resolution
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._table = DeviceTable(pl.DataFrame(schema=DEVICE_FRAME_SCHEMA))
        self._secrets: dict[str, tuple[str | None, bool]] = {}

    def invalidate(self) -> None:
        """Forget the cache; the next use reloads it."""
        self._loaded_at = 0.0

    def _ensure(self) -> None:
        if time.monotonic() - self._loaded_at < self._ttl_s:
            return
        with self._lock:
            if time.monotonic() - self._loaded_at < self._ttl_s:
                return
            with self._factory() as session:
                raw = registry.device_directory(session)
            self._secrets = {
                d: (h, a) for d, h, a in raw.select("device", "secret_hash", "active").iter_rows()
            }
            self._table = DeviceTable(
                raw.with_columns(cell_expr("dev_lat", "dev_lon", self._res).alias("dev_cell")).select(
                    list(DEVICE_FRAME_SCHEMA)
                )
            )
            self._loaded_at = time.monotonic()

    @property
    def frame(self) -> pl.DataFrame:
        """device, dev_lat, dev_lon, dev_cell, area, active."""
        self._ensure()
        return self._table.frame

    @property
    def table(self) -> DeviceTable:
        """The same devices, looked up by id (what validation uses)."""
        self._ensure()
        return self._table

    def authenticate(self, device_id: str, secret: str) -> DeviceAuth:
        """Check a device id and secret against the registry."""
        self._ensure()
        entry = self._secrets.get(device_id)
        if entry is None and time.monotonic() - self._loaded_at >= MIN_RELOAD_S:
            # Perhaps registered a moment ago. At most one reload per MIN_RELOAD_S, so that a
            # stream of requests with made-up device ids cannot hammer the registry.
            self.invalidate()
            self._ensure()
            entry = self._secrets.get(device_id)
        if entry is None or not registry.is_secret_valid(secret, entry[0]):
            return DeviceAuth(False, "unknown device or wrong secret")
        if not entry[1]:
            return DeviceAuth(False, f"device {device_id} is disabled")
        return DeviceAuth(True)
