"""Unit positions follow the unit_fix sightings on the record stream (the bus the rules read too)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity.bus import RECORDS, MemoryBus
from safecity.core.clock import ManualClock
from safecity.core.record import RECORD_SCHEMA
from safecity.dispatch.positions import UnitPositions, latest_fixes
from tests.dispatch.dispatch_city import DISPATCHER, Centre, build_centre
from tests.dispatch.roadkit import position

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def centre(session_factory: sessionmaker[Session], clock: ManualClock) -> Centre:
    return build_centre(session_factory, clock)


def _records(rows: list[tuple[str, str, float, float, int]], clock: ManualClock) -> pl.DataFrame:
    """Records of (kind, subject, lat, lon, seconds after now)."""
    base = {name: [None] * len(rows) for name in RECORD_SCHEMA}
    base["event_id"] = [f"e{n}" for n in range(len(rows))]
    base["kind"] = [r[0] for r in rows]
    base["subject"] = [r[1] for r in rows]
    base["lat"] = [r[2] for r in rows]
    base["lon"] = [r[3] for r in rows]
    base["ts"] = [clock.now() + timedelta(seconds=r[4]) for r in rows]
    return pl.DataFrame(base, schema=RECORD_SCHEMA)


def test_the_newest_fix_of_each_unit_in_a_batch_moves_it(centre: Centre) -> None:
    clock = centre.clock
    batch = _records(
        [
            ("unit_fix", "P1", *position(0, 1), 1),
            ("unit_fix", "P1", *position(0, 2), 3),  # the newest of P1
            ("unit_fix", "P1", *position(0, 1.5), 2),
            ("rfid_read", "A1B2C3D4", *position(3, 3), 4),
            ("unit_fix", "P2", *position(1, 3), 2),
            ("unit_fix", "NO-SUCH-UNIT", *position(1, 1), 2),
        ],
        clock,
    )
    fixes = latest_fixes(batch)
    assert fixes.sort("subject")["subject"].to_list() == ["NO-SUCH-UNIT", "P1", "P2"]
    assert latest_fixes(_records([("rfid_read", "A1B2C3D4", 0.0, 0.0, 0)], clock)).height == 0

    async def flow() -> None:
        bus = MemoryBus()
        worker = asyncio.create_task(UnitPositions(bus, centre.units).run())
        await asyncio.sleep(0.05)  # subscribed
        await bus.publish(RECORDS, batch)
        async with asyncio.timeout(10):
            while centre.units.get(DISPATCHER, "P2").lat is None:
                await asyncio.sleep(0.02)
        worker.cancel()

    asyncio.run(flow())
    p1 = centre.units.get(DISPATCHER, "P1")
    assert (p1.lat, p1.lon) == pytest.approx(position(0, 2))
    assert p1.fix_at == clock.now() + timedelta(seconds=3)
    assert centre.units.get(DISPATCHER, "P2").lat == pytest.approx(position(1, 3)[0])
