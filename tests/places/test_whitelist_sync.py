"""Whitelist sync as a property: whatever happens on the way, every controller ends in step.

Any sequence of registrations, check-outs, lost messages, cut-offs, reconnections and periodic
checks (a controller subscribes to its delta topic again and gets the retained newest delta), with the
server's real versions and deltas (places/doors.py) and the simulator's controller logic
(sim/door_controller.py) over a broker model that keeps a retained full list per door and a
persistent session of deltas per controller: once every controller is back and the last change
published, each holds the server's version and digest, and a checked-out card is refused by
every door while a tenant's card opens the doors of their flat.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safecity.bus.hub import EventHub
from safecity.core.context import SYSTEM
from safecity.core.ids import id_number_check_char
from safecity.places import Doors, PlaceConflict, Places
from safecity.places.door_schemas import DoorIn
from safecity.places.doors import Update
from safecity.places.events import AccessChanged
from safecity.places.models import VisitorPass
from safecity.places.schemas import BuildingIn, CheckOutIn, CompoundIn, FlatIn, IdCardIn, TenantIn
from safecity.places.sync import WhitelistPublisher, WhitelistSync
from safecity.places.whitelist import Delta, FullList, digest
from safecity.platform import Platform
from safecity.sim.door_controller import DoorController
from safecity.store import transaction
from tests.conftest import T0
from tests.places.conftest import _areas
from tests.web.conftest import fresh_platform

PEOPLE = [f"33030219900307{n:02d}1" for n in range(6)]
NUMBERS = [p + id_number_check_char(p) for p in PEOPLE]
DOORS = ("GATE", "B-A", "B-B")


@dataclass
class Broker:
    """A broker as the controllers see it: retained full lists, persistent sessions, lossy links."""

    controllers: dict[str, DoorController]
    retained: dict[str, FullList] = field(default_factory=dict)
    last_delta: dict[str, Delta] = field(default_factory=dict)  # retained on the delta topic
    queued: dict[str, list[Delta]] = field(default_factory=lambda: defaultdict(list))
    offline: set[str] = field(default_factory=set)
    lose_next: set[str] = field(default_factory=set)

    def publish(self, update: Update) -> None:
        door = update.full.door
        self.retained[door] = update.full
        self.last_delta[door] = update.delta
        if door in self.lose_next:
            self.lose_next.discard(door)  # lost on the way: the controller will find the gap
        elif door in self.offline:
            self.queued[door].append(update.delta)
        else:
            self._deliver(door, update.delta)

    def _deliver(self, door: str, message: FullList | Delta) -> None:
        controller = self.controllers[door]
        controller.take(message)
        if controller.wants_full and door in self.retained:
            # It subscribes to the retained topic: the broker sends the newest full list.
            controller.take(self.retained[door])

    def check(self, door: str) -> None:
        """The periodic check: the controller subscribes to its delta topic again, gets the retained one."""
        if door not in self.offline and door in self.last_delta:
            self._deliver(door, self.last_delta[door])

    def cut(self, door: str) -> None:
        self.offline.add(door)
        self.controllers[door].online = False

    def reconnect(self, door: str) -> None:
        if door not in self.offline:
            return
        self.offline.discard(door)
        self.controllers[door].online = True
        for delta in self.queued.pop(door, []):
            self._deliver(door, delta)
        if self.controllers[door].wants_full and door in self.retained:
            self._deliver(door, self.retained[door])


Step = tuple[str, int, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.integers(0, len(NUMBERS) - 1), st.integers(0, 2)),
        st.tuples(st.just("check_out"), st.integers(0, 50), st.just(0)),
        st.tuples(st.just("lose"), st.integers(0, len(DOORS) - 1), st.just(0)),
        st.tuples(st.just("cut"), st.integers(0, len(DOORS) - 1), st.just(0)),
        st.tuples(st.just("reconnect"), st.integers(0, len(DOORS) - 1), st.just(0)),
        st.tuples(st.just("publish"), st.just(0), st.just(0)),
        st.tuples(st.just("check"), st.integers(0, len(DOORS) - 1), st.just(0)),
    ),
    max_size=25,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, schema_db: Path, tmp_path: Path) -> Iterator[Platform]:
    """A fresh platform on SQLite, or on a new PostgreSQL database."""
    if request.param == "sqlite":
        built = fresh_platform(schema_db, tmp_path)
    else:
        built = fresh_platform(
            schema_db, tmp_path, database_url=request.getfixturevalue("empty_postgres_url")
        )
    yield built
    built.engine.dispose()


@pytest.fixture
def estate(backend: Platform) -> tuple[Places, Doors, list[int]]:
    """Compound P with a gate, buildings A (flats 0, 1) and B (flat 2), each with its door."""
    platform = backend
    _areas(platform)
    places, doors = platform.service(Places), platform.service(Doors)
    places.add_compound(
        SYSTEM, CompoundIn(id="P", name="P", community_id="C1", lat=28.0, lon=120.6), resource="t"
    )
    flats = []
    for building, numbers in (("A", ("1", "2")), ("B", ("3",))):
        places.add_building(SYSTEM, BuildingIn(id=building, compound_id="P", name=building), resource="t")
        for number in numbers:
            flats.append(
                places.add_flat(
                    SYSTEM, FlatIn(building_id=building, number=number, capacity=9), resource="t"
                ).id
            )
    doors.add_door(SYSTEM, DoorIn(device_id="GATE", name="gate", compound_id="P"), resource="t")
    doors.add_door(SYSTEM, DoorIn(device_id="B-A", name="A", building_id="A"), resource="t")
    doors.add_door(SYSTEM, DoorIn(device_id="B-B", name="B", building_id="B"), resource="t")
    return places, doors, flats


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=steps)
def test_every_controller_ends_on_the_server_s_version_and_a_checked_out_card_is_refused_everywhere(
    estate: tuple[Places, Doors, list[int]], script: list[Step]
) -> None:
    places, doors, flats = estate
    for flat in flats:  # the database outlives an example: start each with nobody living here
        for tenant in places.tenants(SYSTEM, flat, resource="t"):
            places.check_out(SYSTEM, tenant.tenancy_id, CheckOutIn(at=None), resource="t")
    doors.rebuild(compound_ids=["P"])
    broker = Broker({door: DoorController(door) for door in DOORS})
    for full in (doors.whitelist(door) for door in DOORS):  # what the broker retains at the start
        assert isinstance(full, FullList)
        broker.retained[full.door] = full
        broker._deliver(full.door, full)
    open_tenancies: dict[int, tuple[str, int]] = {}  # tenancy -> (number, flat)

    def publish() -> None:
        for update in doors.rebuild(compound_ids=["P"]):
            broker.publish(update)

    for op, a, b in script:
        if op == "register":
            card = IdCardIn(id_number=NUMBERS[a], name="T")
            try:
                out = places.register_tenant(SYSTEM, flats[b], TenantIn(card=card), resource="t")
            except PlaceConflict:
                continue
            open_tenancies[out.tenant.tenancy_id] = (NUMBERS[a], flats[b])
        elif op == "check_out" and open_tenancies:
            tenancy = sorted(open_tenancies)[a % len(open_tenancies)]
            places.check_out(SYSTEM, tenancy, CheckOutIn(at=None), resource="t")
            del open_tenancies[tenancy]
        elif op == "lose":
            broker.lose_next.add(DOORS[a])
        elif op == "cut":
            broker.cut(DOORS[a])
        elif op == "reconnect":
            broker.reconnect(DOORS[a])
        elif op == "check":
            broker.check(DOORS[a])
        elif op == "publish":
            publish()

    publish()
    for door in DOORS:
        broker.reconnect(door)
        broker.check(door)  # a lost last delta is found at the next periodic check
    for door, controller in broker.controllers.items():
        server = doors.whitelist(door)
        assert isinstance(server, FullList)
        assert (controller.version, controller.digest) == (server.version, server.digest), door
    living: dict[str, set[int]] = {number: set() for number in NUMBERS}  # number -> flats lived in
    for number, flat in open_tenancies.values():
        living[number].add(flat)
    for number, lives_in in living.items():
        opens = tuple(broker.controllers[d].decide(number, T0)[0] for d in DOORS)
        expected = (bool(lives_in), bool(lives_in & set(flats[:2])), flats[2] in lives_in)
        assert opens == expected, (number, lives_in)


def test_rebuilds_racing_each_other_make_each_version_once(estate: tuple[Places, Doors, list[int]]) -> None:
    places, doors, flats = estate
    for n, number in enumerate(NUMBERS[:4]):
        card = IdCardIn(id_number=number, name="T")
        places.register_tenant(SYSTEM, flats[n % 3], TenantIn(card=card), resource="t")
        with ThreadPoolExecutor(4) as pool:  # four processes heard the same AccessChanged
            made = list(pool.map(lambda _: doors.rebuild(compound_ids=["P"]), range(4)))
        gate_updates = [u for updates in made for u in updates if u.full.door == "GATE"]
        assert len(gate_updates) == 1, "one version per change, whoever made it"
    gate = doors.whitelist("GATE")
    assert isinstance(gate, FullList)
    from_start = doors.whitelist("GATE", since=0)
    assert isinstance(from_start, Delta)
    assert (from_start.version, len(from_start.added), from_start.removed) == (gate.version, 4, [])
    assert digest(from_start.added) == gate.digest


class Recorded:
    """A publisher that keeps what it was given."""

    def __init__(self) -> None:
        self.fulls: list[FullList] = []
        self.deltas: list[Delta] = []
        self.on_session_lost = None

    def publish_full(self, full: FullList) -> None:
        self.fulls.append(full)

    def publish_delta(self, delta: Delta) -> None:
        self.deltas.append(delta)

    def publish_update(self, update: Update) -> None:
        self.publish_delta(update.delta)
        self.publish_full(update.full)

    async def start(self) -> None:
        """Nothing to connect."""

    def stop(self) -> None:
        """Nothing to disconnect."""


async def test_a_version_another_process_made_first_is_published_by_the_worker_with_the_broker(
    estate: tuple[Places, Doors, list[int]], backend: Platform
) -> None:
    places, doors, flats = estate
    recorded = Recorded()
    web = WhitelistSync(doors, EventHub(backend.bus), None, catch_up=True)  # a web worker: no broker
    ingest = WhitelistSync(doors, EventHub(backend.bus), cast(WhitelistPublisher, recorded), catch_up=True)
    await web.round()
    await ingest.round()  # at start: every door's list retained
    before = {f.door: f.version for f in recorded.fulls}
    assert set(before) == set(DOORS)
    card = IdCardIn(id_number=NUMBERS[0], name="T")
    places.register_tenant(SYSTEM, flats[0], TenantIn(card=card), resource="t")
    changed = AccessChanged(compound_id="P")
    web._heard(changed)
    ingest._heard(changed)
    assert {u.full.door for u in await web.round()} == {"GATE", "B-A"}  # the web worker was first
    assert await ingest.round() == []  # nothing left to rebuild here...
    published = {d.door: d for d in recorded.deltas if d.version > before[d.door]}
    assert set(published) == {"GATE", "B-A"}  # ...yet the change went out
    assert all(d.base == before[d.door] for d in published.values())
    assert {f.door for f in recorded.fulls if f.version > before[f.door]} == {"GATE", "B-A"}


async def test_an_access_change_naming_no_place_rebuilds_every_door(
    estate: tuple[Places, Doors, list[int]], backend: Platform
) -> None:
    places, doors, flats = estate
    sync = WhitelistSync(doors, EventHub(backend.bus), None, catch_up=False)
    doors.rebuild(everything=True)
    card = IdCardIn(id_number=NUMBERS[1], name="T")
    places.register_tenant(SYSTEM, flats[2], TenantIn(card=card), resource="t")
    sync._heard(AccessChanged())  # a bulk load of housing names no place
    assert {u.full.door for u in await sync.round()} == {"GATE", "B-B"}


async def test_the_sweep_rebuilds_the_compounds_whose_passes_ended_and_only_those(
    estate: tuple[Places, Doors, list[int]], backend: Platform
) -> None:
    places, doors, flats = estate
    card = IdCardIn(id_number=NUMBERS[2], name="V")
    tenancy = places.register_tenant(SYSTEM, flats[0], TenantIn(card=card), resource="t").tenant
    places.check_out(SYSTEM, tenancy.tenancy_id, CheckOutIn(at=None), resource="t")  # now only a visitor
    with transaction(backend.session_factory) as session:
        session.add(
            VisitorPass(
                compound_id="P",
                person_id=tenancy.person_id,
                valid_from=T0 - timedelta(hours=1),
                valid_until=T0 + timedelta(hours=1),
                registered_by="guard",
                registered_at=T0,
            )
        )
    doors.rebuild(everything=True)
    sync = WhitelistSync(doors, EventHub(backend.bus), None, catch_up=False)
    await sync._sweep()  # nothing has ended yet
    assert await sync.round() == []
    backend.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    await sync._sweep()
    updates = await sync.round()
    assert {u.full.door for u in updates} == set(DOORS)  # a pass to the compound: every door
    assert all(len(u.delta.removed) == 1 and not u.delta.added for u in updates)
    await sync._sweep()
    assert await sync.round() == []
