"""The demo's live simulation through the real platform: its first alarms show within seconds.

`make demo` promises live alarms on the map within a minute of the command, install included;
the simulation starts 45 simulated minutes in the past and sends that backlog at once, so the
first plan's planted thefts are reported and their bikes read again before the console opens.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from safecity.alerts.models import Alert
from safecity.core.clock import AcceleratedClock
from safecity.driver import ensure_loaded, run_in_process
from safecity.platform import Platform
from safecity.settings import Settings

SPEEDUP = 30.0  # as `safecity demo`


def _alerts(platform: Platform, rule: str) -> int:
    with platform.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Alert).where(Alert.rule == rule)) or 0)


@pytest.mark.slow
async def test_the_demo_raises_stolen_bike_alarms_within_seconds_of_starting(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    clock = AcceleratedClock(datetime.now(UTC), SPEEDUP)
    platform = Platform.build(settings, clock=clock)
    city = ensure_loaded(platform, seed=7, scale="tiny")
    platform = Platform.build(settings, clock=clock)  # with the city's bounds
    await platform.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    began = loop.time()
    simulation = asyncio.create_task(
        run_in_process(platform, city=city, speedup=SPEEDUP, thefts_per_hour=6.0, seed=7, stop=stop)
    )
    try:
        while _alerts(platform, "stolen-bike") == 0 and loop.time() - began < 30:
            assert not simulation.done(), simulation
            await asyncio.sleep(0.2)
        first_alarm_s = loop.time() - began
    finally:
        stop.set()
        await asyncio.wait_for(simulation, timeout=30)
        await platform.stop()
    assert _alerts(platform, "stolen-bike") >= 1
    assert first_alarm_s < 10, f"the first stolen-bike alarm took {first_alarm_s:.1f} s"
