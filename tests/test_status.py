"""The status line `safecity serve` and `demo` keep on the terminal, read from the platform's own counters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safecity.ingest import Part
from safecity.platform import Platform
from safecity.settings import Settings
from safecity.status import StatusMonitor
from tests.cli.helpers import STATION, STOLEN_TAG, seed_stolen_bike


class Timer:
    """A monotonic timer the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    """A platform with one base station and a bike reported stolen two hours ago."""
    built = Platform.build(Settings(data_dir=tmp_path))
    seed_stolen_bike(built, datetime.now(UTC))
    return built


def _reads(n: int, subject: str = STOLEN_TAG) -> Part:
    now = datetime.now(UTC)
    events = [
        {
            "id": f"r{i}-{subject}",
            "kind": "rfid_read",
            "ts": (now - timedelta(seconds=n - i)).isoformat(),
            "subject": subject,
        }
        for i in range(n)
    ]
    return Part(body="\n".join(json.dumps(e) for e in events).encode(), device_id=STATION, source="http")


def test_status_counts_events_open_alerts_and_the_last_alarm_from_the_platform(platform: Platform) -> None:
    timer = Timer()
    monitor = StatusMonitor(platform, timer=timer)
    quiet = monitor.sample()
    assert (quiet.events, quiet.open_alerts, quiet.last_alarm) == (0, 0, None)
    assert "0 open alerts" in quiet.line() and "no alarm yet" in quiet.line()

    results, records = platform.ingest.process([_reads(3), _reads(2, subject="00C0FFEE11")])
    assert [r.stored for r in results] == [3, 2]
    platform.alerts.apply_findings(platform.rules.evaluate(records))
    timer.now += 2.0
    status = monitor.sample()

    assert status.events == 5
    assert status.events_per_s == pytest.approx(2.5)
    assert status.open_alerts == 1
    assert status.last_alarm is not None and status.last_alarm.device == STATION
    line = status.line()
    assert "2.5 events/s" in line and "1 open alert " in line
    assert f"at {STATION} -> {status.last_alarm.station_id}" in line
    assert status.last_alarm.title in line

    # A closed alert is no longer open; the rate is over the time since the last sample.
    alert = platform.alerts.list_alerts()[0]
    platform.alerts.close(alert.id, by="officer-12", outcome="confirmed")
    timer.now += 1.0
    later = monitor.sample()
    assert (later.events, later.events_per_s, later.open_alerts) == (5, 0.0, 0)


def test_a_repeated_event_counts_as_handled_too(platform: Platform) -> None:
    monitor = StatusMonitor(platform, timer=Timer())
    platform.ingest.process([_reads(2)])
    platform.ingest.process([_reads(2)])  # the same ids again: duplicates, still events received
    assert monitor.sample().events == 4
