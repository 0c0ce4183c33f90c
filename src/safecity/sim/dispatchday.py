"""A simulated day of 110 calls played through the real dispatch code, to compare dispatch policies
by the arrival times they give.

`plan_calls` draws the day from the generated city: how many calls each local hour (the usual
110 curve: quiet before dawn, busiest in the evening), where (a registered resident's home, so
districts and communities get calls as they have people) and what (the run cards' types in
typical shares). Each call also draws the minutes its crew spends on scene, so that every policy
plays exactly the same day.

`play_day` runs one policy over the day on a registry of its own (SQLite in a temporary folder)
with the city's areas, residents and units (`sim.forces`), a manual clock and discrete events:

* a call is taken (`Incidents.create`) and, after `CALL_HANDLING`, sent (`Orders.dispatch`: the
  whole run card in one action) once a unit of each department the card sends is free; while none
  is, the call waits, and the wait counts in its arrival time;
* the chosen units' crews accept and set off after `TURNOUT`, drive the network's quickest route
  (foot patrols walk it, drones fly straight), are on scene, report back after their minutes on
  scene and drive home; on the way their positions go in through `Units.record_fix`, so that the
  next ranking sees where they really are;
* call-to-arrival and its parts come from `ResponseKpis`, the desk's own figures.

The policies differ only in which unit each run-card line gets:

* `straight_line`: the free unit of the department quickest as the crow flies (the straight
  distance at its pace: `STRAIGHT_KMH` for a vehicle, walking for a foot patrol);
* `road_time`: the desk's own choice, the quickest by road (`Orders.dispatch` with no unit named);
* `road_time_reposition`: the same, and after every dispatch and every unit freed (at most every
  two minutes) the free units drive to the standby posts `Coverage.reposition` suggests (the
  live heuristic over the residents, 3-minute standard).
"""

from __future__ import annotations

import heapq
import itertools
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from safecity.core.clock import ManualClock
from safecity.core.context import Context
from safecity.core.geo import distance_m
from safecity.dispatch.coverage import Coverage
from safecity.dispatch.incidents import Incidents
from safecity.dispatch.kpis import KpiReport, ResponseKpis
from safecity.dispatch.models import OrderStatus, UnitKind, UnitStatus
from safecity.dispatch.network import RoadNetwork
from safecity.dispatch.orders import Orders
from safecity.dispatch.recommend import FOOT_KMH
from safecity.dispatch.runcards import CARDS, card_for
from safecity.dispatch.schemas import IncidentIn, OrderUpdateIn, UnitOut
from safecity.dispatch.units import Units
from safecity.security import Pseudonymizer
from safecity.security.keys import load_pseudonym_keys
from safecity.sim.city import UTC_OFFSET_H, City
from safecity.sim.forces import unit_plan, way
from safecity.sim.loader import load_city
from safecity.sim.patrols import along
from safecity.store.db import Base, make_engine, make_session_factory

log = structlog.get_logger(__name__)

POLICIES = ("straight_line", "road_time", "road_time_reposition")
# Relative call volume by local hour (0-23): the usual 110 curve.
HOURLY = (3.0, 2.4, 1.8, 1.4, 1.2, 1.3, 2.0, 3.2, 4.2, 4.6, 4.8, 4.9,
          4.7, 4.6, 4.7, 4.9, 5.1, 5.3, 5.6, 5.9, 6.0, 5.6, 4.8, 3.8)  # fmt: skip
KIND_SHARES = {
    "theft": 0.28,
    "other": 0.22,
    "traffic_accident": 0.16,
    "fight": 0.12,
    "burglary_in_progress": 0.08,
    "fraud_warning": 0.08,
    "missing_person": 0.06,
}
CALL_HANDLING = timedelta(seconds=75)  # from the call to the run card sent (the call-taker's work)
TURNOUT = timedelta(seconds=40)  # from the order to the crew setting off
SCENE_MEDIAN_MIN = 25.0
JITTER_M = 60.0  # a call's place around the resident's home
REPOSITION_MINUTES = 3.0
REPOSITION_EVERY = timedelta(minutes=2)
STRAIGHT_KMH = 30.0  # the average city speed straight-line dispatch assumes for cars and motorcycles
DESK = Context(actor="sim-dispatcher", role="dispatcher", city_wide=True, permissions=frozenset())


@dataclass(frozen=True)
class Call:
    at: datetime
    lat: float
    lon: float
    kind: str
    scene_min: float  # how long its crews stay on scene


@dataclass
class DayResult:
    policy: str
    calls: int
    reached: int
    report: KpiReport  # the desk's own figures for the day
    waited: int  # calls that waited for a free unit
    repositions: int
    moves: int
    untrusted_fixes: int
    wall_s: float
    arrivals_min: list[float] = field(default_factory=list)  # call to first unit on scene, per call
    sent: list[list[str]] = field(default_factory=list)  # the units sent to each call, in call order

    @property
    def mean_min(self) -> float:
        return float(np.mean(self.arrivals_min)) if self.arrivals_min else float("nan")

    @property
    def p90_min(self) -> float:
        return float(np.percentile(self.arrivals_min, 90)) if self.arrivals_min else float("nan")


def plan_calls(city: City, network: RoadNetwork, *, count: int, day: date, seed: int) -> list[Call]:
    """A day of `count` calls from the city (see the module docstring), in time order; only places
    the network can serve (within its snapping distance of a road) are kept."""
    if set(KIND_SHARES) - set(CARDS):
        raise ValueError(f"call types without a run card: {sorted(set(KIND_SHARES) - set(CARDS))}")
    rng = np.random.default_rng(seed)
    people = city.table("people")
    grid = city.grid
    hours = rng.choice(24, size=count, p=np.array(HOURLY) / sum(HOURLY))
    local_midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=UTC_OFFSET_H)
    seconds = hours * 3600 + rng.uniform(0, 3600, count)
    who = rng.integers(0, people.height, count)
    lat = np.asarray(grid.lat(people["home_y"].to_numpy()[who]), dtype=np.float64)
    lon = np.asarray(grid.lon(people["home_x"].to_numpy()[who]), dtype=np.float64)
    lat = lat + rng.normal(0, JITTER_M / 111_195.0, count)
    lon = lon + rng.normal(0, JITTER_M / (111_195.0 * np.cos(np.radians(lat))), count)
    kinds = rng.choice(list(KIND_SHARES), size=count, p=np.array(list(KIND_SHARES.values())))
    scene = rng.lognormal(np.log(SCENE_MEDIAN_MIN), 0.5, count)
    # Jittered homes at the city's edge may fall outside it: clipped back in (the areas cover it).
    box = city.bbox
    lat = np.clip(lat, box.south + 1e-4, box.north - 1e-4)
    lon = np.clip(lon, box.west + 1e-4, box.east - 1e-4)
    _, away = network.snap_many(lat, lon)
    calls = [
        Call(
            at=local_midnight + timedelta(seconds=float(seconds[i])),
            lat=float(lat[i]),
            lon=float(lon[i]),
            kind=str(kinds[i]),
            scene_min=float(scene[i]),
        )
        for i in range(count)
        if away[i] <= network.max_snap_m
    ]
    return sorted(calls, key=lambda c: c.at)


@dataclass
class _Trip:
    coords: list[tuple[float, float]]
    start: datetime
    seconds: float
    purpose: str  # "scene" | "home" | "post"
    order_id: int | None = None

    def at(self, now: datetime) -> tuple[float, float]:
        done = (now - self.start).total_seconds() / self.seconds if self.seconds > 0 else 1.0
        return along(self.coords, min(max(done, 0.0), 1.0))

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)


class _Discard:
    """The audit recorder of a throw-away registry: the simulated desk's reads are not people's."""

    def record(self, ctx: Any, entry: Any) -> None:
        return None


class _Day:
    """One policy's run: the registry, the services on a manual clock, and the event queue."""

    def __init__(self, city: City, network: RoadNetwork, policy: str, folder: Path, start: datetime) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; the policies are {', '.join(POLICIES)}")
        self.policy, self.network = policy, network
        engine = make_engine(f"sqlite:///{folder / 'day.sqlite'}")
        import safecity.models  # noqa: F401  (every table in the metadata)

        Base.metadata.create_all(engine)
        sessions = make_session_factory(engine)
        keys = load_pseudonym_keys(folder / "pseudonym.keys", generate=True)
        load_city(city, sessions, pseudonymizer=Pseudonymizer(keys))
        self.clock = ManualClock(start)
        parts: tuple[Any, Any, Callable[[], RoadNetwork]] = (sessions, _Discard(), lambda: network)
        self.units = Units(*parts, now=self.clock.now)
        self.incidents = Incidents(*parts, now=self.clock.now)
        self.orders = Orders(*parts, now=self.clock.now)
        self.coverage = Coverage(*parts, now=self.clock.now)
        self.kpis = ResponseKpis(*parts, now=self.clock.now)
        for body in unit_plan(city.table("areas")):
            self.units.add(DESK, body, resource="sim")
            self.units.set_status(DESK, body.id, UnitStatus.AVAILABLE, expected_version=None, resource="sim")
        self.trips: dict[str, _Trip] = {}
        self.queue: list[tuple[datetime, int, str, Any]] = []
        self.order = itertools.count()
        self.waiting: list[int] = []  # incidents waiting for a free unit, oldest first
        self.untrusted = self.repositions = self.moves = 0
        self.waited: set[int] = set()  # incidents that had to wait for a free unit
        self.last_reposition: datetime | None = None
        self.reposition_due = False
        self.first_on_scene: dict[int, datetime] = {}
        self.sent: dict[int, list[str]] = {}
        self.calls: dict[int, Call] = {}

    def push(self, at: datetime, what: str, data: Any) -> None:
        heapq.heappush(self.queue, (at, next(self.order), what, data))

    def run(self, calls: list[Call]) -> None:
        for call in calls:
            self.push(call.at, "call", call)
        while self.queue:
            at, _, what, data = heapq.heappop(self.queue)
            self.clock.set(max(at, self.clock.now()))
            getattr(self, f"_on_{what}")(data)

    # events

    def _on_call(self, call: Call) -> None:
        incident = self.incidents.create(
            DESK,
            IncidentIn(kind=call.kind, lat=call.lat, lon=call.lon, reported_at=self.clock.now()),
            resource="sim",
        )
        self.calls[incident.id] = call
        self.push(self.clock.now() + CALL_HANDLING, "dispatch", incident.id)

    def _on_dispatch(self, incident_id: int) -> None:
        self._fixes()
        call = self.calls[incident_id]
        free = self._free()
        needed = {line.department for line in card_for(call.kind).lines if line.unit}
        if not all(free.get(d) for d in needed):
            self.waited.add(incident_id)
            self.waiting.append(incident_id)
            return
        chosen = None
        if self.policy == "straight_line":
            chosen = {d: self._nearest_by_air(free[d], call) for d in needed}
        for order in self.orders.dispatch(DESK, incident_id, units=chosen, resource="sim"):
            if order.unit_id is not None:
                self.sent.setdefault(incident_id, []).append(order.unit_id)
                if order.unit_id in self.trips:  # driving home or to a post: it goes on until it sets off
                    self.trips[order.unit_id].purpose = "post"
                self.push(self.clock.now() + TURNOUT, "set_off", (order.id, order.unit_id, incident_id))
        self._reposition()

    def _on_set_off(self, data: tuple[int, str, int]) -> None:
        order_id, unit_id, incident_id = data
        crew = self._crew(unit_id)
        self.orders.update(crew, order_id, OrderUpdateIn(status=OrderStatus.ACCEPTED), resource="sim")
        self.orders.update(crew, order_id, OrderUpdateIn(status=OrderStatus.EN_ROUTE), resource="sim")
        call = self.calls[incident_id]
        trip = self._trip(unit_id, (call.lat, call.lon), "scene")
        trip.order_id = order_id
        self._go(unit_id, trip, incident_id)

    def _go(self, unit_id: str, trip: _Trip, incident_id: int = -1) -> None:
        self.trips[unit_id] = trip
        self.push(trip.end, "arrive", (unit_id, incident_id, trip))

    def _on_arrive(self, data: tuple[str, int, _Trip]) -> None:
        unit_id, incident_id, trip = data
        if self.trips.get(unit_id) is not trip:
            return  # that drive was replaced (sent elsewhere before it got there)
        del self.trips[unit_id]
        self._fix(unit_id, trip.coords[-1])
        if trip.purpose == "scene":
            assert trip.order_id is not None
            crew = self._crew(unit_id)
            self.orders.update(
                crew, trip.order_id, OrderUpdateIn(status=OrderStatus.ON_SCENE), resource="sim"
            )
            self.first_on_scene.setdefault(incident_id, self.clock.now())
            minutes = self.calls[incident_id].scene_min
            self.push(self.clock.now() + timedelta(minutes=minutes), "report", (unit_id, trip.order_id))
        elif trip.purpose == "home":
            self.units.set_status(DESK, unit_id, UnitStatus.AVAILABLE, expected_version=None, resource="sim")
            self._unit_freed()
        # "post": an available unit now standing at its post; nothing changes

    def _on_reposition(self, _: None) -> None:
        self.reposition_due = False
        self._reposition()

    def _on_report(self, data: tuple[str, int]) -> None:
        unit_id, order_id = data
        update = OrderUpdateIn(status=OrderStatus.REPORTED, report="现场处置完毕（模拟）")
        self.orders.update(self._crew(unit_id), order_id, update, resource="sim")  # the unit returns
        unit = self.units.get(DESK, unit_id)
        self._go(unit_id, self._trip(unit_id, (unit.home_lat, unit.home_lon), "home"))
        self._unit_freed()  # a returning unit can take the next call

    # what the policies decide with

    def _unit_freed(self) -> None:
        waiting, self.waiting = self.waiting, []
        for incident_id in waiting:  # oldest first, as a desk would
            self._on_dispatch(incident_id)
        self._reposition()

    def _free(self) -> dict[str, list[UnitOut]]:
        out: dict[str, list[UnitOut]] = {}
        for unit in self.units.list(DESK):
            if unit.status in (UnitStatus.AVAILABLE, UnitStatus.RETURNING):
                out.setdefault(unit.department, []).append(unit)
        return out

    @staticmethod
    def _nearest_by_air(units: list[UnitOut], call: Call) -> str:
        """The quickest as the crow flies: the straight distance at the unit's pace (a car's or a
        motorcycle's average city speed, a walker's, a drone's air speed), so that a walker is
        not sent for being a little nearer than a car; of units equally quick, by id."""

        def minutes(unit: UnitOut) -> float:
            lat, lon = _position(unit)
            kmh = {UnitKind.FOOT: FOOT_KMH, UnitKind.DRONE: unit.speed_kmh or STRAIGHT_KMH}.get(
                UnitKind(unit.kind), STRAIGHT_KMH
            )
            return distance_m(lat, lon, call.lat, call.lon) / (kmh / 0.06)

        return min(units, key=lambda u: (round(minutes(u), 3), u.id)).id

    def _reposition(self) -> None:
        """Follow the live suggestion, at most once per `REPOSITION_EVERY` (a desk's pace): asked
        again sooner, it is done when that time is up."""
        if self.policy != "road_time_reposition":
            return
        now = self.clock.now()
        if self.last_reposition is not None and now - self.last_reposition < REPOSITION_EVERY:
            if not self.reposition_due:
                self.reposition_due = True
                self.push(self.last_reposition + REPOSITION_EVERY, "reposition", None)
            return
        self.last_reposition, self.reposition_due = now, False
        self._fixes()
        suggestion = self.coverage.reposition(DESK, demand="population", minutes=REPOSITION_MINUTES)
        self.repositions += 1
        for move in suggestion.moves:
            trip = self.trips.get(move.unit_id)
            if trip is not None and trip.purpose == "scene":
                continue
            # A unit driving home is still returning: it becomes available once at its post.
            purpose = "post" if trip is None or trip.purpose == "post" else "home"
            self._go(move.unit_id, self._trip(move.unit_id, move.to, purpose))
            self.moves += 1

    # moving

    def _trip(self, unit_id: str, to: tuple[float, float], purpose: str) -> _Trip:
        """From where the unit is now to a place (`sim.forces.way`); a unit the network gives no
        way stays put (never seen on a connected city)."""
        now = self.clock.now()
        unit = self.units.get(DESK, unit_id)
        here = self.trips[unit_id].at(now) if unit_id in self.trips else _position(unit)
        found = way(self.network, unit.kind, here, to, now, air_kmh=unit.speed_kmh)
        if found is None:
            return _Trip([here], now, 0.0, purpose)
        return _Trip(found[0], now, found[1], purpose)

    def _fixes(self) -> None:
        now = self.clock.now()
        for unit_id, trip in self.trips.items():
            self._fix(unit_id, trip.at(now))

    def _fix(self, unit_id: str, where: tuple[float, float]) -> None:
        if self.units.record_fix(unit_id, where[0], where[1], self.clock.now()) is not None:
            self.untrusted += 1

    @staticmethod
    def _crew(unit_id: str) -> Context:
        return Context(actor=f"sim-crew-{unit_id}", role="patrol_officer", city_wide=True)


def _position(unit: UnitOut) -> tuple[float, float]:
    if unit.lat is not None and unit.lon is not None:
        return unit.lat, unit.lon
    return unit.home_lat, unit.home_lon


def play_day(city: City, network: RoadNetwork, calls: list[Call], policy: str) -> DayResult:
    """Play `calls` under `policy` (see the module docstring) and measure the arrivals."""
    started = time.perf_counter()
    if not calls:
        raise ValueError("a day needs at least one call")
    with tempfile.TemporaryDirectory(prefix="safecity-day-") as tmp:
        day = _Day(city, network, policy, Path(tmp), calls[0].at - timedelta(minutes=1))
        day.run(calls)
        end = day.clock.now() + timedelta(seconds=1)
        report = day.kpis.report(DESK, by="hour", days=2, end=end)
        arrivals = [
            (day.first_on_scene[i] - day.calls[i].at).total_seconds() / 60
            for i in sorted(day.calls)
            if i in day.first_on_scene
        ]
        result = DayResult(
            policy=policy,
            calls=len(day.calls),
            reached=len(arrivals),
            report=report,
            waited=len(day.waited),
            repositions=day.repositions,
            moves=day.moves,
            untrusted_fixes=day.untrusted,
            wall_s=time.perf_counter() - started,
            arrivals_min=arrivals,
            sent=[day.sent.get(i, []) for i in sorted(day.calls)],
        )
    log.info("sim.dispatch_day", policy=policy, calls=result.calls, mean_min=round(result.mean_min, 2))
    return result


__all__ = ["POLICIES", "Call", "DayResult", "plan_calls", "play_day"]
