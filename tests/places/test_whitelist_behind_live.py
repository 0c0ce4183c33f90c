"""The whole way: a polling door controller (the simulator) that stops following its list keeps
reporting the old version through ingest, and the packaged rules warn its community once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from safecity.core.clock import ManualClock
from safecity.places import Doors
from safecity.platform import Platform
from safecity.security.roles import Role
from safecity.sim.door_controller import HttpDoorController
from tests.authn import mint
from tests.conftest import T0
from tests.places.conftest import Housing
from tests.places.test_doors import STRANGER, add_door, eventually
from tests.places.test_housing import register

RULE = "door-whitelist-behind"


def warnings(api: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    return [a for a in api.get("/api/v1/alerts", headers=headers).json()["items"] if a["rule"] == RULE]


def test_a_controller_stuck_on_an_old_list_is_warned_about_once(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    door = HttpDoorController("DC-B1", add_door(api, housing), api)
    assert door.poll() == "applied"
    held = door.state.version
    register(api, housing.landlord, housing.flat_id)  # the server makes the next version now (T0)
    doors = platform.service(Doors)
    eventually(lambda: doors.versions(everything=True)["DC-B1"] > held)
    # The controller polls no more (its link to the list is broken) but reports its swipes.
    for minutes in (5, 20, 30):
        clock.set(T0 + timedelta(minutes=minutes))
        door.swipe(STRANGER, clock.now())
        assert door.send() == 1
    officer = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C1",))  # a token of the new time
    [warning] = eventually(lambda: warnings(api, officer))

    def extended() -> Any:
        # The reports past the grace come in one micro-batch or two (hits 1 or 2): what counts is
        # that they all end up in the one warning's evidence.
        found = api.get(f"/api/v1/alerts/{warning['id']}", headers=officer).json()
        return found if len(found["evidence"]) == 3 else None

    detail = eventually(extended, timeout_s=15)
    assert [w["id"] for w in warnings(api, officer)] == [warning["id"]]
    assert detail["facts"]["held_version"] == held
    assert detail["facts"]["current_version"] == held + 1
    assert detail["alert"]["subject_kind"] == "device" and detail["alert"]["subject"] == "DC-B1"
    assert warning["area_id"] == "C1"
    assert [e["ts"] for e in detail["evidence"]] == [
        "2026-11-22T08:05:00Z",
        "2026-11-22T08:20:00Z",
        "2026-11-22T08:30:00Z",
    ]
