"""`shop_armed_breach` on planted events: a door of an armed shop opening (or its intrusion zone) raises
one warning for the area's patrol and a text to the owner; nothing while disarmed or before arming."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from safecity import registry
from safecity.alerts.models import Alert, OutboxNotice
from safecity.core.finding import Ref
from safecity.core.record import RECORD_SCHEMA
from safecity.places.events import places_changed
from safecity.places.models import AlarmZone, Door
from safecity.places.schedule import DAYS
from safecity.places.shop_facts import SHOP_COLUMNS, ShopView
from safecity.places.shop_rule import ShopBreachRule
from safecity.platform import Platform
from safecity.rules import RuleConfig
from safecity.store import transaction
from tests.conftest import T0
from tests.places.shopfix import DOOR_ID, OWNER_PHONE, PANEL_ID, ShopWorld, add_door, shop_body, shop_world

RULE = RuleConfig(name="shop-armed-breach", kind="shop_armed_breach", severity="high")


def record(
    n: int, kind: str, code: str, *, at: datetime, device: str = DOOR_ID, **over: Any
) -> dict[str, Any]:
    """One accepted record as the rules see it (area from the device directory)."""
    return {
        **dict.fromkeys(RECORD_SCHEMA),
        "event_id": f"ev-{n}",
        "corr_id": f"corr-{n}",
        "kind": kind,
        "subject_kind": "id_card" if kind == "door_swipe" else "device",
        "subject": "pseudonym-1" if kind == "door_swipe" else device,
        "device": device,
        "ts": at,
        "area": "C1",
        "code": code,
        "received_at": at,
        **over,
    }


def batch(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=RECORD_SCHEMA)


def armed_world(api: TestClient, platform: Platform) -> ShopWorld:
    """The shop with its door and alarm panel, armed by its owner at T0."""
    world = shop_world(api, platform)
    add_door(platform, world.shop_id)
    assert api.post(f"/api/v1/shops/{world.shop_id}/arm", headers=world.owner).status_code == 200
    return world


def test_a_forced_door_of_an_armed_shop_is_one_warning_with_its_shop_and_door(
    api: TestClient, platform: Platform
) -> None:
    world = armed_world(api, platform)
    rule = ShopBreachRule(RULE)
    at = T0 + timedelta(minutes=5)

    [finding] = rule.evaluate(
        batch(
            record(1, "alarm", "door_forced", at=at),
            record(2, "alarm", "door_held_open", at=at + timedelta(seconds=30)),
            record(3, "heartbeat", "ok", at=at),
        ),
        platform.facts,
        at,
    )

    assert (finding.rule_kind, finding.subject_kind, finding.subject) == (
        "shop_armed_breach",
        "shop",
        str(world.shop_id),
    )
    assert finding.dedup_key == f"shop-breach:{world.shop_id}"
    assert [e.event_id for e in finding.evidence] == ["ev-1", "ev-2"]
    assert set(finding.refs) == {Ref("shop", str(world.shop_id)), Ref("door", DOOR_ID)}
    assert finding.facts["codes"] == ["door_forced", "door_held_open"]
    assert (finding.facts["shop"], finding.facts["armed_by"]) == ("五马街金店", "zhao.shop")


def test_an_intrusion_in_a_zone_and_a_granted_swipe_count_but_a_denied_swipe_does_not(
    api: TestClient, platform: Platform
) -> None:
    world = armed_world(api, platform)
    rule = ShopBreachRule(RULE)
    at = T0 + timedelta(minutes=5)
    other_zone = record(3, "alarm", "intrusion", at=at, device=PANEL_ID, attrs='{"zone": "2"}')

    [finding] = rule.evaluate(
        batch(
            record(1, "alarm", "intrusion", at=at, device=PANEL_ID, attrs='{"zone": "1"}'),
            record(2, "door_swipe", "granted", at=at, attrs='{"reason": "listed", "wl_version": 3}'),
            other_zone,
            record(4, "door_swipe", "denied", at=at, attrs='{"reason": "not_listed", "wl_version": 3}'),
        ),
        platform.facts,
        at,
    )

    assert sorted(e.event_id for e in finding.evidence) == ["ev-1", "ev-2"]
    assert finding.facts["codes"] == ["granted", "intrusion"]
    assert rule.evaluate(batch(other_zone), platform.facts, at) == []
    assert finding.subject == str(world.shop_id)


def test_nothing_is_raised_while_disarmed_or_for_what_happened_before_arming(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform)
    add_door(platform, world.shop_id)
    rule = ShopBreachRule(RULE)
    forced = record(1, "alarm", "door_forced", at=T0 - timedelta(minutes=1))

    assert rule.evaluate(batch(forced), platform.facts, T0) == []  # never armed
    api.post(f"/api/v1/shops/{world.shop_id}/arm", headers=world.owner)
    # Reported late (buffered while the controller was offline): it happened before the arming.
    assert rule.evaluate(batch(forced), platform.facts, T0) == []
    api.post(f"/api/v1/shops/{world.shop_id}/disarm", headers=world.owner)
    assert rule.evaluate(batch(record(2, "alarm", "door_forced", at=T0)), platform.facts, T0) == []


def test_a_report_buffered_while_armed_counts_after_the_owner_disarmed(
    api: TestClient, platform: Platform
) -> None:
    world = armed_world(api, platform)
    platform.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
    api.post(f"/api/v1/shops/{world.shop_id}/disarm", headers=world.owner)
    rule = ShopBreachRule(RULE)

    found = rule.evaluate(
        batch(record(1, "alarm", "door_forced", at=T0 + timedelta(minutes=10))), platform.facts, T0
    )

    assert [f.subject for f in found] == [str(world.shop_id)]


def test_a_forced_door_reported_over_http_reaches_the_areas_station_and_texts_the_owner(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform)
    secrets = add_door(platform, world.shop_id)
    api.post(f"/api/v1/shops/{world.shop_id}/arm", headers=world.owner)
    event = {"id": "DC-SHOP-1-77", "kind": "alarm", "ts": "2026-11-22T08:00:30Z", "code": "door_forced"}

    answer = api.post("/api/v1/ingest", content=json.dumps(event).encode(), auth=(DOOR_ID, secrets[DOOR_ID]))

    assert answer.status_code == 200, answer.text
    alert = _wait_for_alert(platform)
    assert (alert.rule_kind, alert.station_id, alert.area_id) == ("shop_armed_breach", "S1", "C1")
    assert ["shop", str(world.shop_id)] in alert.refs
    with platform.session_factory() as session:
        [notice] = session.scalars(select(OutboxNotice).where(OutboxNotice.alert_id == alert.id)).all()
    assert (notice.channel, notice.address) == ("sms", OWNER_PHONE)
    assert "五马街金店" in notice.body and "16:00" in notice.body and "a door was forced" in notice.body


def _wait_for_alert(platform: Platform, timeout_s: float = 30.0) -> Alert:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with platform.session_factory() as session:
            found = session.scalars(select(Alert)).all()
            if found:
                assert len(found) == 1
                session.expunge_all()
                return found[0]
        time.sleep(0.05)
    raise AssertionError("no alert was raised")


def test_an_owner_without_a_phone_gets_no_text_but_the_patrol_still_gets_the_alert(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform, owner_phone=None)
    add_door(platform, world.shop_id)
    api.post(f"/api/v1/shops/{world.shop_id}/arm", headers=world.owner)
    at = T0 + timedelta(minutes=1)
    findings = ShopBreachRule(RULE).evaluate(
        batch(record(1, "alarm", "door_forced", at=at)), platform.facts, at
    )

    platform.handle_findings(findings)

    with platform.session_factory() as session:
        [alert] = session.scalars(select(Alert)).all()
        assert session.scalars(select(OutboxNotice)).all() == []
    assert (alert.station_id, alert.subject) == ("S1", str(world.shop_id))


def test_two_armed_shops_are_two_warnings_and_a_later_opening_extends_its_shops_alert(
    api: TestClient, platform: Platform
) -> None:
    world = armed_world(api, platform)
    second = api.post("/api/v1/shops", json=shop_body(name="Second"), headers=world.officer).json()["id"]
    add_second_door(platform, second)
    api.post(f"/api/v1/shops/{second}/arm", headers=world.owner)
    rule = ShopBreachRule(RULE)
    at = T0 + timedelta(minutes=5)

    first = rule.evaluate(
        batch(
            record(1, "alarm", "door_forced", at=at),
            record(2, "alarm", "door_forced", at=at, device="DC-SHOP-2"),
        ),
        platform.facts,
        at,
    )
    later = rule.evaluate(
        batch(record(3, "alarm", "door_held_open", at=at + timedelta(minutes=1))), platform.facts, at
    )
    platform.handle_findings(first)
    platform.handle_findings(later)

    assert sorted(f.subject for f in first) == sorted([str(world.shop_id), str(second)])
    with platform.session_factory() as session:
        alerts = {a.subject: a.hits for a in session.scalars(select(Alert))}
    assert alerts == {str(world.shop_id): 2, str(second): 1}


def add_second_door(platform: Platform, shop_id: int) -> None:
    """Another door controller, at the second shop."""
    with transaction(platform.session_factory) as session:
        registry.create_device(
            session,
            device_id="DC-SHOP-2",
            kind="door_controller",
            name="d",
            lat=None,
            lon=None,
            area_id="C1",
            now=T0,
        )
        session.flush()
        session.add(Door(device_id="DC-SHOP-2", shop_id=shop_id, name="front door"))
        places_changed(session)


class _Facts:
    """Rules' facts holding only a fixed view of one shop (no database)."""

    def __init__(self, view: ShopView) -> None:
        self._view = view

    def source(self, name: str) -> Any:
        assert name == "shops"
        return self

    def view(self) -> ShopView:
        return self._view


KINDS_CODES = [
    ("alarm", "door_forced"),
    ("alarm", "door_held_open"),
    ("alarm", "door_opened_no_swipe"),
    ("alarm", "intrusion"),
    ("alarm", "sos"),
    ("door_swipe", "granted"),
    ("door_swipe", "denied"),
    ("heartbeat", None),
]
DEVICES = [DOOR_ID, PANEL_ID, "DC-ELSEWHERE"]


@settings(max_examples=200, deadline=None)
@given(
    armed=st.booleans(),
    changed_min=st.one_of(st.none(), st.integers(-60, 60)),
    events=st.lists(
        st.tuples(
            st.sampled_from(KINDS_CODES),
            st.sampled_from(DEVICES),
            st.integers(-90, 90),
            st.sampled_from(["1", "2"]),
        ),
        max_size=12,
    ),
)
def test_an_event_counts_exactly_when_it_opens_the_shop_while_armed_at_its_time(
    armed: bool, changed_min: int | None, events: list[tuple[tuple[str, str | None], str, int, str]]
) -> None:
    changed = None if changed_min is None else T0 + timedelta(minutes=changed_min)
    shops = pl.DataFrame(
        [(1, "店", "C1", armed, changed, "zhao.shop", None, None)], schema=SHOP_COLUMNS, orient="row"
    )
    view = ShopView(
        shops=shops,
        doors=pl.DataFrame({"device": [DOOR_ID], "shop_id": [1]}),
        zones=pl.DataFrame({"device": [PANEL_ID], "zone": ["1"], "shop_id": [1], "zone_id": [1]}),
    )
    rows = [
        record(n, kind, code, at=T0 + timedelta(minutes=m), device=device, attrs=f'{{"zone": "{zone}"}}')  # type: ignore[arg-type]
        for n, ((kind, code), device, m, zone) in enumerate(events)
    ]

    found = ShopBreachRule(RULE).evaluate(batch(*rows), _Facts(view), T0)

    def armed_then(at: datetime) -> bool:
        return armed if changed is None or at >= changed else not armed

    def opens(kind: str, code: str | None, device: str, zone: str) -> bool:
        at_door = device == DOOR_ID and (
            (kind == "alarm" and code in ("door_forced", "door_held_open", "door_opened_no_swipe"))
            or (kind == "door_swipe" and code == "granted")
        )
        return at_door or (device == PANEL_ID and kind == "alarm" and code == "intrusion" and zone == "1")

    expected = {
        f"ev-{n}"
        for n, ((kind, code), device, m, zone) in enumerate(events)
        if opens(kind, code, device, zone) and armed_then(T0 + timedelta(minutes=m))
    }
    assert {e.event_id for f in found for e in f.evidence} == expected
    assert len(found) == (1 if expected else 0)


def test_a_shop_zone_armed_on_hours_of_its_own_counts_while_the_shop_is_disarmed(
    api: TestClient, platform: Platform
) -> None:
    world = shop_world(api, platform)
    add_door(platform, world.shop_id)
    with transaction(platform.session_factory) as session:
        session.add(
            AlarmZone(
                device_id=PANEL_ID,
                zone="9",
                name="strongroom",
                shop_id=world.shop_id,
                armed_hours={day: [["00:00", "00:00"]] for day in DAYS},
            )
        )
        places_changed(session)
    at = T0 + timedelta(minutes=3)
    strongroom = record(1, "alarm", "intrusion", at=at, device=PANEL_ID, attrs='{"zone": "9"}')
    back_room = record(2, "alarm", "intrusion", at=at, device=PANEL_ID, attrs='{"zone": "1"}')

    [finding] = ShopBreachRule(RULE).evaluate(
        batch(strongroom, back_room, record(3, "alarm", "door_forced", at=at)), platform.facts, at
    )

    assert [e.event_id for e in finding.evidence] == ["ev-1"]
