"""Feed a platform in process with the simulated city: station uploads coalesced into micro-batches as
the MQTT adapter coalesces messages, stolen bikes reported, texts delivered, the doors live."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from safecity import registry
from safecity.core.filemode import make_private_dirs, private_file
from safecity.driver.checkpointdemo import run_checkpoints
from safecity.driver.dispatchdemo import run_crews
from safecity.driver.trackdemo import DemoTracking, run_tracking
from safecity.ingest import Part
from safecity.places import Doors, Visitors
from safecity.places import bulk as places_bulk
from safecity.platform import Platform
from safecity.registry import Conflict
from safecity.sim import City, ReportStolen, SimBatch, Simulation
from safecity.sim.doorsim import DemoDoors
from safecity.sim.housing import TABLES as HOUSING_TABLES
from safecity.sim.housing import ensure_housing
from safecity.store import transaction

log = structlog.get_logger(__name__)


DUTY_OFFICER = "duty-officer"
HORIZON = timedelta(hours=6)  # thefts are planned this far ahead; a new plan follows
# The first plan is short, so that its thefts (planted in its first 40 %) are reported early;
# starting it in the past replays a backlog at once: most of its thefts have been reported and
# their bikes read again by now, so the demo's first alarms show within seconds of starting.
FIRST_HORIZON = timedelta(minutes=90)
WARM_UP = timedelta(minutes=45)


def report_stolen(platform: Platform, action: ReportStolen) -> int | None:
    """List a bike the simulation had stolen, as the duty officer taking the owner's report."""
    try:
        with transaction(platform.session_factory) as session:
            entry = registry.report_stolen(
                session,
                bike_id=action.bike_id,
                reported_by=action.reported_by,
                basis=action.basis,
                owner=DUTY_OFFICER,
                owner_station_id=action.station_id,
                now=action.at,
            )
            return entry.id
    except Conflict:
        return None  # listed already (a re-run over the same simulated period)


class Coalescer:
    """Collects station uploads for up to `linger_s` and submits them as one micro-batch."""

    def __init__(
        self, submit: Callable[[list[Part]], Awaitable[Any]], *, linger_s: float = 0.1, max_parts: int = 2_000
    ) -> None:
        self._submit = submit
        self._linger_s = linger_s
        self._max_parts = max_parts
        self._parts: list[Part] = []
        self._flusher: asyncio.Task[None] | None = None

    async def add(self, part: Part) -> None:
        """Queue one upload; flush when full or after the linger time."""
        self._parts.append(part)
        if len(self._parts) >= self._max_parts:
            await self.flush()
        elif self._flusher is None:
            self._flusher = asyncio.create_task(self._later())

    async def _later(self) -> None:
        await asyncio.sleep(self._linger_s)
        self._flusher = None
        await self.flush()

    async def flush(self) -> None:
        """Submit what is queued."""
        parts, self._parts = self._parts, []
        if parts:
            await self._submit(parts)


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(e, separators=(",", ":")) for e in events).encode()


DEMO_GATEWAY = "SMS-GW-DEMO"


def sms_file(platform: Platform) -> Path:
    """Where the demo's stand-in for an SMS gateway writes the text messages sent to people."""
    return platform.settings.data_dir / "log" / "sms.log"


async def deliver_texts(platform: Platform, stop: asyncio.Event, *, every_s: float = 2.0) -> None:
    """The demo's SMS gateway: fetch the messages to people over the gateway use case, write them down.

    A demo has no SMS provider, so codes sent to an owner's phone (a bike registered to them, an
    account asking to be linked) land in `sms_file`, where whoever plays the owner reads them.
    """
    now = platform.clock.now()
    with transaction(platform.session_factory) as session:
        try:
            _, secret = registry.create_device(
                session,
                device_id=DEMO_GATEWAY,
                kind="sms_gateway",
                name="Demo SMS gateway",
                lat=None,
                lon=None,
                area_id=None,
                now=now,
            )
        except Conflict:
            secret = registry.rotate_device_secret(session, device_id=DEMO_GATEWAY)
    path = sms_file(platform)
    make_private_dirs(path.parent)
    private_file(path)  # phone numbers and codes: the owner's alone, whatever the umask
    while not stop.is_set():
        sent = await asyncio.to_thread(platform.registry.sms.fetch, DEMO_GATEWAY, secret)
        if sent:
            with path.open("a", encoding="utf-8") as out:
                for message in sent:
                    out.write(
                        f"{datetime.now(UTC).isoformat(timespec='seconds')} to {message.to}: {message.body}\n"
                    )
        for message in sent:
            await asyncio.to_thread(
                platform.registry.sms.report, DEMO_GATEWAY, secret, message.id, sent=True, error=None
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)


def demo_doors(platform: Platform, city: City, *, seed: int) -> DemoDoors:
    """A simulated controller at every door of the city's housing, wired to this platform."""
    housing = ensure_housing(city, seed=seed)
    tables = {name: housing.table(name) for name in HOUSING_TABLES}
    # The demo's community accounts work in the busiest community: its incidents are planted there.
    with platform.session_factory() as session:
        community = places_bulk.busiest_community(session)
    focus = tables["compounds"].filter(pl.col("community_id") == community)["id"].to_list()
    return DemoDoors(
        tables=tables,
        doors=platform.service(Doors),
        visitors=platform.service(Visitors),
        sessions=platform.session_factory,
        submit=platform.ingest.submit_parts,
        now=platform.clock.now,
        seed=seed,
        focus=focus,
    )


async def run_in_process(
    platform: Platform,
    *,
    city: City,
    speedup: float,
    thefts_per_hour: float,
    seed: int,
    stop: asyncio.Event | None = None,
    doors: DemoDoors | None = None,
    tracking: DemoTracking | None = None,
) -> None:
    """Simulate the city live against this platform, plan after plan, until stopped.

    The bikes and, beside them, the doors of the city's housing (`doors`, by default one
    controller at every door: sim/doorsim.py), the crews of the police units nobody has signed
    on to (driver/dispatchdemo.py), and the elderly wearers' and tankers' terminals over TCP when
    `tracking` was prepared (driver/trackdemo.py). A burglary series for the workbench is planted
    first, once (driver/casedemo.py).
    """
    stop = stop or asyncio.Event()
    from safecity.driver.casedemo import plant_burglary_series  # it uses this module's ndjson

    series = await plant_burglary_series(platform, seed=seed)
    if series is not None:
        log.info("demo.burglary_series", incidents=series.incidents)
    coalescer = Coalescer(platform.ingest.submit_parts)
    texts = asyncio.create_task(deliver_texts(platform, stop), name="demo-sms")
    if doors is None:
        doors = await asyncio.to_thread(demo_doors, platform, city, seed=seed)
    door_life = asyncio.create_task(
        doors.live(platform.hub, stop, start=platform.clock.now() - WARM_UP), name="demo-doors"
    )
    door_life.add_done_callback(_log_failure)
    crews = asyncio.create_task(run_crews(platform, stop), name="demo-crews")
    crews.add_done_callback(_log_failure)
    tasks = [texts, door_life, crews]
    # The checkpoint and face cameras with their planted hits (driver/checkpointdemo.py).
    tasks.append(
        asyncio.create_task(
            run_checkpoints(platform, city, stop, seed=seed, speedup=speedup), name="demo-checkpoints"
        )
    )
    if tracking is not None:
        tasks.append(
            asyncio.create_task(run_tracking(tracking, platform, stop, speedup=speedup), name="demo-tracking")
        )

    async def send(batch: SimBatch) -> None:
        for action in batch.actions:
            if await asyncio.to_thread(report_stolen, platform, action) is not None:
                log.info("sim.bike_reported_stolen", bike_id=action.bike_id, tag=action.tag)
        if batch.device_id is not None and batch.events:
            await coalescer.add(Part(body=ndjson(batch.events), device_id=batch.device_id, source="sim"))

    plan = 0
    # Start a little in the past: the backlog is replayed at once, so the first planted thefts
    # are reported (and their alarms raised) within the first minute of the demo.
    start = platform.clock.now() - WARM_UP
    try:
        while not stop.is_set():
            horizon = FIRST_HORIZON if plan == 0 else HORIZON
            thefts = max(3, round(thefts_per_hour * horizon.total_seconds() / 3600))
            sim = await asyncio.to_thread(
                Simulation,
                city,
                seed=seed + plan,
                start=start,
                speedup=speedup,
                thefts=thefts,
                horizon=horizon,
            )
            log.info("sim.plan", plan=plan, start=start.isoformat(), thefts=thefts)
            # Paced from the platform's own time: what lies before it (the warm-up) is sent at once.
            await sim.run_live(send, stop_event=stop, end=start + horizon, pace_from=platform.clock.now())
            await coalescer.flush()
            start, plan = start + horizon, plan + 1
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _log_failure(task: asyncio.Task[None]) -> None:
    """A demo task that ended by an error says so (nobody awaits it until the demo stops)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("demo.task_failed", task=task.get_name(), error=repr(task.exception()))
