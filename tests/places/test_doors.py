"""Door controllers over HTTP: officers register doors; a door's versioned whitelist follows its tenants
and visitors; a polling controller reads deltas or the full list; the online check answers and records."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from safecity.core.ids import id_number_check_char
from safecity.ingest.models import IngestBatch
from safecity.places import Doors
from safecity.places.models import Shop, VisitorPass, WhitelistDelta
from safecity.places.whitelist import MESSAGE_DECODER, Delta, FullList, apply, by_key, card_key, digest
from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.sim.door_controller import HttpDoorController
from safecity.store import transaction
from tests.conftest import T0
from tests.places.conftest import Housing
from tests.places.test_housing import TENANT, register
from tests.web.conftest import register_device

STRANGER = "330302198805051238"


def valid(number17: str) -> str:
    """A valid identity number from its first 17 digits."""
    return number17 + id_number_check_char(number17)


def basic(device_id: str, secret: str) -> dict[str, str]:
    """HTTP Basic headers of a device."""
    return {"Authorization": "Basic " + base64.b64encode(f"{device_id}:{secret}".encode()).decode()}


def add_door(api: TestClient, housing: Housing, device_id: str = "DC-B1", **place: Any) -> str:
    """Register a door controller (at building B1 unless told); return its secret."""
    body = {"device_id": device_id, "name": "1号楼 单元门", "lat": 28.0, "lon": 120.65}
    body.update(place or {"building_id": "B1"})
    answer = api.post("/api/v1/doors", json=body, headers=housing.officer)
    assert answer.status_code == 201, answer.text
    secret = answer.json()["secret"]
    assert secret
    return str(secret)


def eventually(condition: Callable[[], object], timeout_s: float = 5.0) -> Any:
    """Poll until condition() is truthy; return its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            assert value, "condition not met in time"
            return value
        time.sleep(0.02)


def fetch(api: TestClient, door: str, secret: str, since: int | None = None) -> FullList | Delta:
    params = {} if since is None else {"since": since}
    answer = api.get(f"/api/v1/doors/{door}/whitelist", params=params, headers=basic(door, secret))
    assert answer.status_code == 200, answer.text
    return MESSAGE_DECODER.decode(answer.content)


def full(api: TestClient, door: str, secret: str) -> FullList:
    found = fetch(api, door, secret)
    assert isinstance(found, FullList)
    return found


def holds(listing: FullList, number: str) -> bool:
    return card_key(bytes.fromhex(listing.salt), number) in {e.key for e in listing.entries}


def test_an_officer_registers_a_door_and_its_device(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    secret = add_door(api, housing)
    with platform.session_factory() as session:
        actions = [e.action for e in audit.search(session, AuditFilter(limit=50))]
    assert {"places.door_add", "devices.create"} <= set(actions)
    devices = api.get("/api/v1/devices", params={"kind": "door_controller"}, headers=housing.officer)
    assert [d["id"] for d in devices.json()] == ["DC-B1"]
    listing = full(api, "DC-B1", secret)
    assert listing.version >= 1
    assert listing.entries == []
    assert listing.digest == digest([])


def test_a_door_names_one_place_that_exists_and_a_device_that_is_a_door(
    api: TestClient, housing: Housing
) -> None:
    two = {"device_id": "DC-X", "name": "x", "building_id": "B1", "compound_id": "CP1"}
    answer = api.post("/api/v1/doors", json=two, headers=housing.officer)
    assert answer.status_code == 422
    nowhere = api.post(
        "/api/v1/doors", json={"device_id": "DC-X", "name": "x", "building_id": "B1"}, headers=housing.officer
    )
    assert (nowhere.status_code, nowhere.json()["error"]["field"]) == (422, "lat")
    missing = api.post(
        "/api/v1/doors",
        json={"device_id": "DC-X", "name": "x", "building_id": "NOPE"},
        headers=housing.officer,
    )
    assert (missing.status_code, missing.json()["error"]["field"]) == (404, "building_id")
    no_shop = api.post(
        "/api/v1/doors", json={"device_id": "DC-X", "name": "x", "shop_id": 999}, headers=housing.officer
    )
    assert (no_shop.status_code, no_shop.json()["error"]["field"]) == (404, "shop_id")
    register_device(api, "ST-1")  # an RFID base station
    station = api.post(
        "/api/v1/doors",
        json={"device_id": "ST-1", "name": "x", "building_id": "B1", "lat": 28.0, "lon": 120.6},
        headers=housing.officer,
    )
    assert (station.status_code, station.json()["error"]["field"]) == (422, "device_id")
    add_door(api, housing)
    again = api.post(
        "/api/v1/doors",
        json={"device_id": "DC-B1", "name": "y", "compound_id": "CP1", "lat": 28.0, "lon": 120.6},
        headers=housing.officer,
    )
    assert (again.status_code, again.json()["error"]["field"]) == (409, "device_id")
    landlord = api.post(
        "/api/v1/doors",
        json={"device_id": "DC-Y", "name": "y", "building_id": "B1"},
        headers=housing.landlord,
    )
    assert landlord.status_code == 403


def test_a_registered_tenant_is_on_the_building_door_and_the_gate_and_off_after_check_out(
    api: TestClient, housing: Housing
) -> None:
    door = add_door(api, housing)
    gate = add_door(api, housing, "DC-GATE", compound_id="CP1")
    other = add_door(api, housing, "DC-B2", building_id="B2")  # another compound
    before = full(api, "DC-B1", door)
    tenancy = register(api, housing.landlord, housing.flat_id).json()["tenant"]["tenancy_id"]
    on_door = eventually(lambda: (x := full(api, "DC-B1", door)).version > before.version and x)
    assert holds(on_door, TENANT)
    assert eventually(lambda: holds(full(api, "DC-GATE", gate), TENANT))
    assert not holds(full(api, "DC-B2", other), TENANT)
    # The key is the door's own: the same card hashes differently at the gate.
    assert card_key(bytes.fromhex(on_door.salt), TENANT) != card_key(
        bytes.fromhex(full(api, "DC-GATE", gate).salt), TENANT
    )

    assert (
        api.post(f"/api/v1/tenancies/{tenancy}/check-out", json={}, headers=housing.landlord).status_code
        == 200
    )
    delta = eventually(
        lambda: (d := fetch(api, "DC-B1", door, since=on_door.version)) and not d.in_step and d
    )
    assert isinstance(delta, Delta)
    assert delta.base == on_door.version
    assert delta.removed == [card_key(bytes.fromhex(on_door.salt), TENANT)]
    after = apply(by_key(on_door.entries), delta.added, delta.removed)
    assert digest(after.values()) == delta.digest


def test_a_poll_in_step_gets_an_empty_delta_and_a_version_never_made_gets_the_full_list(
    api: TestClient, housing: Housing
) -> None:
    door = add_door(api, housing)
    listing = full(api, "DC-B1", door)
    same = fetch(api, "DC-B1", door, since=listing.version)
    assert isinstance(same, Delta)
    assert (same.in_step, same.added, same.removed, same.digest) == (True, [], [], listing.digest)
    ahead = fetch(api, "DC-B1", door, since=listing.version + 5)  # a controller claiming a future version
    assert isinstance(ahead, FullList)
    negative = api.get("/api/v1/doors/DC-B1/whitelist", params={"since": -1}, headers=basic("DC-B1", door))
    assert (negative.status_code, negative.json()["error"]["field"]) == (422, "since")


def test_deltas_no_longer_kept_answer_the_full_list(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    secret = add_door(api, housing)
    doors = platform.service(Doors)
    first = full(api, "DC-B1", secret)
    for n in range(3):
        number = valid(f"330302199003070{n}1")
        assert register(api, housing.officer, housing.flat_id, number=number).status_code == 201
        doors.rebuild(compound_ids=["CP1"])
    latest = eventually(lambda: (x := full(api, "DC-B1", secret)).version >= first.version + 3 and x)
    composed = doors.whitelist("DC-B1", since=first.version)
    assert isinstance(composed, Delta)
    assert (composed.base, composed.version, len(composed.added)) == (first.version, latest.version, 3)
    with transaction(platform.session_factory) as session:  # what pruning leaves after KEEP_DELTAS changes
        session.execute(
            delete(WhitelistDelta).where(
                WhitelistDelta.device_id == "DC-B1", WhitelistDelta.version <= latest.version - 1
            )
        )
    assert isinstance(doors.whitelist("DC-B1", since=first.version), FullList)
    bridged = doors.whitelist("DC-B1", since=latest.version - 1)
    assert isinstance(bridged, Delta)
    assert bridged.version == latest.version


def test_a_controller_reads_only_its_own_door(api: TestClient, housing: Housing) -> None:
    door = add_door(api, housing)
    gate = add_door(api, housing, "DC-GATE", compound_id="CP1")
    nobody = api.get("/api/v1/doors/DC-B1/whitelist")
    assert nobody.status_code == 401
    assert nobody.headers["WWW-Authenticate"].startswith("Basic")
    wrong = api.get("/api/v1/doors/DC-B1/whitelist", headers=basic("DC-B1", "not-the-secret"))
    assert wrong.status_code == 401
    other = api.get("/api/v1/doors/DC-B1/whitelist", headers=basic("DC-GATE", gate))
    assert (other.status_code, other.json()["error"]["field"]) == (403, "device_id")
    station = register_device(api, "ST-1")
    not_a_door = api.get("/api/v1/doors/ST-1/whitelist", headers=basic("ST-1", station))
    assert (not_a_door.status_code, not_a_door.json()["error"]["field"]) == (403, "device_id")
    assert door


def test_the_online_check_grants_a_tenant_denies_a_stranger_and_records_each_swipe_once(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    door = add_door(api, housing)
    register(api, housing.landlord, housing.flat_id)
    platform.service(Doors).rebuild(compound_ids=["CP1"])
    at = T0.isoformat()

    def check(event_id: str, card: str) -> Any:
        body = {"id": event_id, "card": card, "ts": at}
        return api.post("/api/v1/doors/DC-B1/check", json=body, headers=basic("DC-B1", door))

    granted = check("sw-1", TENANT)
    assert granted.status_code == 200, granted.text
    assert {k: granted.json()[k] for k in ("granted", "reason", "recorded")} == {
        "granted": True,
        "reason": "listed",
        "recorded": True,
    }
    denied = check("sw-2", STRANGER).json()
    assert "granted" in denied, denied
    assert (denied["granted"], denied["reason"], denied["recorded"]) == (False, "not_listed", True)
    assert check("sw-1", TENANT).json()["recorded"] is False  # a retry is not stored twice
    bad = check("sw-3", TENANT[:-1] + "0")
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "card")
    assert TENANT[:-1] not in bad.text  # the number is not echoed back
    naive = api.post(
        "/api/v1/doors/DC-B1/check",
        json={"id": "sw-4", "card": TENANT, "ts": "2026-11-22T08:00:00"},
        headers=basic("DC-B1", door),
    )
    assert (naive.status_code, naive.json()["error"]["field"]) == (422, "ts")
    extra = api.post(
        "/api/v1/doors/DC-B1/check",
        json={"id": "sw-5", "card": TENANT, "ts": at, "door": "DC-GATE"},
        headers=basic("DC-B1", door),
    )
    assert (extra.status_code, extra.json()["error"]["field"]) == (422, "door")
    with platform.session_factory() as session:
        stored = session.scalar(select(func.sum(IngestBatch.stored)).where(IngestBatch.device_id == "DC-B1"))
    assert stored == 2
    records = platform.lake.scan(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1)).collect()
    swipes = {r["event_id"]: (r["code"], json.loads(r["attrs"])) for r in records.iter_rows(named=True)}
    version = granted.json()["wl_version"]
    assert swipes["sw-1"] == ("granted", {"reason": "online", "wl_version": version, "buffered": False})
    assert swipes["sw-2"][0] == "denied"
    assert swipes["sw-2"][1]["reason"] == "not_listed"
    assert TENANT not in set(records["subject"].to_list())  # the lake keeps pseudonyms


def test_a_visitor_pass_opens_within_its_validity_and_is_expired_after(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    add_door(api, housing)
    lives_elsewhere = register(api, housing.other_landlord, housing.other_flat_id, number=STRANGER)
    person_id = lives_elsewhere.json()["tenant"]["person_id"]
    with transaction(platform.session_factory) as session:
        session.add(
            VisitorPass(
                compound_id="CP1",
                flat_id=housing.flat_id,
                person_id=person_id,
                valid_from=T0 - timedelta(hours=1),
                valid_until=T0 + timedelta(hours=2),
                registered_by="guard",
                registered_at=T0,
            )
        )
    doors = platform.service(Doors)
    doors.rebuild(compound_ids=["CP1"])
    assert doors.decide("DC-B1", STRANGER, at=T0)[:2] == (True, "visitor")
    assert doors.decide("DC-B1", STRANGER, at=T0 + timedelta(hours=3))[:2] == (False, "expired")
    assert doors.decide("DC-B1", STRANGER, at=T0 - timedelta(hours=2))[:2] == (False, "not_listed")
    [entry] = [e for e in doors.whitelist("DC-B1").entries if e.valid_until is not None]  # type: ignore[union-attr]
    assert entry.valid_until == int((T0 + timedelta(hours=2)).timestamp())


def test_a_polling_controller_follows_its_list_and_delivers_its_buffered_swipes_once(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    door = HttpDoorController("DC-B1", add_door(api, housing), api)
    assert door.poll() == "applied"
    assert door.state.decide(TENANT, T0) == (False, "not_listed")
    register(api, housing.landlord, housing.flat_id)
    eventually(lambda: door.poll() == "applied")
    assert door.state.decide(TENANT, T0) == (True, "listed")
    door.state.online = False  # the link is down: decisions go on, reports wait
    swipes = [door.swipe(TENANT, T0), door.swipe(STRANGER, T0)]
    door.state.door_state("door_held_open", T0)
    assert door.send() == 0
    door.state.online = True
    assert door.send() == 3
    assert door.state.buffered == 0
    with platform.session_factory() as session:
        stored = session.scalar(select(func.sum(IngestBatch.stored)).where(IngestBatch.device_id == "DC-B1"))
    assert stored == 3
    assert [s["attrs"]["buffered"] for s in swipes] == [True, True]
    # A controller that lost its list (or holds a version the server never made) takes the whole list.
    door.state.version += 7
    assert door.poll() == "applied"
    assert door.state.decide(TENANT, T0) == (True, "listed")


def test_a_shop_door_lets_its_owner_in_and_nobody_else(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    owner = register(api, housing.landlord, housing.flat_id).json()["tenant"]["person_id"]
    with transaction(platform.session_factory) as session:
        shop = Shop(name="五金店", community_id="C1", owner_person_id=owner, lat=28.0, lon=120.65)
        session.add(shop)
        session.flush()
        shop_id = shop.id
    add_door(api, housing, "DC-SHOP", shop_id=shop_id)
    doors = platform.service(Doors)
    assert doors.decide("DC-SHOP", TENANT, at=T0)[:2] == (True, "listed")
    assert doors.decide("DC-SHOP", STRANGER, at=T0)[:2] == (False, "not_listed")
    assert [u.full.door for u in doors.rebuild(shop_ids=[shop_id])] == []  # in step already


def test_an_expired_pass_leaves_the_list_when_its_doors_are_rebuilt(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    add_door(api, housing)
    visitor = register(api, housing.other_landlord, housing.other_flat_id, number=STRANGER).json()
    with transaction(platform.session_factory) as session:
        session.add(
            VisitorPass(
                compound_id="CP1",
                flat_id=None,  # to the compound: building doors honour it too
                person_id=visitor["tenant"]["person_id"],
                valid_from=T0,
                valid_until=T0 + timedelta(hours=1),
                registered_by="guard",
                registered_at=T0,
            )
        )
    doors = platform.service(Doors)
    doors.rebuild(everything=True)
    assert doors.decide("DC-B1", STRANGER, at=T0)[1] == "visitor"
    platform.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    [update] = [u for u in doors.rebuild(everything=True) if u.full.door == "DC-B1"]
    assert len(update.delta.removed) == 1
    assert doors.decide("DC-B1", STRANGER, at=T0 + timedelta(hours=2))[1] == "not_listed"


def test_a_controller_that_asks_per_swipe_is_answered_and_not_reported_twice(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    door = HttpDoorController("DC-B1", add_door(api, housing), api)
    register(api, housing.landlord, housing.flat_id)
    platform.service(Doors).rebuild(compound_ids=["CP1"])
    assert door.ask(TENANT, T0, "ask-1") == (True, "listed")
    assert door.ask(STRANGER, T0, "ask-2") == (False, "not_listed")
    assert door.state.buffered == 0  # the platform recorded them: nothing left to report
    with platform.session_factory() as session:
        stored = session.scalar(select(func.sum(IngestBatch.stored)).where(IngestBatch.device_id == "DC-B1"))
    assert stored == 2


def test_a_re_keyed_door_s_controller_takes_the_list_whole_under_the_new_salt(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    door = HttpDoorController("DC-B1", add_door(api, housing), api)
    register(api, housing.landlord, housing.flat_id)
    eventually(lambda: door.poll() == "applied" and door.state.decide(TENANT, T0)[0])
    old_salt, old_version = door.state.salt, door.state.version
    assert old_salt is not None
    answer = api.post("/api/v1/doors/DC-B1/rekey", headers=housing.officer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] > old_version
    listing = platform.service(Doors).whitelist("DC-B1", since=old_version)
    assert isinstance(listing, FullList)  # no delta leads across a new salt
    assert bytes.fromhex(listing.salt) != old_salt
    assert card_key(old_salt, TENANT) not in {e.key for e in listing.entries}  # the stolen keys match nothing
    assert door.poll() == "applied"
    assert door.state.decide(TENANT, T0) == (True, "listed")
    assert api.post("/api/v1/doors/DC-B1/rekey", headers=housing.landlord).status_code == 403
    missing = api.post("/api/v1/doors/NOPE/rekey", headers=housing.officer)
    assert (missing.status_code, missing.json()["error"]["field"]) == (404, "door_id")
