"""The visit-list use cases on SQLite and PostgreSQL: tasks made once per warning (live or caught up),
the round from the community centre, outcomes and precision within the caller's communities."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity.alerts import AlertService
from safecity.bus import ALERTS, MemoryBus
from safecity.core.audit import AuditEntry
from safecity.core.clock import ManualClock
from safecity.core.context import Context
from safecity.core.errors import AccessDenied
from safecity.core.finding import Evidence, Finding, Ref
from safecity.places import PlaceConflict, RaisedWarning, VisitFilter, Visits
from safecity.places.models import Building, Compound, Flat
from safecity.places.visit_schemas import OutcomeIn, VisitedIn
from safecity.registry.models import Area
from safecity.store import transaction

OFFICER = Context(
    actor="officer.c1",
    role="community_officer",
    areas=frozenset({"C1"}),
    permissions=frozenset({"visits.work", "alerts.act"}),
)


@dataclass
class Trail:
    """An audit recorder that keeps what it is given."""

    entries: list[tuple[str, AuditEntry]] = field(default_factory=list)

    def record(self, who: Context, entry: AuditEntry) -> int:
        self.entries.append((who.actor, entry))
        return len(self.entries)

    def actions(self) -> list[str]:
        return [e.action for _, e in self.entries]


@dataclass
class Setup:
    visits: Visits
    alerts: AlertService
    trail: Trail
    flat_id: int
    clock: ManualClock


@pytest.fixture
def setup(session_factory: sessionmaker[Session], clock: ManualClock) -> Setup:
    """The small city below on each backend."""
    return seed(session_factory, clock)


def seed(session_factory: sessionmaker[Session], clock: ManualClock) -> Setup:
    """Communities C1 (with a centre) and C2; CP1 in C1 with building B1 and flat 3-201; CP2 in C2."""
    with transaction(session_factory) as session:
        session.add(Area(id="D1", kind="district", name="鹿城区"))
        session.flush()
        session.add(Area(id="S1", kind="station", name="五马派出所", parent_id="D1", station_id="S1"))
        session.flush()
        session.add(
            Area(id="C1", kind="community", name="C1", parent_id="S1", station_id="S1", lat=28.0, lon=120.65)
        )
        session.add(Area(id="C2", kind="community", name="C2", parent_id="S1", station_id="S1"))
        session.flush()
        session.add(Compound(id="CP1", name="蝉街小区", community_id="C1", lat=28.001, lon=120.65))
        session.add(Compound(id="CP2", name="Compound 2", community_id="C2"))
        session.flush()
        session.add(Building(id="B1", compound_id="CP1", name="3号楼", lat=28.002, lon=120.65))
        session.flush()
        flat = Flat(building_id="B1", number="3-201", capacity=2)
        session.add(flat)
        session.flush()
        flat_id = flat.id
    alerts = AlertService(session_factory=session_factory, clock=clock)
    trail = Trail()
    return Setup(Visits(session_factory, trail, alerts, now=clock.now), alerts, trail, flat_id, clock)


def raise_warning(setup: Setup, n: int, *, kind: str = "housing_group_renting", compound: str = "CP1") -> str:
    evidence = Evidence(
        event_id=f"ev-{n}",
        corr_id=f"corr-{n}",
        kind="door_swipe",
        subject=f"p-{n}",
        device="DOOR-1",
        ts=setup.clock.now(),
        lat=None,
        lon=None,
        area="C1",
    )
    finding = Finding(
        rule=kind.replace("_", "-"),
        rule_kind=kind,
        severity="high",
        title="More cards than beds",
        subject_kind="flat",
        subject=str(setup.flat_id),
        dedup_key=f"k{n}",
        at=setup.clock.now(),
        evidence=(evidence,),
        refs=(Ref("compound", compound), Ref("flat", str(setup.flat_id))),
    )
    return setup.alerts.apply_findings([finding])[0].alert_id


def test_catch_up_makes_one_task_per_missed_housing_warning(setup: Setup) -> None:
    housing = [raise_warning(setup, n) for n in range(3)]
    raise_warning(setup, 9, kind="hotlist")
    handled = raise_warning(setup, 11)
    setup.alerts.close(handled, by="desk", outcome="false_alarm")  # seen to at the console: no visit
    setup.clock.advance(timedelta(days=8))
    recent = raise_warning(setup, 10)  # inside the window; the three above are now too old
    assert len(setup.visits.catch_up()) == 1
    setup.clock.set(setup.clock.now() - timedelta(days=8))
    made = setup.visits.catch_up(window=timedelta(days=30))
    assert len(made) == 3
    assert setup.visits.catch_up(window=timedelta(days=30)) == []  # once per warning
    assert setup.visits.take_alert(housing[0]) == [] and setup.visits.take_alert(recent) == []
    listed = setup.visits.tasks(OFFICER, VisitFilter(), resource="test")
    assert listed.shown_tasks == listed.open_tasks == 4
    assert setup.trail.actions().count("visits.tasks_add") == 2


def test_a_warning_whose_flat_lies_in_another_compound_is_placed_at_its_compound_only(setup: Setup) -> None:
    warning = RaisedWarning(
        alert_id="A" * 26,
        rule="housing-x",
        rule_kind="housing_x",
        severity="low",
        title="x",
        refs=(Ref("compound", "CP2"), Ref("flat", str(setup.flat_id))),
        at=setup.clock.now(),
    )
    [task_id] = setup.visits.take([warning])
    everything = Context(actor="c", role="community_officer", city_wide=True)
    [place] = setup.visits.tasks(everything, VisitFilter(), resource="test").places
    assert (place.key, place.building_id, place.flats[0].flat_id) == ("compound:CP2", None, None)
    assert place.flats[0].tasks[0].id == task_id


def test_the_round_starts_at_the_community_centre(setup: Setup) -> None:
    raise_warning(setup, 1)
    setup.visits.catch_up()
    walk = setup.visits.tasks(OFFICER, VisitFilter(community_id="C1"), resource="test").round
    assert (walk.start, walk.start_from) == ([28.0, 120.65], "community")
    [stop] = walk.stops
    assert stop.key == "building:B1" and stop.distance_m is not None and 210 < stop.distance_m < 235


def test_outcomes_stay_in_the_officers_communities_and_feed_precision(setup: Setup) -> None:
    for n in range(3):
        raise_warning(setup, n)
    raise_warning(setup, 5, compound="CP2")
    setup.visits.catch_up()
    everything = Context(actor="c", role="community_officer", city_wide=True)
    tasks = [
        t
        for p in setup.visits.tasks(everything, VisitFilter(), resource="t").places
        for f in p.flats
        for t in f.tasks
    ]
    mine = [t for t in tasks if t.community_id == "C1"]
    [theirs] = [t for t in tasks if t.community_id == "C2"]
    with pytest.raises(AccessDenied):
        setup.visits.record_outcome(OFFICER, theirs.id, OutcomeIn(outcome="confirmed"), resource="t")
    for task, outcome in zip(mine, ("confirmed", "false_alarm", "no_one_home"), strict=True):
        setup.visits.record_outcome(OFFICER, task.id, OutcomeIn(outcome=outcome, note="核实"), resource="t")
    with pytest.raises(PlaceConflict):
        setup.visits.record_outcome(OFFICER, mine[0].id, OutcomeIn(outcome="explained"), resource="t")
    [row] = setup.visits.precision(OFFICER, resource="t")
    assert (row.confirmed, row.false_alarm, row.no_one_home, row.open, row.precision) == (1, 1, 1, 0, 0.5)
    [everywhere] = setup.visits.precision(everything, resource="t")
    assert everywhere.open == 1
    with pytest.raises(AccessDenied):
        setup.visits.precision(OFFICER, community_id="C2", resource="t")
    visited = setup.visits.mark_visited(OFFICER, setup.flat_id, VisitedIn(), resource="t")
    assert visited.visited_on == setup.clock.now().date()
    assert setup.trail.actions().count("visits.outcome") == 3


def test_a_warning_closed_in_the_console_meanwhile_keeps_its_outcome(setup: Setup) -> None:
    first, second = raise_warning(setup, 1), raise_warning(setup, 2)
    setup.visits.catch_up()
    setup.alerts.close(first, by="desk", outcome="false_alarm", note="seen on camera")
    tasks = {
        t.alert_id: t.id
        for p in setup.visits.tasks(OFFICER, VisitFilter(), resource="t").places
        for f in p.flats
        for t in f.tasks
    }
    done = setup.visits.record_outcome(OFFICER, tasks[first], OutcomeIn(outcome="confirmed"), resource="t")
    assert done.status == "done"
    assert setup.alerts.get(first).alert.outcome == "false_alarm"  # the console's word stands
    not_acting = Context(actor="o2", role="community_officer", areas=frozenset({"C1"}))
    setup.visits.record_outcome(not_acting, tasks[second], OutcomeIn(outcome="confirmed"), resource="t")
    assert setup.alerts.get(second).alert.status == "new"  # closing an alert needs alerts.act
    details = [e.detail for _, e in setup.trail.entries if e.action == "visits.outcome"]
    assert [d["alert_closed_as"] for d in details] == [None, None]


@pytest.mark.integration
def test_of_two_officers_recording_at_once_one_wins_on_postgresql(
    postgres_url: str, clock: ManualClock
) -> None:
    from safecity.store import make_engine, make_session_factory
    from safecity.store.db import Base
    from tests.conftest import _load_models

    _load_models()
    engine = make_engine(postgres_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    try:
        setup_ = seed(make_session_factory(engine), clock)
        raise_warning(setup_, 1)
        [task_id] = setup_.visits.catch_up()
        barrier = threading.Barrier(2)

        def record(outcome: str) -> str:
            barrier.wait()
            try:
                setup_.visits.record_outcome(OFFICER, task_id, OutcomeIn(outcome=outcome), resource="t")
            except PlaceConflict:
                return "refused"
            return outcome

        with ThreadPoolExecutor(2) as pool:
            results = sorted(pool.map(record, ["confirmed", "false_alarm"]))
        assert results.count("refused") == 1, results
        [row] = setup_.visits.precision(OFFICER, resource="t")
        assert row.confirmed + row.false_alarm == 1
    finally:
        engine.dispose()


async def test_the_worker_follows_raised_housing_alerts_and_survives_a_failed_take(setup: Setup) -> None:
    bus = MemoryBus()
    await bus.start()
    real_get = setup.alerts.get
    asked: list[str] = []
    failing: set[str] = set()

    def flaky_get(alert_id: str, **kw: Any) -> Any:
        asked.append(alert_id)
        if alert_id in failing:
            raise RuntimeError("the database went away")
        return real_get(alert_id, **kw)

    setup.alerts.get = flaky_get  # type: ignore[method-assign]
    worker = asyncio.create_task(setup.visits.follow(bus, group="test-visits"))
    try:
        await asyncio.sleep(0.05)  # subscribed, and caught up with nothing
        first, second = raise_warning(setup, 1), raise_warning(setup, 2)
        other = raise_warning(setup, 3, kind="hotlist")
        failing.add(first)
        for alert_id, kind in (
            (first, "housing_group_renting"),
            (other, "hotlist"),
            (second, "housing_group_renting"),
        ):
            notice = {"type": "AlertRaised", "alert_id": alert_id, "rule_kind": kind}
            await bus.publish(ALERTS, notice)
            await bus.publish(ALERTS, {**notice, "type": "AlertUpdated"})  # updates make no task
        for _ in range(100):
            listed = await asyncio.to_thread(setup.visits.tasks, OFFICER, VisitFilter(), resource="t")
            if listed.shown_tasks:
                break
            await asyncio.sleep(0.02)
        made = {t.alert_id for p in listed.places for f in p.flats for t in f.tasks}
        assert made == {second}  # the failed take did not stop the worker
        assert other not in asked  # not a housing kind: the worker never looked it up
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await bus.close()
    assert len(setup.visits.catch_up()) == 1  # the next start makes the one that failed
