"""Shops over HTTP and as use cases: officers register them in their areas, owners arm and disarm only
their own, every change is audited, and business hours arm and disarm them on the platform's clock."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM, Context
from safecity.core.worker import Every
from safecity.places.capability import CAPABILITY
from safecity.places.models import Shop
from safecity.places.shops import SCHEDULE, Shops
from safecity.platform import Platform
from safecity.registry import RegistryChanged
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.models import Account
from safecity.store import transaction
from safecity.web.app import create_app
from tests.conftest import T0
from tests.places.shopfix import EVERY_DAY, shop_body, shop_world
from tests.web.conftest import fresh_platform


def _audit(platform: Platform, action: str) -> list[audit.AuditRecord]:
    with platform.session_factory() as session:
        return audit.search(session, AuditFilter(action=action))


def test_an_officer_registers_a_shop_that_only_its_owner_sees_as_theirs(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform)

    [mine] = api.get("/api/v1/my/shops", headers=world.owner).json()
    assert (mine["id"], mine["name"], mine["armed"], mine["open_now"]) == (
        world.shop_id,
        "五马街金店",
        False,
        None,
    )
    assert api.get("/api/v1/my/shops", headers=world.other_owner).json() == []
    assert [s["id"] for s in api.get("/api/v1/shops", headers=world.officer).json()] == [world.shop_id]
    assert api.get("/api/v1/shops", headers=world.far_officer).json() == []
    [entry] = _audit(platform, "shops.register")
    assert json.loads(entry.detail) == {"shop": world.shop_id}


def test_an_officer_may_not_register_a_shop_outside_their_areas(api: TestClient, platform: Platform) -> None:
    world = shop_world(api, platform)
    answer = api.post("/api/v1/shops", json=shop_body(name="Far shop"), headers=world.far_officer)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "outside_area"
    assert len(api.get("/api/v1/shops", headers=world.officer).json()) == 1


def test_bad_shop_input_is_refused_by_field(api: TestClient, platform: Platform) -> None:
    world = shop_world(api, platform)
    cases = [
        ({"business_hours": {"mon": ["25:00", "21:00"]}}, 422, "business_hours"),
        ({"business_hours": {"funday": ["09:00", "21:00"]}}, 422, "business_hours"),
        ({"business_hours": {"mon": "09:00-21:00"}}, 422, "business_hours"),
        ({"owner_id_number": "330302198505051231"}, 422, "owner_id_number"),  # wrong check digit
        ({"owner_account": "li.ming"}, 422, "owner_account"),  # no such account
        ({"owner_phone": "12345"}, 422, "owner_phone"),
        ({"community_id": "C9"}, 403, "area"),  # unknown to this officer: outside their areas
    ]
    for over, status, field in cases:
        answer = api.post("/api/v1/shops", json=shop_body(**over), headers=world.officer)
        assert answer.status_code == status, (over, answer.text)
        assert answer.json()["error"]["field"] == field, (over, answer.text)
    assert len(api.get("/api/v1/shops", headers=world.officer).json()) == 1


def test_an_owner_arms_and_disarms_their_shop_and_each_change_is_audited(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform)
    path = f"/api/v1/shops/{world.shop_id}"

    armed = api.post(f"{path}/arm", headers=world.owner).json()
    again = api.post(f"{path}/arm", headers=world.owner).json()
    disarmed = api.post(f"{path}/disarm", headers=world.owner).json()

    assert (armed["changed"], armed["shop"]["armed"], armed["shop"]["armed_changed_by"]) == (
        True,
        True,
        "zhao.shop",
    )
    assert (again["changed"], again["shop"]["armed"]) == (False, True)
    assert (disarmed["changed"], disarmed["shop"]["armed"]) == (True, False)
    arms = _audit(platform, "shops.arm")
    assert [(r.actor, json.loads(r.detail)["changed"]) for r in arms] == [
        ("zhao.shop", False),
        ("zhao.shop", True),
    ]
    assert [r.actor for r in _audit(platform, "shops.disarm")] == ["zhao.shop"]


def test_an_owner_may_not_touch_another_owners_shop(api: TestClient, platform: Platform) -> None:
    world = shop_world(api, platform)
    path = f"/api/v1/shops/{world.shop_id}"
    for answer in (
        api.post(f"{path}/arm", headers=world.other_owner),
        api.put(f"{path}/schedule", json={"business_hours": EVERY_DAY}, headers=world.other_owner),
    ):
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["field"] == "shop_id"
    assert api.post("/api/v1/shops/9999/arm", headers=world.owner).status_code == 404
    [shop] = api.get("/api/v1/my/shops", headers=world.owner).json()
    assert (shop["armed"], shop["business_hours"]) == (False, None)
    with platform.session_factory() as session:
        refused = audit.search(session, AuditFilter(actor="qian.shop", outcome="refused"))
    assert sorted(r.resource for r in refused) == [f"POST {path}/arm", f"PUT {path}/schedule"]


def test_an_owner_sets_the_hours_which_are_kept_in_week_order(api: TestClient, platform: Platform) -> None:
    world = shop_world(api, platform)
    hours = {"sat": ["10:00", "02:00"], "mon": ["08:30", "21:00"]}
    answer = api.put(
        f"/api/v1/shops/{world.shop_id}/schedule", json={"business_hours": hours}, headers=world.owner
    )
    assert answer.status_code == 200, answer.text
    assert list(answer.json()["business_hours"].items()) == [
        ("mon", ["08:30", "21:00"]),
        ("sat", ["10:00", "02:00"]),
    ]
    [entry] = _audit(platform, "shops.schedule")
    assert entry.actor == "zhao.shop"


def test_the_schedule_arms_at_closing_and_disarms_at_opening_on_the_platform_clock(
    api: TestClient, platform: Platform
) -> None:
    # T0 is Sunday 16:00 in Wenzhou (08:00 UTC): open, so registration leaves the shop disarmed.
    world = shop_world(api, platform, business_hours=EVERY_DAY)
    shops = platform.service(Shops)
    clock = platform.clock
    assert isinstance(clock, ManualClock)

    def state() -> tuple[bool, str | None]:
        [shop] = shops.shops(_owner_ctx(platform, "zhao.shop"))
        return shop.armed, shop.armed_changed_by

    assert shops.apply_schedule() == {}
    assert state() == (False, None)
    clock.set(T0 + timedelta(hours=5, minutes=1))  # 21:01 local: closed
    assert shops.apply_schedule() == {world.shop_id: True}
    assert state() == (True, SCHEDULE)
    assert shops.apply_schedule() == {}  # nothing twice
    # The owner stays late and disarms by hand: the schedule leaves that until the next boundary.
    clock.advance(timedelta(minutes=10))
    owner = _owner_ctx(platform, "zhao.shop")
    assert shops.arm(owner, world.shop_id, armed=False, resource="test").changed
    clock.advance(timedelta(hours=1))
    assert shops.apply_schedule() == {}
    assert state() == (False, "zhao.shop")
    clock.set(T0 + timedelta(hours=17, minutes=1))  # Monday 09:01: opening, already disarmed
    assert shops.apply_schedule() == {}
    clock.set(T0 + timedelta(days=1, hours=5, minutes=1))  # Monday 21:01: closing again
    assert shops.apply_schedule() == {world.shop_id: True}
    [run, _] = _audit(platform, "shops.schedule_run")
    assert (run.actor, json.loads(run.detail)) == ("system", {"armed": [world.shop_id], "disarmed": []})


def test_a_shop_registered_while_closed_is_armed_at_once(api: TestClient, platform: Platform) -> None:
    platform.clock.set(T0 + timedelta(hours=6))  # type: ignore[attr-defined]  # 22:00 local
    world = shop_world(api, platform, business_hours=EVERY_DAY)
    [shop] = api.get("/api/v1/my/shops", headers=world.owner).json()
    assert (shop["armed"], shop["armed_changed_by"], shop["open_now"]) == (True, SCHEDULE, False)


def test_the_capability_runs_the_schedule_as_a_worker(platform: Platform) -> None:
    assert CAPABILITY.build is not None
    [worker] = [w for w in CAPABILITY.build(platform) if w.name == "shop-schedule"]
    assert isinstance(worker, Every)
    assert worker.interval_s == 30
    assert worker.step == platform.service(Shops).apply_schedule


def _owner_ctx(platform: Platform, username: str) -> Context:
    """The context a shop owner's request carries."""
    with platform.session_factory() as session:
        account = session.scalars(select(Account).where(Account.username == username)).one()
        return platform.security.principal_of(account, session_id=None).context()


def test_a_shop_with_unreadable_stored_hours_does_not_stop_the_schedule_for_the_others(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform, business_hours=EVERY_DAY)
    other = api.post(
        "/api/v1/shops", json=shop_body(name="Second", business_hours=EVERY_DAY), headers=world.officer
    ).json()["id"]

    with transaction(platform.session_factory) as session:
        broken = session.get(Shop, world.shop_id)
        assert broken is not None
        broken.business_hours = {"mon": ["soon", "later"]}  # written around the use cases
    platform.clock.set(T0 + timedelta(hours=6))  # type: ignore[attr-defined]  # 22:00 local

    assert platform.service(Shops).apply_schedule() == {other: True}
    shown = {s.id: s.open_now for s in platform.service(Shops).shops(SYSTEM)}
    assert shown == {world.shop_id: None, other: False}


def test_arming_tells_the_shops_facts_and_not_the_housing_caches(api: TestClient, platform: Platform) -> None:
    world = shop_world(api, platform)
    heard: list[str] = []
    platform.hub.on(RegistryChanged, lambda event: heard.append(event.what))
    shops = platform.facts.source("shops")
    assert not shops.view().shops["armed"][0]

    api.post(f"/api/v1/shops/{world.shop_id}/arm", headers=world.owner)

    assert heard == ["shops"]
    assert shops.view().shops["armed"][0]


def test_the_running_platform_arms_a_shop_at_closing_time(schema_db: Path, tmp_path: Path) -> None:
    platform = fresh_platform(schema_db, tmp_path, shop_schedule_interval_s=0.05)
    with TestClient(create_app(platform), raise_server_exceptions=False) as api:
        shop_world(api, platform, business_hours=EVERY_DAY)
        platform.clock.set(T0 + timedelta(hours=5, minutes=1))  # type: ignore[attr-defined]  # 21:01 local
        deadline = time.monotonic() + 30  # a loaded machine; the loop ends as soon as it is armed
        while not platform.service(Shops).shops(SYSTEM)[0].armed:
            assert time.monotonic() < deadline, "the schedule worker did not arm the shop"
            time.sleep(0.02)
    assert platform.service(Shops).shops(SYSTEM)[0].armed_changed_by == SCHEDULE


def test_an_officer_asking_for_another_communitys_shops_is_refused(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform)
    assert api.get("/api/v1/shops", params={"community_id": "C2"}, headers=world.officer).status_code == 403
    [mine] = api.get("/api/v1/shops", params={"community_id": "C1"}, headers=world.officer).json()
    assert mine["id"] == world.shop_id
