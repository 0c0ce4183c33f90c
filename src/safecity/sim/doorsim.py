"""The demo's doors live: a simulated controller at every door, kept in step, swiping on the city's clock.

Each door of the loaded housing gets a `DoorController` (sim/door_controller.py) holding its own
whitelist, read through the same use case the HTTP whitelist route answers from
(`Doors.whitelist`, a delta onto the version held or the full list). The lists are brought in
step every `refresh_s` seconds and at once when `AccessChanged` is heard, so a tenant a landlord
registers is on their doors within seconds (the whitelist worker rebuilds the lists; we read them).

Swipes come from sim/doorlife.py a day at a time (routines and planted incidents), released on
the platform's clock like the bike simulation; every swipe is decided by the controller from
its own list, and its report goes through ingest as the controller's device (source "sim").
Each controller sends a heartbeat every few simulated minutes, so the packaged
`door-controller-offline` rule hears every door. The planted visitor passes and watch-list
entries are registered through the use cases before the swipes. Tenants registered one by one
(not in the generated tables) come home once soon after registration, and every evening after.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec
import numpy as np
import polars as pl
import structlog
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.context import system_context
from safecity.ingest import Part
from safecity.places import AccessChanged, Doors, PlacesError, Visitors
from safecity.places import bulk as places_bulk
from safecity.places.schemas import VisitorPassIn
from safecity.sim.door_controller import DoorController
from safecity.sim.doorlife import DoorLife, door_life
from safecity.store import transaction

log = structlog.get_logger(__name__)

PLAN = timedelta(days=1)  # a day of door life per plan (its routines follow the local day)
HEARTBEAT = timedelta(minutes=5)  # the offline rule waits 15 minutes: three missed beats
SOURCE = "sim"
WATCHER = "duty-officer"
# In the first plan one planted incident of each of these kinds is moved to just after the start
# of the live run, its swipes EARLY_STEP apart, so that its warning shows within seconds of the
# demo starting (their rules do not care for the hour). Not into the backlog: the burst rules
# keep a window back from the newest swipe of a batch, and a backlog is one batch of 45 minutes.
EARLY = {"housing_unknown_card": timedelta(seconds=20), "housing_denied_attempts": timedelta(seconds=30)}
EARLY_STEP = timedelta(seconds=20)
# A watch-listed tenant comes home this soon after being listed (a swipe from before the
# listing is no alarm: the hotlist rule judges each record by the entry's own start).
WANTED_EARLY = timedelta(seconds=40)
HOME_AFTER = timedelta(minutes=1)  # a newly registered tenant tries their card this soon
GATE_BEFORE = timedelta(minutes=1)  # through the compound's gate a minute before the building door


class Submit(Protocol):
    """Ingest's `submit_parts`: store parts, one result each."""

    def __call__(self, parts: Sequence[Part]) -> Awaitable[list[Any]]: ...


class Hub(Protocol):
    """What the doors follow on the platform's event hub."""

    def on(self, kind: type[AccessChanged], handler: Callable[[AccessChanged], None]) -> None: ...


@dataclass
class _Timeline:
    """What is still to happen in a plan: swipes (epoch ms, device, card) in time order."""

    ts_ms: np.ndarray
    devices: list[str]
    cards: list[str]
    next: int = 0

    def due(self, now_ms: int) -> list[tuple[int, str, str]]:
        """The swipes due by now, taken off the timeline."""
        end = int(np.searchsorted(self.ts_ms, now_ms, side="right"))
        out = [(int(self.ts_ms[i]), self.devices[i], self.cards[i]) for i in range(self.next, end)]
        self.next = max(self.next, end)
        return out


@dataclass
class DoorStats:
    """What the demo's doors did (for the log and for tests)."""

    swipes: int = 0
    granted: int = 0
    heartbeats: int = 0
    refreshed: int = 0
    homecomings: int = 0
    refused_parts: int = 0


class DemoDoors:
    """Every door's simulated controller, its list kept current, its swipes and heartbeats sent."""

    def __init__(
        self,
        *,
        tables: dict[str, pl.DataFrame],
        doors: Doors,
        visitors: Visitors,
        sessions: sessionmaker[Session],
        submit: Submit,
        now: Callable[[], datetime],
        seed: int,
        plants: int = 1,
        focus: Collection[str] = (),
        refresh_s: float = 1.0,
        tick_s: float = 0.25,
    ) -> None:
        self.tables, self._doors, self._visitors = tables, doors, visitors
        self._sessions, self._submit, self._now = sessions, submit, now
        self._seed, self._plants, self.focus = seed, plants, tuple(focus)
        self._refresh_s, self._tick_s = refresh_s, tick_s
        ids = tables["doors"]["device_id"].to_list()
        self.controllers = {door: DoorController(door) for door in ids}
        self._lock = threading.Lock()  # the refresher's thread and the event loop share the controllers
        self._refreshing, self._built, self._in_step = threading.Lock(), False, False
        self._entrances = _entrances(tables)
        # Heartbeats spread over the period, so that they do not all arrive in one batch.
        phases = np.random.default_rng(seed).integers(0, _ms(HEARTBEAT), len(ids))
        self._beat_ids, self._beat_next = ids, phases.astype(np.int64)
        self._last_tenancy = 0
        self._homecomings: list[tuple[int, str, str]] = []  # (ms, device, card) of new tenants
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = DoorStats()

    # --- lists ------------------------------------------------------------------------------

    def refresh(self) -> int:
        """Bring every controller in step with its door's list (a delta, else the full list); how many."""
        # One refresh at a time: two reading lists apart could apply an older full list last.
        with self._refreshing:
            heads = self._doors.versions(everything=True)
            if len(heads) < len(self.controllers) and not self._built:
                # Doors with no list yet (the whitelist worker not there, or not yet): make them.
                self._doors.rebuild(everything=True)
                heads = self._doors.versions(everything=True)
            self._built = True
            moved = sum(self._take(door, version) for door, version in heads.items())
            self._in_step = all(
                self.controllers[d].version == v for d, v in heads.items() if d in self.controllers
            )
        self.stats.refreshed += moved
        return moved

    def _take(self, door: str, version: int) -> bool:
        """Bring one controller to `version`; whether it moved."""
        controller = self.controllers.get(door)
        if controller is None or (version == controller.version and not controller.wants_full):
            return False
        since = None if controller.wants_full else controller.version
        step = self._doors.whitelist(door, since=since)
        with self._lock:
            controller.take(step, current=True)
            if controller.wants_full:  # a gap or a mismatch: the whole list, then
                controller.take(self._doors.whitelist(door), current=True)
        return True

    @property
    def is_in_step(self) -> bool:
        """Whether the last refresh left every door that has a list holding its newest version."""
        return self._in_step

    def _heard(self, _event: AccessChanged) -> None:
        """From any thread: someone's access changed, look again now rather than at the next poll."""
        wake, loop = self._wake, self._loop
        if wake is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def follow(self, hub: Hub, stop: asyncio.Event) -> None:
        """Keep the lists current until stopped: every `refresh_s`, and when access changes."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        hub.on(AccessChanged, self._heard)
        while not stop.is_set():
            self._wake.clear()
            try:
                await asyncio.to_thread(self.catch_up)
            except Exception:
                log.exception("doors.refresh_failed")  # tried again at the next poll
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._refresh_s)
            if self._wake.is_set():
                # The worker rebuilds the place's lists as it hears the same event: let it first.
                await asyncio.sleep(min(0.2, self._refresh_s))

    def catch_up(self) -> None:
        """Bring the lists in step; tenants registered since we last looked come home shortly after."""
        with self._sessions() as session:
            found = places_bulk.registered_tenants(session, after=self._last_tenancy)
        if not found.is_empty():
            # Their doors' lists first (idempotent: the whitelist worker may have made them already),
            # so that the homecoming below never meets a door that has not heard of them yet.
            self._doors.rebuild(compound_ids=found["compound_id"].unique().to_list())
        self.refresh()
        if found.is_empty():
            return
        self._last_tenancy = int(found["tenancy_id"].max())  # type: ignore[arg-type]
        at = _ms(self._now() + HOME_AFTER)
        with self._lock:
            for building, card in found.select("building_id", "id_number").iter_rows():
                self._homecomings += self._home(building, card, at)

    def _home(self, building: str, card: str, at_ms: int) -> list[tuple[int, str, str]]:
        """The swipes of coming home to a building at `at_ms` (its compound's gate first, if gated)."""
        door, gate = self._entrances.get(building, (None, None))
        rows = [(at_ms - _ms(GATE_BEFORE), gate, card)] if gate else []
        return rows + ([(at_ms, door, card)] if door else [])

    # --- plans ------------------------------------------------------------------------------------

    def plan(self, start: datetime, number: int) -> _Timeline:
        """A day of door life from `start`: register what it needs, return its swipes in time order."""
        life = door_life(
            self.tables, start=start, days=1, seed=self._seed + number, plants=self._plants, focus=self.focus
        )
        self._register(life)
        swipes = life.swipes.select("device", "card", pl.col("ts").dt.epoch("ms").alias("ms"))
        begin, end = _ms(start), _ms(start + PLAN)
        early = self._early(life) if number == 0 else pl.DataFrame()
        if not early.is_empty():
            swipes = swipes.join(
                early.select("device", "card", "ms"), on=["device", "card", "ms"], how="anti"
            )
            swipes = pl.concat([swipes, early.select("device", "card", pl.col("to").alias("ms"))])
        # A planted incident of the local day before `start` comes the next day at the same hour.
        day = _ms(PLAN)
        swipes = swipes.with_columns(pl.when(pl.col("ms") < begin).then(pl.col("ms") + day).otherwise("ms"))
        evenings = self._evenings(start)
        if evenings.height:
            swipes = pl.concat([swipes, evenings.select(swipes.columns)])
        swipes = swipes.filter((pl.col("ms") >= begin) & (pl.col("ms") < end)).sort("ms", "device", "card")
        log.info("doors.plan", plan=number, start=start.isoformat(), swipes=swipes.height)
        return _Timeline(swipes["ms"].to_numpy(), swipes["device"].to_list(), swipes["card"].to_list())

    def _early(self, life: DoorLife) -> pl.DataFrame:
        """One incident of each EARLY kind moved to now, and a wanted tenant's homecoming after it.

        Columns device, card, ms (where the life put it: those rows are dropped) and to (its new time).
        """
        swipes = life.swipes.select("device", "card", pl.col("ts").dt.epoch("ms").alias("ms"))
        now = self._now()
        moved = []
        for kind, offset in EARLY.items():
            found = life.truth.filter(pl.col("rule_kind") == kind).head(1)
            if found.is_empty():
                continue
            first, last = _ms(found["start"][0]), _ms(found["end"][0])
            refs = found["refs"][0].to_list()
            cards = [r.removeprefix("card:") for r in refs if r.startswith("card:")]
            devices = [r.removeprefix("door:") for r in refs if r.startswith("door:")]
            at_place = pl.col("card").is_in(cards) if cards else pl.col("device").is_in(devices)
            rows = swipes.filter(pl.col("ms").is_between(first, last) & at_place).sort("ms")
            steps = pl.int_range(pl.len(), dtype=pl.Int64) * _ms(EARLY_STEP)
            moved.append(rows.with_columns((steps + _ms(now + offset)).alias("to")))
        for person, card in life.wanted.head(1).iter_rows():
            homes = self.tables["tenancies"].filter(pl.col("person_id") == person)
            for building in homes["building_id"].head(1):
                home = self._home(building, card, _ms(now + WANTED_EARLY))
                moved.append(
                    pl.DataFrame(
                        [(d, c, None, at) for at, d, c in home],
                        schema={"device": pl.String, "card": pl.String, "ms": pl.Int64, "to": pl.Int64},
                        orient="row",
                    )
                )
        return pl.concat(moved) if moved else pl.DataFrame()

    def _evenings(self, start: datetime) -> pl.DataFrame:
        """Tenants registered one by one come home each evening too (19:00-21:00 local)."""
        with self._sessions() as session:
            found = places_bulk.registered_tenants(session)
        rows: list[tuple[int, str, str]] = []
        local_midnight = _ms(start) - (_ms(start) + 8 * 3_600_000) % _ms(PLAN)
        rng = np.random.default_rng([self._seed, _ms(start)])
        for building, card in found.select("building_id", "id_number").iter_rows():
            for day in (0, 1):
                at = local_midnight + day * _ms(PLAN) + int(rng.uniform(19, 21) * 3_600_000)
                rows += self._home(building, card, at)
        return pl.DataFrame(
            rows, schema={"ms": pl.Int64, "device": pl.String, "card": pl.String}, orient="row"
        )

    def _register(self, life: DoorLife) -> None:
        """The plan's visitor passes and watch-list entries, through the use cases; then the lists follow."""
        ctx = system_context()
        compounds: set[str] = set()
        for row in life.passes.iter_rows(named=True):
            # A pass cannot start in the past: one planted before now starts now. A day longer, since
            # an incident of the day before `start` is moved a day on (`plan`).
            until = row["valid_until"] + PLAN
            if until <= self._now():
                continue
            body = VisitorPassIn(
                compound_id=row["compound_id"],
                flat_id=row["flat_id"],
                id_number=row["id_number"],
                name=row["name"],
                valid_from=max(row["valid_from"], self._now() + timedelta(seconds=1)),
                valid_until=until,
            )
            try:
                self._visitors.register(ctx, body, resource="demo-doors")
                compounds.add(row["compound_id"])
            except PlacesError as error:
                log.warning("doors.pass_refused", compound=row["compound_id"], error=str(error))
        for person in life.wanted["person_id"].to_list():
            try:
                with transaction(self._sessions) as session:
                    registry.list_person(
                        session,
                        person_id=person,
                        reported_by="demo",
                        basis="demo: a wanted tenant",
                        owner=WATCHER,
                        now=self._now(),
                    )
            except registry.Conflict:
                pass  # listed already (an earlier run of the demo)
        if compounds:
            self._doors.rebuild(compound_ids=compounds)
        self.refresh()

    # --- running -----------------------------------------------------------------------------------

    async def live(self, hub: Hub, stop: asyncio.Event, *, start: datetime) -> None:
        """The doors' whole life in the demo: lists followed, swipes and heartbeats sent, until stopped."""
        follower = asyncio.create_task(self.follow(hub, stop), name="demo-door-lists")
        try:
            await self.run(stop, start=start)
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)

    async def run(self, stop: asyncio.Event, *, start: datetime) -> None:
        """Plan after plan from `start` (in the past: its backlog goes at once) until stopped."""
        # The doors hold their lists before the first swipe (the backlog's decisions need them).
        while not stop.is_set() and not self.is_in_step:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:
                log.exception("doors.refresh_failed")
            if not self.is_in_step:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
        number = 0
        while not stop.is_set():
            try:
                timeline = await asyncio.to_thread(self.plan, start, number)
            except Exception:
                log.exception("doors.plan_failed")  # a database busy at start, say: try again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                continue
            end_ms = _ms(start + PLAN)
            while not stop.is_set():
                now_ms = _ms(self._now())
                try:
                    await self.step(timeline, min(now_ms, end_ms - 1))
                except Exception:
                    log.exception("doors.step_failed")  # what was not stored stays buffered: next step
                if now_ms >= end_ms:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._tick_s)
            start, number = start + PLAN, number + 1

    async def step(self, timeline: _Timeline, now_ms: int) -> int:
        """Swipe what is due by now on the controllers, beat the hearts due, send it all; how many reports."""
        reports: dict[str, list[dict[str, Any]]] = defaultdict(list)
        with self._lock:
            due = timeline.due(now_ms)
            ready = [h for h in self._homecomings if h[0] <= now_ms]
            self._homecomings = [h for h in self._homecomings if h[0] > now_ms]
            for ms, device, card in sorted(due + ready):
                controller = self.controllers.get(device)
                if controller is None:
                    continue
                report = controller.swipe(card, _dt(ms))
                self.stats.swipes += 1
                self.stats.granted += report["code"] == "granted"
            self.stats.homecomings += len(ready)
            for door in self.controllers:
                outbox = self.controllers[door].outbox() if self.controllers[door].buffered else []
                if outbox:
                    reports[door] += outbox
        for door, beat_ms in self._beats(now_ms):
            reports[door].append(
                {
                    "v": 1,
                    "id": f"{door}.hb.{beat_ms}",
                    "kind": "heartbeat",
                    "device": door,
                    "ts": _dt(beat_ms).isoformat(),
                }
            )
        await self._send(reports)
        return sum(len(r) for r in reports.values())

    def _beats(self, now_ms: int) -> list[tuple[str, int]]:
        """Doors whose heartbeat is due, each with its latest due time (a backlog needs only the last)."""
        due = np.flatnonzero(self._beat_next <= now_ms)
        if not len(due):
            return []
        period = _ms(HEARTBEAT)
        missed = (now_ms - self._beat_next[due]) // period
        last = self._beat_next[due] + missed * period
        self._beat_next[due] = last + period
        self.stats.heartbeats += len(due)
        return [(self._beat_ids[i], int(t)) for i, t in zip(due.tolist(), last.tolist(), strict=True)]

    async def _send(self, reports: dict[str, list[dict[str, Any]]]) -> None:
        """Each door's reports as its own part; swipes leave the controller's buffer once stored."""
        doors = [d for d, r in reports.items() if r]
        if not doors:
            return
        parts = [
            Part(body=b"\n".join(msgspec.json.encode(r) for r in reports[d]), device_id=d, source=SOURCE)
            for d in doors
        ]
        results = await self._submit(parts)
        with self._lock:
            for door, result in zip(doors, results, strict=True):
                if result.error is not None:
                    self.stats.refused_parts += 1
                    continue  # kept in the buffer: sent again at the next step, under the same ids
                ids = [str(r["id"]) for r in reports[door] if r["kind"] != "heartbeat"]
                self.controllers[door].acknowledged(ids)


def _entrances(tables: dict[str, pl.DataFrame]) -> dict[str, tuple[str | None, str | None]]:
    """Building -> (its door, its compound's gate)."""
    doors = tables["doors"]
    gates = dict(
        doors.filter(pl.col("building_id").is_null() & pl.col("shop_id").is_null())
        .select("compound_id", "device_id")
        .iter_rows()
    )
    buildings = tables["buildings"].select("id", "compound_id")
    inside = dict(
        doors.filter(pl.col("building_id").is_not_null()).select("building_id", "device_id").iter_rows()
    )
    return {str(b): (inside.get(b), gates.get(c)) for b, c in buildings.iter_rows()}


def _ms(at: datetime | timedelta) -> int:
    if isinstance(at, timedelta):
        return int(at.total_seconds() * 1000)
    return int(at.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


__all__ = ["HEARTBEAT", "PLAN", "DemoDoors", "DoorStats"]
