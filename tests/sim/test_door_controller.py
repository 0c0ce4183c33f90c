"""The simulated door controller's logic: it switches lists only whole and in order, decides
alone, and keeps every report under a stable id until it is acknowledged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safecity.places.whitelist import Delta, Entry, FullList, card_key, diff, digest
from safecity.sim.door_controller import DoorController
from tests.conftest import T0

SALT = bytes(range(16))
TENANT = "330302199003071231"
VISITOR = "11010519491231002X"


def listing(version: int, *entries: Entry) -> FullList:
    return FullList("D1", version, digest(entries), SALT.hex(), list(entries))


def key(number: str) -> str:
    return card_key(SALT, number)


def test_a_delta_against_a_version_it_does_not_hold_makes_it_take_the_full_list() -> None:
    door = DoorController("D1")
    assert door.take(listing(3, Entry(key(TENANT)))) == "applied"
    ahead = Delta("D1", 4, 5, digest([]), [], [key(TENANT)])
    assert door.take(ahead) == "gap"
    assert door.wants_full
    assert (door.version, door.decide(TENANT, T0)) == (3, (True, "listed"))  # the old list still works
    assert door.take(listing(5)) == "applied"
    assert not door.wants_full
    assert door.decide(TENANT, T0) == (False, "revoked")


def test_a_delta_whose_result_does_not_match_its_digest_is_not_applied() -> None:
    door = DoorController("D1")
    door.take(listing(1))
    wrong = Delta("D1", 1, 2, digest([Entry(key(VISITOR))]), [Entry(key(TENANT))], [])
    assert door.take(wrong) == "mismatch"
    assert (door.version, door.decide(TENANT, T0)[0], door.wants_full) == (1, False, True)


def test_old_and_repeated_messages_change_nothing() -> None:
    door = DoorController("D1")
    door.take(listing(2, Entry(key(TENANT))))
    assert door.take(Delta("D1", 1, 2, digest([]), [], [key(TENANT)])) == "stale"
    assert door.take(listing(1)) == "stale"
    assert door.take(FullList("D9", 9, digest([]), SALT.hex(), [])) == "other_door"
    assert door.decide(TENANT, T0) == (True, "listed")


def test_a_visitor_opens_within_the_pass_and_is_told_expired_after() -> None:
    start, end = int(T0.timestamp()), int((T0 + timedelta(hours=2)).timestamp())
    door = DoorController("D1")
    door.take(listing(1, Entry(key(VISITOR), start, end)))
    assert door.decide(VISITOR, T0 + timedelta(minutes=5)) == (True, "visitor")
    assert door.decide(VISITOR, T0 + timedelta(hours=3)) == (False, "expired")
    assert door.decide(VISITOR, T0 - timedelta(minutes=5)) == (False, "not_listed")


def test_reports_wait_in_the_buffer_under_stable_ids_until_acknowledged() -> None:
    door = DoorController("D1")
    door.take(listing(1, Entry(key(TENANT))))
    door.online = False
    first = door.swipe(TENANT, T0)
    second = door.swipe(VISITOR, T0 + timedelta(seconds=5))
    assert (first["code"], second["code"]) == ("granted", "denied")
    assert first["attrs"] == {"reason": "listed", "wl_version": 1, "buffered": True}
    assert second["attrs"]["reason"] == "not_listed"
    assert [r["id"] for r in door.outbox()] == [first["id"], second["id"]]
    assert door.outbox() == door.outbox()  # sent again as they were: same ids, so stored once
    door.acknowledged([first["id"]])
    assert [r["id"] for r in door.outbox()] == [second["id"]]
    door.online = True
    assert door.swipe(TENANT, T0)["attrs"]["buffered"] is False


def test_a_card_taken_off_the_list_is_refused_as_revoked_until_it_is_back() -> None:
    door = DoorController("D1")
    door.take(listing(1, Entry(key(TENANT))))
    door.take(Delta("D1", 1, 2, digest([]), [], [key(TENANT)]))
    assert door.decide(TENANT, T0) == (False, "revoked")
    assert door.decide(VISITOR, T0) == (False, "not_listed")
    door.take(Delta("D1", 2, 3, digest([Entry(key(TENANT))]), [Entry(key(TENANT))], []))
    assert door.decide(TENANT, T0) == (True, "listed")


def test_door_states_are_alarms_kept_in_the_same_buffer() -> None:
    door = DoorController("D1")
    swipe = door.swipe(TENANT, T0)
    forced = door.door_state("door_forced", T0 + timedelta(seconds=1))
    assert (forced["kind"], forced["code"], forced["device"]) == ("alarm", "door_forced", "D1")
    assert [r["id"] for r in door.outbox()] == [swipe["id"], forced["id"]]
    with pytest.raises(ValueError, match="door state"):
        door.door_state("door_exploded", T0)


cards = st.lists(st.sampled_from([f"{n:032x}" for n in range(8)]), max_size=6)


@given(history=st.lists(cards, min_size=1, max_size=8), data=st.data())
def test_whatever_order_messages_come_in_the_list_held_is_whole_and_never_goes_back(
    history: list[list[str]], data: st.DataObject
) -> None:
    # The server's versions 1..n, each as a full list and as the delta from the one before.
    lists = [{k: Entry(k) for k in keys} for keys in history]
    messages: list[FullList | Delta] = []
    before: dict[str, Entry] = {}
    for version, now in enumerate(lists, 1):
        added, removed = diff(before, now)
        messages.append(Delta("D1", version - 1, version, digest(now.values()), added, removed))
        messages.append(FullList("D1", version, digest(now.values()), SALT.hex(), sorted(now.values())))
        before = now
    arriving = data.draw(st.lists(st.sampled_from(messages), max_size=20))  # any order, repeats, losses
    door = DoorController("D1")
    held = 0
    for message in arriving:
        door.take(message)
        assert door.version >= held  # never back to an older list
        held = door.version
        if door.version:
            assert door.digest == digest(lists[door.version - 1].values())  # the right version's digest...
            assert digest(door.entries.values()) == door.digest  # ...over the whole of that list
    door.take(messages[-1])  # the newest full list (the retained one) puts it in step
    assert (door.version, door.digest) == (len(lists), digest(lists[-1].values()))


def test_a_retained_list_older_than_a_delta_told_of_leaves_it_waiting_for_the_newer_one() -> None:
    door = DoorController("D1")
    door.take(listing(1))
    assert door.take(Delta("D1", 2, 3, digest([]), [], [])) == "gap"  # it missed version 2
    assert door.take(listing(1)) == "stale"  # the retained list had not been replaced yet
    assert door.wants_full
    assert door.take(listing(3)) == "applied"
    assert not door.wants_full
