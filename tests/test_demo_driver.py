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


async def test_the_demo_writes_the_texts_people_are_sent_to_its_sms_file(tmp_path: Path) -> None:
    """A bike registered to someone already registered sends them a code; the demo's gateway writes it."""
    from safecity import registry
    from safecity.core.context import Context
    from safecity.driver import deliver_texts, sms_file
    from safecity.store import transaction

    platform = Platform.build(Settings(data_dir=tmp_path))
    now = platform.clock.now()
    with transaction(platform.session_factory) as session:
        registry.get_or_create_person(
            session,
            id_number="11010519491231002X",
            name="Zhang Wei",
            phone="13800138000",
            now=now,
            pseudonymize=platform.pseudonyms.pseudonym,
        )
    clerk = Context(
        actor="clerk",
        role="committee_worker",
        unit="Wuma Committee",
        permissions=frozenset({"bikes.register"}),
    )
    reg = registry.BikeRegistration("00A1B2C3D4", "F-1", "Yadea", "red", "11010519491231002X", "Someone")
    bike = platform.registry.register_bike(clerk, reg, resource="test")
    assert bike.owner_pending == "code_sent"
    stop = asyncio.Event()
    task = asyncio.create_task(deliver_texts(platform, stop, every_s=0.05))
    for _ in range(100):
        if sms_file(platform).exists() and sms_file(platform).read_text(encoding="utf-8"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    [line] = sms_file(platform).read_text(encoding="utf-8").splitlines()
    assert "to 13800138000: safecity: Wuma Committee registered an e-bike (red Yadea, frame F-1)" in line
    assert oct(sms_file(platform).stat().st_mode & 0o777) == "0o600"
    platform.engine.dispose()


def test_the_demo_city_has_housing_and_a_landlord_account_who_lets_flats_there(tmp_path: Path) -> None:
    """`make demo` loads compounds, doors and tenants; its landlord lets flats where `community` works."""
    from safecity.core.context import Context
    from safecity.driver import seed_demo_accounts
    from safecity.places import Places
    from safecity.places import bulk as places_bulk
    from safecity.places.shops import Shops
    from safecity.security import accounts

    platform = Platform.build(Settings(data_dir=tmp_path))
    ensure_loaded(platform, seed=7, scale="tiny")
    ensure_loaded(platform, seed=7, scale="tiny")  # a second start finds everything loaded
    created = {a.username: a for a in seed_demo_accounts(platform)}
    assert created["landlord"].reach == "own flats"
    with platform.session_factory() as session:
        landlord = accounts.find_account(session, "landlord")
        community = accounts.find_account(session, "community")
        community_areas = set(community.areas)
    ctx = Context(actor="landlord", role="landlord", account_id=landlord.id)
    flats = platform.service(Places).flats(ctx)
    assert flats and sum(f.tenants for f in flats) > 0
    officer = Context(actor="community", role="community_officer", areas=frozenset(community_areas))
    compounds = {c.id: c for c in platform.service(Places).compounds(officer)}
    assert {f.compound_id for f in flats} & set(compounds)  # a sub-landlord may let elsewhere too
    # The shopkeeper owns a shop where `community` works, and sees it (and only it) on /shop.
    assert created["shopkeeper"].reach == "own shop"
    with platform.session_factory() as session:
        shopkeeper = accounts.find_account(session, "shopkeeper")
    mine = platform.service(Shops).shops(
        Context(actor="shopkeeper", role="shop_owner", account_id=shopkeeper.id)
    )
    assert len(mine) == 1 and mine[0].community_id in community_areas
    with platform.session_factory() as session:
        held = places_bulk.counts(session)
    # Smart communities: a panel with two zones and a gate camera per compound, residents' cars.
    assert held["alarm_zones"] == 2 * held["compounds"] and held["vehicles"] > 0
