"""`shop_armed_breach` and the shop's staff: a staff card opening an armed shop still raises the warning,
but its facts name the staff member (likely benign); a card the shop does not know, or a removed
staff member's, says so too."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from safecity.places.shop_rule import ShopBreachRule
from safecity.platform import Platform
from tests.conftest import T0
from tests.places.shopfix import id_number
from tests.places.test_shop_rule import RULE, armed_world, batch, record
from tests.places.test_shop_staff import STAFF_NAME, STAFF_NUMBER, add

SWIPED = '{"reason": "listed", "wl_version": 3}'


def test_a_staff_card_at_an_armed_shop_is_a_warning_naming_the_staff_member(
    api: TestClient, platform: Platform
) -> None:
    world = armed_world(api, platform)
    assert add(api, world).status_code == 201
    card = platform.pseudonyms.pseudonym(STAFF_NUMBER)
    at = T0 + timedelta(minutes=5)

    [finding] = ShopBreachRule(RULE).evaluate(
        batch(record(1, "door_swipe", "granted", at=at, subject=card, attrs=SWIPED)), platform.facts, at
    )

    assert finding.facts["swipes"] == [{"event_id": "ev-1", "holder": "staff", "name": STAFF_NAME}]
    assert finding.facts["staff"] == [STAFF_NAME]
    assert finding.facts["card_holders"] == [
        f"card of staff member {STAFF_NAME} (likely benign: someone forgot to disarm)"
    ]
    assert (finding.facts["unknown_cards"], finding.facts["all_by_known_cards"]) == (0, True)


def test_an_unknown_card_and_a_forced_door_are_not_called_benign(api: TestClient, platform: Platform) -> None:
    world = armed_world(api, platform)
    add(api, world)
    at = T0 + timedelta(minutes=5)
    stranger = platform.pseudonyms.pseudonym(id_number(77))
    staff = platform.pseudonyms.pseudonym(STAFF_NUMBER)

    [finding] = ShopBreachRule(RULE).evaluate(
        batch(
            record(1, "door_swipe", "granted", at=at, subject=stranger, attrs=SWIPED),
            record(2, "door_swipe", "granted", at=at + timedelta(seconds=5), subject=staff, attrs=SWIPED),
        ),
        platform.facts,
        at,
    )
    assert [s["holder"] for s in finding.facts["swipes"]] == ["unknown", "staff"]
    assert finding.facts["unknown_cards"] == 1
    assert finding.facts["all_by_known_cards"] is False
    assert "card unknown to the shop (neither its owner's nor its staff's)" in finding.facts["card_holders"]

    [forced] = ShopBreachRule(RULE).evaluate(
        batch(
            record(3, "door_swipe", "granted", at=at, subject=staff, attrs=SWIPED),
            record(4, "alarm", "door_forced", at=at),
        ),
        platform.facts,
        at,
    )
    assert forced.facts["staff"] == [STAFF_NAME]
    assert forced.facts["all_by_known_cards"] is False  # the forced door is nobody's card


def test_a_removed_staff_member_s_card_is_named_as_former_staff_after_the_removal_only(
    api: TestClient, platform: Platform
) -> None:
    world = armed_world(api, platform)
    member = add(api, world).json()
    removed_at = T0 + timedelta(minutes=10)
    platform.clock.set(removed_at)  # type: ignore[attr-defined]
    api.post(f"/api/v1/shops/{world.shop_id}/staff/{member['id']}/remove", headers=world.owner)
    card = platform.pseudonyms.pseudonym(STAFF_NUMBER)
    rule = ShopBreachRule(RULE)

    def holder_at(minutes: int) -> list[object]:
        at = T0 + timedelta(minutes=minutes)
        [finding] = rule.evaluate(
            batch(record(minutes, "door_swipe", "granted", at=at, subject=card, attrs=SWIPED)),
            platform.facts,
            at,
        )
        return [(s["holder"], s["name"]) for s in finding.facts["swipes"]]

    # A swipe buffered while the card was still staff's is judged by its own time.
    assert holder_at(5) == [("staff", STAFF_NAME)]
    assert holder_at(15) == [("former_staff", STAFF_NAME)]


def test_a_staff_card_is_no_unknown_card_to_the_housing_rules(api: TestClient, platform: Platform) -> None:
    world = armed_world(api, platform)
    add(api, world)
    cards = [platform.pseudonyms.pseudonym(n) for n in (STAFF_NUMBER, id_number(77))]
    swipes = batch(
        *(record(n, "door_swipe", "denied", at=T0, subject=c, attrs=SWIPED) for n, c in enumerate(cards))
    )

    # The places facts load once here (they reload at most every RELOAD_S): after the staff was added.
    assert platform.facts.source("places").swipes(swipes)["known"].to_list() == [True, False]
