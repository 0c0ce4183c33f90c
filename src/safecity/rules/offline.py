"""`device_offline`: nothing (heartbeat or any other record) received from a device for N minutes.

Silence is measured on the platform's clock at arrival (`received_at`), not on the events' own
times: a station uploading a backlog of old readings is alive now.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from pydantic import Field

from safecity.core.finding import Evidence, Finding
from safecity.rules.base import ConfiguredRule, Facts
from safecity.rules.config import RuleConfig, RuleParams
from safecity.rules.kinds import RuleKind


class DeviceOfflineParams(RuleParams):
    """No heartbeat (or any record) from a device for too long."""

    minutes: float = Field(15, gt=0, le=7 * 24 * 60, description="Silence that makes a device offline.")
    device_kinds: list[str] = Field(
        default_factory=lambda: ["rfid_station"], min_length=1, description="Device kinds to watch."
    )


class DeviceOfflineRule(ConfiguredRule):
    """Tracks the last record time of each device; `tick` reports those silent too long, once."""

    kind = "device_offline"

    default_title = "Device silent"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: DeviceOfflineParams = config.typed_params()
        self._silence = timedelta(minutes=self.params.minutes)
        self._last_seen: dict[str, datetime] = {}
        self._last_event: dict[str, tuple[str, str]] = {}  # device -> (event id, corr id)
        self._reported: set[str] = set()
        self._started: datetime | None = None
        # Each batch's newest record per device, folded into the dicts only when `tick` looks:
        # a batch touches thousands of stations, and Python dicts per batch cost more than the
        # rest of the rules together (18 ms of 26 per 50k records at Wenzhou scale).
        self._pending: list[pl.DataFrame] = []

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Remember each device's newest record; a device heard again may be reported again later."""
        if self._started is None:
            self._started = now
        if batch.is_empty():
            return []
        # Arrival times only grow (the platform's clock), so a later row or batch always wins.
        self._pending.append(
            batch.select("device", "received_at", "event_id", "corr_id").unique(
                "device", keep="last", maintain_order=False
            )
        )
        if len(self._pending) >= 64:  # keep memory flat between ticks
            self._pending = [pl.concat(self._pending).unique("device", keep="last", maintain_order=True)]
        return []

    def _fold(self) -> None:
        """Move pending arrivals into the per-device state; a device heard again may be reported again."""
        if not self._pending:
            return
        latest = pl.concat(self._pending).unique("device", keep="last", maintain_order=True)
        self._pending = []
        devices = latest["device"].to_list()
        self._last_seen.update(zip(devices, latest["received_at"].to_list(), strict=True))
        self._last_event.update(
            zip(
                devices,
                zip(latest["event_id"].to_list(), latest["corr_id"].to_list(), strict=True),
                strict=True,
            )
        )
        self._reported.difference_update(devices)

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Report each watched device silent longer than the limit (counted from start if never heard)."""
        if self._started is None:
            self._started = now
        self._fold()
        watched = facts.devices().filter(
            pl.col("device_kind").is_in(self.params.device_kinds) & pl.col("active")
        )
        findings = []
        for device, area, lat, lon in watched.select("device", "area", "dev_lat", "dev_lon").iter_rows():
            last = self._last_seen.get(device)
            since = last or self._started
            if device in self._reported or now - since < self._silence:
                continue
            self._reported.add(device)
            event_id, corr_id = self._last_event.get(device, ("", ""))
            evidence = (
                Evidence(
                    event_id=event_id or f"none:{device}",
                    corr_id=corr_id or "",
                    kind="heartbeat",
                    subject=device,
                    device=device,
                    ts=since,
                    lat=lat,
                    lon=lon,
                    area=area,
                ),
            )
            findings.append(
                Finding(
                    rule=self.name,
                    rule_kind=self.kind,
                    severity=self.severity,
                    title=self.title,
                    subject_kind="device",
                    subject=device,
                    dedup_key=f"offline:{device}",
                    at=now,
                    evidence=evidence,
                    facts={
                        "device": device,
                        "last_seen": last.isoformat() if last else None,
                        "silent_minutes": round((now - since).total_seconds() / 60, 1),
                    },
                    params=self.params_dict,
                )
            )
        return findings


KIND = RuleKind("device_offline", DeviceOfflineParams, DeviceOfflineRule)
