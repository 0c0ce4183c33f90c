"""Shop staff over HTTP: the owner (or an officer of the area) adds and removes them, each refusal names
its field, everything is audited, and the staff's cards reach the shop's door like a tenant's."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from safecity.bus.hub import EventHub
from safecity.core.context import SYSTEM
from safecity.places import Doors
from safecity.places.schemas import IdCardIn
from safecity.places.shop_schemas import ShopIn, StaffIn
from safecity.places.shop_staff import ShopStaffRoster
from safecity.places.shops import Shops
from safecity.places.sync import WhitelistSync
from safecity.places.whitelist import Delta, apply, by_key, card_key, digest
from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from tests.conftest import T0
from tests.places.conftest import _areas
from tests.places.shopfix import DOOR_ID, ShopWorld, add_door, id_number, shop_world
from tests.places.test_doors import eventually, fetch, full, holds

STAFF_NUMBER = id_number(21)
STAFF_NAME = "钱店员"


def staff_body(**over: Any) -> dict[str, Any]:
    """A staff member as the owner types them in."""
    card = {"id_number": STAFF_NUMBER, "name": STAFF_NAME, **over.pop("card", {})}
    return {"card": card, "via": "typed", **over}


def add(api: TestClient, world: ShopWorld, headers: dict[str, str] | None = None, **over: Any) -> Any:
    """Add the staff member to the shop; the answer."""
    return api.post(
        f"/api/v1/shops/{world.shop_id}/staff", json=staff_body(**over), headers=headers or world.owner
    )


def _audit(platform: Platform, action: str) -> list[audit.AuditRecord]:
    with platform.session_factory() as session:
        return audit.search(session, AuditFilter(action=action))


def test_an_owner_adds_lists_and_removes_staff_and_each_step_is_audited(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform)

    added = add(api, world, until=(T0 + timedelta(days=90)).isoformat())
    assert added.status_code == 201, added.text
    member = added.json()
    assert (member["name"], member["id_number"], member["added_by"]) == (
        STAFF_NAME,
        "330302********" + STAFF_NUMBER[-4:],
        "zhao.shop",
    )
    [listed] = api.get(f"/api/v1/shops/{world.shop_id}/staff", headers=world.owner).json()
    assert listed["id"] == member["id"]
    assert [
        m["id"] for m in api.get(f"/api/v1/shops/{world.shop_id}/staff", headers=world.officer).json()
    ] == [member["id"]]

    removed = api.post(f"/api/v1/shops/{world.shop_id}/staff/{member['id']}/remove", headers=world.owner)
    assert removed.status_code == 200, removed.text
    assert removed.json()["removed_at"] is not None
    assert api.get(f"/api/v1/shops/{world.shop_id}/staff", headers=world.owner).json() == []
    ended = api.get(f"/api/v1/shops/{world.shop_id}/staff", params={"ended": True}, headers=world.owner)
    assert [m["id"] for m in ended.json()] == [member["id"]]

    [entry] = _audit(platform, "shops.staff_add")
    assert json.loads(entry.detail) == {
        "shop": world.shop_id,
        "staff": member["id"],
        "via": "typed",
        "name_matches": True,
    }
    assert len(_audit(platform, "shops.staff_remove")) == 1
    assert len(_audit(platform, "shops.staff_read")) == 4  # each list, the empty one too


def test_an_officer_of_the_area_manages_staff_but_not_another_owner_or_a_far_officer(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform)
    assert add(api, world, headers=world.officer).status_code == 201

    for who, code in ((world.other_owner, "forbidden"), (world.far_officer, "outside_area")):
        for answer in (
            add(api, world, headers=who, card={"id_number": id_number(22)}),
            api.get(f"/api/v1/shops/{world.shop_id}/staff", headers=who),
            api.post(f"/api/v1/shops/{world.shop_id}/staff/1/remove", headers=who),
        ):
            assert answer.status_code == 403, answer.text
            assert answer.json()["error"]["code"] == code
    assert len(api.get(f"/api/v1/shops/{world.shop_id}/staff", headers=world.owner).json()) == 1


def test_bad_staff_input_is_refused_by_field(api: TestClient, platform: Platform) -> None:
    world = shop_world(api, platform)
    member = add(api, world).json()
    bad_check_digit = STAFF_NUMBER[:17] + ("0" if STAFF_NUMBER[17] != "0" else "1")
    cases = [
        ({"card": {"id_number": bad_check_digit}}, 422, "card.id_number"),
        ({"card": {"id_number": id_number(23), "sex": "女"}}, 422, "card.sex"),  # digit 17 is odd: male
        (
            {"card": {"id_number": id_number(24)}, "until": (T0 - timedelta(minutes=1)).isoformat()},
            422,
            "until",
        ),
        ({"card": {"id_number": id_number(25)}, "until": "2027-01-01T00:00:00"}, 422, "until"),  # no offset
        ({"card": {"id_number": id_number(26)}, "role": "manager"}, 422, "role"),  # unknown field
        ({"card": {"id_number": id_number(27)}, "until": "9999-12-31T23:59:59-23:59"}, 422, "until"),
        ({}, 409, "card.id_number"),  # on the staff already
        ({"card": {"id_number": id_number(1), "name": "赵店主"}}, 409, "card.id_number"),  # the owner
    ]
    for over, status, field in cases:
        answer = add(api, world, **over)
        assert answer.status_code == status, (over, answer.text)
        assert answer.json()["error"]["field"] == field, (over, answer.text)

    unknown_shop = api.post("/api/v1/shops/999/staff", json=staff_body(), headers=world.officer)
    assert (unknown_shop.status_code, unknown_shop.json()["error"]["field"]) == (404, "shop_id")
    unknown_staff = api.post(f"/api/v1/shops/{world.shop_id}/staff/999/remove", headers=world.owner)
    assert (unknown_staff.status_code, unknown_staff.json()["error"]["field"]) == (404, "staff_id")
    remove = f"/api/v1/shops/{world.shop_id}/staff/{member['id']}/remove"
    assert api.post(remove, headers=world.owner).status_code == 200
    again = api.post(remove, headers=world.owner)
    assert (again.status_code, again.json()["error"]["field"]) == (409, "staff_id")
    assert len(api.get(f"/api/v1/shops/{world.shop_id}/staff", headers=world.owner).json()) == 0


def test_a_staff_card_reaches_the_shop_door_and_leaves_it_when_removed(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform)
    door = {"device_id": "DC-SHOP-9", "name": "店门", "shop_id": world.shop_id, "lat": 28.0, "lon": 120.65}
    registered = api.post("/api/v1/doors", json=door, headers=world.officer)
    assert registered.status_code == 201, registered.text
    secret = registered.json()["secret"]
    before = full(api, "DC-SHOP-9", secret)
    assert holds(before, id_number(1)) and not holds(before, STAFF_NUMBER)  # the owner only

    until = T0 + timedelta(days=30)
    member = add(api, world, until=until.isoformat()).json()
    on_door = eventually(lambda: (x := full(api, "DC-SHOP-9", secret)).version > before.version and x)
    assert holds(on_door, STAFF_NUMBER) and holds(on_door, id_number(1))
    key = card_key(bytes.fromhex(on_door.salt), STAFF_NUMBER)
    # The end date travels with the card: the controller stops it on time by itself.
    assert [(e.valid_from, e.valid_until) for e in on_door.entries if e.key == key] == [
        (None, int(until.timestamp()))
    ]

    api.post(f"/api/v1/shops/{world.shop_id}/staff/{member['id']}/remove", headers=world.owner)
    delta = eventually(
        lambda: (d := fetch(api, "DC-SHOP-9", secret, since=on_door.version)) and not d.in_step and d
    )
    assert isinstance(delta, Delta)
    assert delta.removed == [key]
    after = apply(by_key(on_door.entries), delta.added, delta.removed)
    assert digest(after.values()) == delta.digest
    assert platform.service(Doors).decide("DC-SHOP-9", STAFF_NUMBER, at=T0)[:2] == (False, "not_listed")


async def test_the_sweep_takes_a_staff_card_past_its_end_off_the_shop_door(platform: Platform) -> None:
    _areas(platform)
    shop = platform.service(Shops).register(
        SYSTEM,
        ShopIn(name="店", community_id="C1", owner_id_number=id_number(5), owner_name="主"),
        resource="t",
    )
    add_door(platform, shop.id)
    body = StaffIn(card=IdCardIn(id_number=STAFF_NUMBER, name=STAFF_NAME), until=T0 + timedelta(hours=1))
    platform.service(ShopStaffRoster).add(SYSTEM, shop.id, body, resource="t")
    doors = platform.service(Doors)
    doors.rebuild(everything=True)
    sync = WhitelistSync(doors, EventHub(platform.bus), None, catch_up=False)
    await sync._sweep()  # nothing has ended yet
    assert await sync.round() == []

    platform.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    await sync._sweep()
    [update] = await sync.round()

    assert update.full.door == DOOR_ID
    assert len(update.delta.removed) == 1 and not update.delta.added
    await sync._sweep()
    assert await sync.round() == []
