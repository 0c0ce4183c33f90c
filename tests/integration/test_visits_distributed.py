"""The visit list distributed: PostgreSQL registry, NATS JetStream bus.

A housing warning raised while the platform runs reaches the visit worker over NATS and becomes a
task; one raised while no platform ran (its notice never published) becomes a task when the next
platform starts and catches up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from tests.conftest import T0
from tests.servicecheck import require_service

from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.core.finding import Evidence, Finding, Ref
from safecity.places import Places, VisitFilter, Visits
from safecity.places.schemas import BuildingIn, CompoundIn, FlatIn
from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.settings import Settings
from safecity.store import transaction

pytestmark = pytest.mark.integration


def _finding(n: int, flat_id: int) -> Finding:
    evidence = Evidence(
        event_id=f"ev-nats-{n}",
        corr_id=f"corr-nats-{n}",
        kind="door_swipe",
        subject=f"1.{n:032x}",
        device="DOOR-N",
        ts=T0,
        lat=None,
        lon=None,
        area="C1",
    )
    return Finding(
        rule="housing-dormant-tenant",
        rule_kind="housing_dormant_tenant",
        severity="medium",
        title="Registered tenant has not swiped for 14 days",
        subject_kind="flat",
        subject=str(flat_id),
        dedup_key=f"nats-{n}",
        at=T0,
        evidence=(evidence,),
        refs=(Ref("compound", "CPN"), Ref("flat", str(flat_id))),
    )


async def _tasks_for(platform: Platform, alert_ids: set[str], timeout_s: float = 15.0) -> set[str]:
    visits = platform.service(Visits)
    deadline = time.monotonic() + timeout_s
    while True:
        listed = await asyncio.to_thread(visits.tasks, SYSTEM, VisitFilter(status="all"), resource="test")
        found = {t.alert_id for p in listed.places for f in p.flats for t in f.tasks}
        if alert_ids <= found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_housing_warnings_become_visits_over_nats_and_after_a_restart(
    tmp_path: Path, empty_postgres_url: str
) -> None:
    require_service("127.0.0.1", 4222, "NATS")
    settings = Settings(
        data_dir=tmp_path,
        database_url=empty_postgres_url,
        bus="nats",
        nats_stream=f"SCVISIT{uuid.uuid4().hex[:8]}",
    )
    clock = ManualClock(T0 + timedelta(minutes=1))
    platform = Platform.build(settings, clock=clock)
    with transaction(platform.session_factory) as session:
        session.add(Area(id="C1", kind="community", name="五马社区"))
    places = platform.service(Places)
    places.add_compound(SYSTEM, CompoundIn(id="CPN", name="蝉街小区", community_id="C1"), resource="setup")
    places.add_building(SYSTEM, BuildingIn(id="BN", compound_id="CPN", name="3号楼"), resource="setup")
    flat = places.add_flat(SYSTEM, FlatIn(building_id="BN", number="3-201", capacity=2), resource="setup")

    await platform.start()
    try:
        [live] = await asyncio.to_thread(platform.alerts.apply_findings, [_finding(1, flat.id)])
        assert live.alert_id in await _tasks_for(platform, {live.alert_id})
    finally:
        await platform.stop()

    # Raised while nothing runs: its notice has no loop to be published on, so no worker hears of it.
    stopped = Platform.build(settings, clock=clock)
    [missed] = stopped.alerts.apply_findings([_finding(2, flat.id)])
    stopped.engine.dispose()

    restarted = Platform.build(settings, clock=clock)
    await restarted.start()
    try:
        found = await _tasks_for(restarted, {missed.alert_id})
        assert found == {live.alert_id, missed.alert_id}  # caught up once, the first not made twice
    finally:
        await restarted.stop()
