"""The demo's elderly wearers and tankers, live over the binary protocols (`make demo`).

`prepare_tracking` registers, once per data folder, `WANDERERS` wearers (consent, guardian, safe
zone, a GT06 tracker each) and `TANKERS` tankers (depots, sites, restricted zones, a JT/T 808
tracker each) through the use cases (driver.tracking). `DemoTracking.live` then runs plan after
plan of `HORIZON` simulated hours: each plan's shipments are planned and loaded, every terminal
connects to the platform's own device servers on localhost and sends its reports at the demo's
clock speed (sim.tracknet), the shipments depart and are delivered at their times. One of each
planted episode per plan (sim.wanderers, sim.tankers), so every warning kind shows within the
first plan; wanderer 0 (`DEMO_TRACKER`), whose guardian is the demo's `guardian` account, walks
out of their zone in every plan.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from safecity.driver.tracking import (
    GT06_UTC_OFFSET_MINUTES,
    perform,
    register_shipments,
    register_tankers,
    register_wanderers,
)
from safecity.ingest.settings import IngestSettings
from safecity.platform import Platform
from safecity.sim.city import City
from safecity.sim.tankers import Action, TankerPlan, plan_tankers
from safecity.sim.tracknet import NetStats, pace, run_actions, run_terminals
from safecity.sim.wanderers import WandererPlan, plan_wanderers

log = structlog.get_logger(__name__)

WANDERERS, TANKERS = 200, 20
HORIZON_H = 12.0
DEMO_TRACKER = "TRK-W-0000"  # the wearer the demo's guardian account looks after


@dataclass(slots=True)
class DemoTracking:
    """The demo's wearers and tankers, registered, and their terminals' runs."""

    city: City
    seed: int
    wearers: dict[int, int]
    sites: dict[int, tuple[int, int]]
    stats: NetStats = field(default_factory=NetStats)

    async def live(self, platform: Platform, stop: asyncio.Event, *, speedup: float) -> None:
        """Plan after plan until stopped: shipments registered, terminals and actions run."""
        ports = platform.settings.section(IngestSettings)
        if not (ports.gt06_enabled and ports.jt808_enabled):
            log.warning("sim.tracking_off", reason="the GT06 and JT/T 808 servers are not both enabled")
            return
        wait = pace(platform.clock.now, speedup, stop)
        salt = 0
        while not stop.is_set():
            start = platform.clock.now().replace(microsecond=0)
            wanderers, tankers = await asyncio.to_thread(self._plans, start, salt)
            shipments = await asyncio.to_thread(register_shipments, platform, tankers, self.sites)
            log.info(
                "sim.tracking_plan",
                plan=salt,
                start=start.isoformat(),
                wearers=len(self.wearers),
                shipments=len(shipments),
                episodes=len(wanderers.episodes) + len(tankers.episodes),
            )
            mine = {w.imei for w in wanderers.wanderers if w.n in self.wearers}
            mine |= {t.phone for t in tankers.tankers if t.n in shipments}
            reports = [e for e in wanderers.emissions + tankers.emissions if e.terminal in mine]
            terminals = run_terminals(
                reports,
                host=ports.tracker_host,
                gt06_port=ports.gt06_port,
                jt808_port=ports.jt808_port,
                wait_until=wait,
                stop=stop,
                utc_offset_minutes=GT06_UTC_OFFSET_MINUTES,
                stats=self.stats,
            )

            def act(action: Action, ids: dict[int, int] = shipments) -> None:
                perform(platform, action, ids)

            actions = run_actions(tankers.actions, act, wait)
            await asyncio.gather(terminals, actions)
            # The next plan begins where this one ends (its last reports were sent at its end).
            if not await wait(start + timedelta(hours=HORIZON_H)):
                return
            salt += 1

    def _plans(self, start: datetime, salt: int) -> tuple[WandererPlan, TankerPlan]:
        w = plan_wanderers(
            self.city, seed=self.seed, start=start, hours=HORIZON_H, count=WANDERERS, salt=salt
        )
        t = plan_tankers(self.city, seed=self.seed, start=start, hours=HORIZON_H, count=TANKERS, salt=salt)
        return w, t


def prepare_tracking(platform: Platform, city: City, *, seed: int) -> DemoTracking:
    """Register the demo's wearers and tankers (what exists already is reused)."""
    now = platform.clock.now()
    wanderers = plan_wanderers(city, seed=seed, start=now, hours=0.1, count=WANDERERS)
    tankers = plan_tankers(city, seed=seed, start=now, hours=0.1, count=TANKERS)
    wearers = register_wanderers(platform, wanderers)
    sites = register_tankers(platform, tankers)
    return DemoTracking(city, seed, wearers, sites)


async def run_tracking(
    tracking: DemoTracking, platform: Platform, stop: asyncio.Event, *, speedup: float
) -> None:
    """`tracking.live`, logging (not raising) a failure, so the rest of the demo carries on."""
    try:
        await tracking.live(platform, stop, speedup=speedup)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("sim.tracking_failed")
    with contextlib.suppress(Exception):
        log.info("sim.tracking_stopped", acked=tracking.stats.acked, reconnects=tracking.stats.reconnects)


__all__ = [
    "DEMO_TRACKER",
    "HORIZON_H",
    "TANKERS",
    "WANDERERS",
    "DemoTracking",
    "prepare_tracking",
    "run_tracking",
]
