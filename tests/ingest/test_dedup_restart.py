"""Ids are remembered for as long as their events are accepted, across restarts (issue 9, item 10)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from safecity.core.clock import ManualClock
from safecity.ingest import Part
from safecity.ingest.reconcile import reconcile
from safecity.platform import Platform
from safecity.settings import Settings
from tests.conftest import T0
from tests.ingest.conftest import ndjson, read, register_station


def started(data_dir: Path, clock: ManualClock) -> Platform:
    """A platform as `safecity serve` leaves it ready: crash leftovers settled, ids reloaded."""
    platform = Platform.build(Settings(data_dir=data_dir), clock=clock)
    platform.recover_ingest()
    platform.warm_dedup()
    return platform


def stop(platform: Platform) -> None:
    platform.lake.close()
    platform.engine.dispose()


@pytest.fixture
def first(tmp_path: Path) -> Iterator[Platform]:
    platform = started(tmp_path, ManualClock(T0))
    register_station(platform.session_factory)
    platform.devices.invalidate()
    yield platform
    stop(platform)


def send(platform: Platform, body: bytes):
    [result], _ = platform.ingest.process([Part(body=body, device_id="BS-000001", source="http")])
    return result


@pytest.mark.parametrize("age", [timedelta(hours=2), timedelta(days=2), timedelta(days=6, hours=23)])
def test_events_resent_after_a_restart_are_duplicates_whatever_their_age(
    first: Platform, tmp_path: Path, age: timedelta
) -> None:
    body = ndjson([read(i, ts=(T0 - age + timedelta(seconds=i)).isoformat()) for i in range(20)])
    assert send(first, body).stored == 20
    stop(first)

    again = started(tmp_path, ManualClock(T0 + timedelta(minutes=5)))
    result = send(again, body)

    assert (result.stored, result.duplicates) == (0, 20)
    assert again.lake.count() == 20
    assert reconcile(again.session_factory, again.lake).ok
    stop(again)


def test_ids_are_remembered_as_long_as_their_events_are_accepted_in_one_process(first: Platform) -> None:
    old = T0 - timedelta(days=1)
    body = ndjson([read(i, ts=(old + timedelta(seconds=i)).isoformat()) for i in range(5)])
    assert send(first, body).stored == 5
    clock = first.clock
    assert isinstance(clock, ManualClock)
    for day in range(1, 6):  # a week of ordinary traffic goes by
        clock.set(T0 + timedelta(days=day))
        now = ndjson(
            [read(1000 * day + i, ts=(clock.now() - timedelta(minutes=1)).isoformat()) for i in range(3)]
        )
        assert send(first, now).stored == 3
    clock.set(T0 + timedelta(days=5, hours=23))  # the first events are 6 days 23 h old now

    assert send(first, body).duplicates == 5
    assert first.lake.count() == 5 + 5 * 3
