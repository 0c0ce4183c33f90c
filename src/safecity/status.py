"""The platform at a glance: events per second, open alerts and the last alarm.

`safecity serve` and `safecity demo` keep one status line on the terminal instead of a log
line per finding. Every figure comes from the running platform itself: the events handled
are the ingest counter that `/metrics` exports (`safecity_ingest_events_total`, every
outcome: stored, dead-lettered, duplicate), the open alerts and the last alarm are read from
the alert service.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry

from safecity.alerts import AlertFilter
from safecity.platform import Platform

INGESTED = "safecity_ingest_events"  # the counter family (prometheus_client drops the _total suffix)
TITLE_CHARS = 48  # a status line must fit a terminal: long titles are cut


def events_handled(metrics: CollectorRegistry = REGISTRY) -> int:
    """Events the ingest pipeline has handled in this process, every source and outcome."""
    total = 0.0
    for family in metrics.collect():
        if family.name == INGESTED:
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return int(total)


@dataclass(frozen=True, slots=True)
class LastAlarm:
    """The alert seen most recently: what, by which device, routed to which station, when."""

    title: str
    device: str | None  # the device of its first evidence
    station_id: str  # where it was routed
    seen_at: datetime  # on the platform's clock


@dataclass(frozen=True, slots=True)
class Status:
    """One sample of the platform's state."""

    at: datetime  # the platform's clock (the simulated city's in the demo)
    events: int  # handled since the monitor started
    events_per_s: float  # since the previous sample
    open_alerts: int
    last_alarm: LastAlarm | None

    def line(self) -> str:
        """The status as one plain line: time, event rate and total, open alerts, last alarm."""
        plural = "" if self.open_alerts == 1 else "s"
        parts = [
            f"{self.at:%H:%M:%S} UTC",
            f"{self.events_per_s:,.1f} events/s",
            f"{self.events:,} events",
            f"{self.open_alerts:,} open alert{plural}",
        ]
        alarm = self.last_alarm
        if alarm is None:
            parts.append("no alarm yet")
        else:
            title = alarm.title if len(alarm.title) <= TITLE_CHARS else alarm.title[: TITLE_CHARS - 1] + "…"
            where = f" at {alarm.device}" if alarm.device else ""
            parts.append(f"last alarm {alarm.seen_at:%H:%M:%S} {title}{where} -> {alarm.station_id}")
        return " | ".join(parts)


class StatusMonitor:
    """Samples a platform's counters; the event rate is over the time between two samples."""

    def __init__(self, platform: Platform, *, timer: Callable[[], float] = time.monotonic) -> None:
        self._platform = platform
        self._timer = timer
        self._start_events = events_handled()
        self._last = (timer(), self._start_events)

    def sample(self) -> Status:
        """The platform's state now (two small queries: the open-alert count and the newest alert)."""
        now, handled = self._timer(), events_handled()
        then, before = self._last
        self._last = (now, handled)
        elapsed = now - then
        newest = self._platform.alerts.list_alerts(AlertFilter(limit=1))
        last = None
        if newest:
            alert = newest[0]
            last = LastAlarm(alert.title, alert.first_device, alert.station_id, alert.last_seen_at)
        return Status(
            at=self._platform.clock.now(),
            events=handled - self._start_events,
            events_per_s=(handled - before) / elapsed if elapsed > 0 else 0.0,
            open_alerts=self._platform.alerts.count_open(),
            last_alarm=last,
        )


__all__ = ["LastAlarm", "Status", "StatusMonitor", "events_handled"]
