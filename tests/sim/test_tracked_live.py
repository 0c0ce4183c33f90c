"""End to end: the platform's GT06 and JT/T 808 servers on free ports, a handful of simulated terminals
speaking the binary protocols over TCP for a short simulated span, and the planted warnings (a
wearer's exit, an SOS, a tanker off its route) raised as alerts by the real pipeline and rules.
The server is restarted midway: the terminals reconnect and carry on."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from pathlib import Path

from safecity.alerts.query import AlertFilter
from safecity.core.clock import AcceleratedClock
from safecity.driver.tracking import (
    GT06_UTC_OFFSET_MINUTES,
    perform,
    register_shipments,
    register_tankers,
    register_wanderers,
)
from safecity.platform import Platform
from safecity.settings import Settings
from safecity.sim import City, load_city
from safecity.sim.tankers import plan_tankers
from safecity.sim.tracknet import NetStats, pace, run_actions, run_terminals
from safecity.sim.wanderers import plan_wanderers

SPEEDUP = 240.0  # a simulated hour in 15 real seconds
WANTED = {"wearer_left_safe_zone", "wearer_sos", "hazmat_off_route"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_planted_warnings_arrive_as_alerts_over_tcp(tiny_city: City, tmp_path: Path) -> None:
    gt06_port, jt808_port = _free_port(), _free_port()
    settings = Settings(
        data_dir=tmp_path / "data",
        gt06_enabled=True,
        gt06_port=gt06_port,
        jt808_enabled=True,
        jt808_port=jt808_port,
    )
    clock = AcceleratedClock(datetime.now(UTC), SPEEDUP)
    platform = Platform.build(settings, clock=clock)
    load_city(tiny_city, platform.session_factory, pseudonymizer=platform.pseudonyms)
    start = clock.now().replace(microsecond=0)
    # Wanderer 0 leaves the zone, 1 goes missing, 2 presses SOS; tanker 0 leaves its route.
    wanderers = plan_wanderers(
        tiny_city, seed=5, start=start, hours=0.75, count=3, fix_every_min=1, episode_at_h=0.05
    )
    tankers = plan_tankers(tiny_city, seed=5, start=start, hours=0.75, count=1, depart_at_h=0.02)
    assert {e.rule_kind for e in wanderers.episodes + tankers.episodes} >= WANTED
    platform = Platform.build(settings, clock=clock)  # facts read the loaded city
    register_wanderers(platform, wanderers)
    sites = register_tankers(platform, tankers)
    shipments = register_shipments(platform, tankers, sites)
    await platform.start()
    stop = asyncio.Event()
    stats = NetStats()
    try:
        wait = pace(clock.now, SPEEDUP, stop)
        terminals = asyncio.create_task(
            run_terminals(
                wanderers.emissions + tankers.emissions,
                host="127.0.0.1",
                gt06_port=gt06_port,
                jt808_port=jt808_port,
                wait_until=wait,
                stop=stop,
                utc_offset_minutes=GT06_UTC_OFFSET_MINUTES,
                stats=stats,
            )
        )
        # Departures only: a delivery on the clock could overtake a terminal still catching up after
        # the restart, and a delivered shipment is no longer watched.
        departures = [a for a in tankers.actions if a.what == "depart"]
        actions = asyncio.create_task(
            run_actions(departures, lambda a: perform(platform, a, shipments), wait)
        )
        # A device server restart midway: every terminal loses its connection and must come back.
        await asyncio.sleep(3)
        server = next(w for w in platform._running if w.name == "gt06-server")
        await server.stop()
        await asyncio.sleep(0.5)
        await server.start()
        await asyncio.wait_for(asyncio.gather(terminals, actions), timeout=60)
        raised: set[str] = set()
        for _ in range(60):  # the rules evaluate micro-batches: give the last ones a moment
            raised = {a.rule_kind for a in platform.alerts.list_alerts(AlertFilter(limit=500))}
            if raised >= WANTED:
                break
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await platform.stop()
    assert raised >= WANTED, f"raised {sorted(raised)}"
    assert stats.acked >= len(wanderers.emissions) + len(tankers.emissions)
    assert stats.reconnects >= 1  # the restart was noticed, and survived
