"""Shops and device health on the real PostgreSQL: hours stored as JSON, the schedule, the breach rule's
facts, shop staff on the door and the health query's outer joins behave as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from tests.conftest import T0
from tests.places.conftest import _areas
from tests.places.shopfix import DOOR_ID, EVERY_DAY, add_door, id_number
from tests.places.test_shop_rule import batch, record
from tests.web.conftest import fresh_platform

from safecity.core.context import SYSTEM
from safecity.core.record import RECORD_SCHEMA
from safecity.places import Doors, PlaceConflict
from safecity.places.health import DeviceHealth
from safecity.places.health_schemas import Level
from safecity.places.schemas import IdCardIn
from safecity.places.shop_rule import ShopBreachRule
from safecity.places.shop_schemas import ShopIn, StaffIn
from safecity.places.shop_staff import ShopStaffRoster
from safecity.places.shops import Shops
from safecity.platform import Platform
from safecity.rules import RuleConfig

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_platform(tmp_path: Path, empty_postgres_url: str) -> Iterator[Platform]:
    """A platform on a fresh PostgreSQL database, migrated, at T0."""
    platform = fresh_platform(tmp_path / "unused.db", tmp_path, database_url=empty_postgres_url)
    yield platform
    platform.engine.dispose()


def test_a_shop_is_scheduled_watched_and_counted_on_postgresql(pg_platform: Platform) -> None:
    platform = pg_platform
    _areas(platform)
    shops = platform.service(Shops)
    body = ShopIn(
        name="五马街金店",
        community_id="C1",
        owner_id_number=id_number(3),
        owner_name="赵店主",
        business_hours=EVERY_DAY,
    )
    shop = shops.register(SYSTEM, body, resource="t")
    add_door(platform, shop.id)
    assert (shop.armed, shop.open_now, shop.business_hours) == (False, True, EVERY_DAY)

    platform.clock.set(T0 + timedelta(hours=5, minutes=1))  # type: ignore[attr-defined]  # 21:01 local
    assert shops.apply_schedule() == {shop.id: True}
    forced = record(1, "alarm", "door_forced", at=T0 + timedelta(hours=5, minutes=2))
    rule = ShopBreachRule(RuleConfig(name="b", kind="shop_armed_breach"))
    [finding] = rule.evaluate(batch(forced), platform.facts, platform.clock.now())
    assert finding.facts["armed_by"] == "schedule"

    platform.lake.append(pl.DataFrame([forced], schema=RECORD_SCHEMA))
    out = platform.service(DeviceHealth).figures(SYSTEM, level=Level.COMMUNITY, resource="t")
    [row] = out.rows
    assert (row.key, row.doors, row.openings, row.by_swipe, row.swipe_rate) == ("C1", 1, 1, 0, 0.0)
    assert [d.device for d in out.dragging if d.reason == "unswiped"] == [DOOR_ID]


def test_shop_staff_open_the_door_and_are_named_at_an_armed_shop_on_postgresql(pg_platform: Platform) -> None:
    platform = pg_platform
    _areas(platform)
    shop = platform.service(Shops).register(
        SYSTEM,
        ShopIn(name="药店", community_id="C1", owner_id_number=id_number(4), owner_name="孙店主"),
        resource="t",
    )
    add_door(platform, shop.id)
    roster = platform.service(ShopStaffRoster)
    staff_number = id_number(31)
    until = T0 + timedelta(days=30)
    body = StaffIn(card=IdCardIn(id_number=staff_number, name="钱店员"), until=until)
    member = roster.add(SYSTEM, shop.id, body, resource="t")
    with pytest.raises(PlaceConflict):
        roster.add(SYSTEM, shop.id, body, resource="t")

    doors = platform.service(Doors)
    doors.rebuild(shop_ids=[shop.id])
    # An entry with an end is told apart by its validity only: the door reports it as a visitor's.
    assert doors.decide(DOOR_ID, staff_number, at=T0)[:2] == (True, "visitor")
    assert doors.decide(DOOR_ID, staff_number, at=until)[:2] == (False, "expired")

    platform.service(Shops).arm(SYSTEM, shop.id, armed=True, resource="t")
    card = platform.pseudonyms.pseudonym(staff_number)
    swipe = record(1, "door_swipe", "granted", at=T0 + timedelta(minutes=1), subject=card)
    rule = ShopBreachRule(RuleConfig(name="b", kind="shop_armed_breach"))
    [finding] = rule.evaluate(batch(swipe), platform.facts, T0 + timedelta(minutes=1))
    assert finding.facts["staff"] == ["钱店员"]

    roster.remove(SYSTEM, shop.id, member.id, resource="t")
    doors.rebuild(shop_ids=[shop.id])
    assert doors.decide(DOOR_ID, staff_number, at=T0)[:2] == (False, "not_listed")
    assert [m.removed_at is not None for m in roster.staff(SYSTEM, shop.id, ended=True, resource="t")] == [
        True
    ]
