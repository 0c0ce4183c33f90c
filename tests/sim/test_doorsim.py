"""The demo's doors live: swipes decided by each door's own controller, warnings within seconds, a
tenant a landlord registers let in by their building's door seconds later, and no silent doors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest
from sqlalchemy import func, select

from safecity.alerts.models import Alert
from safecity.core.clock import AcceleratedClock, ManualClock
from safecity.core.ids import id_number_check_char
from safecity.driver import demo_doors, ensure_loaded, run_in_process
from safecity.places import bulk as places_bulk
from safecity.places.doors import Doors
from safecity.platform import Platform
from safecity.security import accounts
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.sim.doorlife import door_life
from safecity.sim.doorsim import HEARTBEAT, PLAN, DemoDoors, _Timeline
from safecity.store import transaction
from safecity.web.app import create_app
from tests.authn import mint

# Faster than `safecity demo` (30x): half a minute here is 45 simulated minutes, past the
# offline rule's 15, so a door that never beat would be reported within the test.
SPEEDUP = 90.0
HOUSING_RULES = {"housing-denied-attempts", "housing-unknown-card", "wanted-person-at-door"}
NEWCOMER = "33030219950615121" + id_number_check_char("33030219950615121")


@dataclass
class Demo:
    """The tiny city's platform with its bikes and doors live."""

    platform: Platform
    doors: DemoDoors
    began: float


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    """The demo on the tiny city, as `safecity demo` runs it, stopped after the test."""
    settings = Settings(data_dir=tmp_path)
    clock = AcceleratedClock(datetime.now(UTC), SPEEDUP)
    platform = Platform.build(settings, clock=clock)
    city = ensure_loaded(platform, seed=7, scale="tiny")
    platform = Platform.build(settings, clock=clock)  # with the city's bounds
    await platform.start()
    doors = demo_doors(platform, city, seed=7)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    began = loop.time()
    simulation = asyncio.create_task(
        run_in_process(
            platform, city=city, speedup=SPEEDUP, thefts_per_hour=6.0, seed=7, stop=stop, doors=doors
        )
    )
    try:
        yield Demo(platform, doors, began)
    finally:
        stop.set()
        await asyncio.wait_for(simulation, timeout=30)
        await platform.stop()


@dataclass
class Still:
    """The tiny city loaded into a platform on a clock that moves only when told."""

    platform: Platform
    clock: ManualClock
    doors: DemoDoors


@pytest.fixture
def still(tmp_path: Path) -> Still:
    """The tiny city's doors on a manual clock (nothing runs by itself)."""
    settings = Settings(data_dir=tmp_path)
    clock = ManualClock(datetime(2026, 12, 7, 9, 30, tzinfo=UTC))  # 17:30 in Wenzhou
    platform = Platform.build(settings, clock=clock)
    city = ensure_loaded(platform, seed=7, scale="tiny")
    platform = Platform.build(settings, clock=clock)
    return Still(platform, clock, demo_doors(platform, city, seed=7))


def test_a_plan_keeps_to_its_day_and_brings_one_incident_of_each_early_kind_to_the_start(
    still: Still,
) -> None:
    start = still.clock.now() - timedelta(minutes=45)
    timeline = still.doors.plan(start, 0)
    first, end = int(start.timestamp() * 1000), int((start + PLAN).timestamp() * 1000)
    assert len(timeline.ts_ms) > 100
    assert first <= timeline.ts_ms.min() and timeline.ts_ms.max() < end
    assert (timeline.ts_ms[:-1] <= timeline.ts_ms[1:]).all()
    life = door_life(still.doors.tables, start=start, days=1, seed=7, plants=1, focus=still.doors.focus)
    [stranger] = life.truth.filter(pl.col("rule_kind") == "housing_unknown_card")["refs"][0].to_list()
    now_ms = int(still.clock.now().timestamp() * 1000)
    for card, swipes in ((stranger[5:], 3), (life.wanted["id_number"][0], 1)):
        soon = [
            ms
            for ms, c in zip(timeline.ts_ms, timeline.cards, strict=True)
            if c == card and now_ms <= ms <= now_ms + 90_000
        ]
        assert len(soon) >= swipes, card  # within the first minute and a half of the live run
    # Every controller holds its door's current list, the planted passes included.
    heads = still.platform.service(Doors).versions(everything=True)
    assert {d: c.version for d, c in still.doors.controllers.items()} == heads


async def test_each_door_beats_once_a_period_and_its_swipes_are_decided_by_its_own_list(
    still: Still,
) -> None:
    platform, doors = still.platform, still.doors
    await platform.start()
    try:
        doors.refresh()
        tenants = doors.tables["tenancies"].join(doors.tables["people"], on="person_id")
        tenant = tenants.row(0, named=True)
        door = next(
            d
            for d, b in doors.tables["doors"].select("device_id", "building_id").iter_rows()
            if b == tenant["building_id"]
        )
        stranger = "37010219920605046" + id_number_check_char("37010219920605046")
        now_ms = int(still.clock.now().timestamp() * 1000)
        timeline = _Timeline(
            np.array([now_ms - 2000, now_ms - 1000]), [door, door], [tenant["id_number"], stranger]
        )
        sent = await doors.step(timeline, now_ms)  # the backlog: one beat a door, whenever they fell due
        assert sent == len(doors.controllers) + 2
        for _ in range(180):  # half an hour, ten seconds at a time
            still.clock.advance(timedelta(seconds=10))
            await doors.step(timeline, int(still.clock.now().timestamp() * 1000))
        assert doors.controllers[door].buffered == 0  # stored: acknowledged
        records = platform.lake.scan(
            start=still.clock.now() - timedelta(hours=1), end=still.clock.now()
        ).collect()
        swipes = records.filter(pl.col("kind") == "door_swipe").sort("ts")
        assert swipes["code"].to_list() == ["granted", "denied"]
        assert [json.loads(a)["reason"] for a in swipes["attrs"]] == ["listed", "not_listed"]
        beats = records.filter(pl.col("kind") == "heartbeat").group_by("device").len()
        assert set(beats["device"]) == set(doors.controllers)
        period_min = HEARTBEAT.total_seconds() / 60
        # The backlog's one beat, then one a period over the half hour: never a silent quarter.
        assert beats["len"].min() >= 30 // period_min, beats
        assert beats["len"].max() <= 30 // period_min + 1, beats
    finally:
        await platform.stop()


def _alerts(platform: Platform) -> dict[str, int]:
    with platform.session_factory() as session:
        rows = session.execute(select(Alert.rule, func.count()).group_by(Alert.rule))
        return {str(rule): int(n) for rule, n in rows}


def _swipes(platform: Platform) -> pl.DataFrame:
    now = platform.clock.now()
    records = platform.lake.scan(start=now - timedelta(days=2), end=now + timedelta(hours=1)).collect()
    return records.filter(pl.col("kind") == "door_swipe")


@pytest.mark.slow
async def test_the_demo_doors_swipe_warn_within_seconds_and_every_door_is_heard(demo: Demo) -> None:
    loop = asyncio.get_running_loop()
    warned_s = None
    while loop.time() - demo.began < 25:
        if warned_s is None and HOUSING_RULES & set(_alerts(demo.platform)):
            warned_s = loop.time() - demo.began
        await asyncio.sleep(0.5)  # on past the offline rule's silence (15 simulated minutes)
    alerts = _alerts(demo.platform)
    assert warned_s is not None and warned_s < 10, (warned_s, alerts)
    assert set(alerts) >= HOUSING_RULES, alerts  # the planted incidents moved into the warm-up
    swipes = _swipes(demo.platform)
    assert swipes.height >= 10
    assert set(swipes["source"]) == {"sim"}
    assert {"granted", "denied"} <= set(swipes["code"])
    reasons = {json.loads(a)["reason"] for a in swipes["attrs"]}
    assert {"listed", "not_listed"} <= reasons  # the controllers' own decisions
    assert alerts.get("door-controller-offline", 0) == 0, alerts
    assert demo.doors.stats.heartbeats >= len(demo.doors.controllers)
    assert demo.doors.stats.refused_parts == 0


async def _landlord_flat(platform: Platform, doors: DemoDoors) -> tuple[dict[str, str], int, str]:
    """A landlord account for the landlord of a flat in a building with a door: its headers, flat, door."""
    entrances = doors.tables["doors"].filter(pl.col("building_id").is_not_null())
    flats = doors.tables["flats"].join(entrances.select("building_id", "device_id"), on="building_id")
    flat = flats.row(0, named=True)
    headers = mint(platform.security, Role.LANDLORD, username="li.ming")
    with transaction(platform.session_factory) as session:
        account = accounts.find_account(session, "li.ming")
        places_bulk.give_account(session, landlord_id=int(flat["landlord_id"]), account_id=account.id)
    return headers, int(flat["id"]), str(flat["device_id"])


@pytest.mark.slow
async def test_a_tenant_a_landlord_registers_is_let_in_by_the_simulated_door_seconds_later(
    demo: Demo,
) -> None:
    platform, doors = demo.platform, demo.doors
    headers, flat_id, door = await _landlord_flat(platform, doors)
    controller = doors.controllers[door]
    assert controller.decide(NEWCOMER, platform.clock.now()) == (False, "not_listed")
    card = {
        "id_number": NEWCOMER,
        "name": "陈平",
        "sex": "男",
        "ethnicity": "汉",
        "birth_date": NEWCOMER[6:14],
        "address": "浙江省温州市鹿城区五马街1号",
        "issuing_authority": "温州市公安局鹿城分局",
        "valid_from": "20150101",
        "valid_until": "长期",
    }
    app = create_app(platform, manage_platform=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo") as client:
        answer = await client.post(f"/api/v1/flats/{flat_id}/tenants", json={"card": card}, headers=headers)
    assert answer.status_code == 201, answer.text
    loop = asyncio.get_running_loop()
    registered = loop.time()
    while not controller.decide(NEWCOMER, platform.clock.now())[0] and loop.time() - registered < 10:
        await asyncio.sleep(0.1)
    on_list_s = loop.time() - registered
    assert controller.decide(NEWCOMER, platform.clock.now()) == (True, "listed")
    assert on_list_s < 5, f"the tenant reached the door after {on_list_s:.1f} s"
    # And they come home: their swipe at the building's door is granted and stored.
    subject = platform.pseudonyms.pseudonym(NEWCOMER)
    mine = pl.DataFrame()
    while mine.is_empty() and loop.time() - registered < 15:
        await asyncio.sleep(0.25)
        mine = _swipes(platform).filter((pl.col("subject") == subject) & (pl.col("device") == door))
    assert mine["code"].to_list()[:1] == ["granted"], mine
