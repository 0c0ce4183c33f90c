"""The watch list desk in real Chromium: a community officer lists a person by identity number (after a
refused check digit), sees the entry, the person's card at a door raises the warning on the console,
and the officer closes the entry; at 1280 px and on a 390 px phone."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity import registry
from safecity.core.context import SYSTEM
from safecity.places import Places
from safecity.places.models import Door
from safecity.places.schemas import CompoundIn
from safecity.security.roles import Role
from safecity.store import transaction
from tests.browser.livecity import LiveCity, valid_id_number, watched_page
from tests.browser.test_chinese_text import SHOTS, assert_chinese_renders
from tests.browser.test_console import sign_in

pytestmark = pytest.mark.browser

NUMBER = valid_id_number("33030219790412041")
BASIS = "温州 LC-2026-0311 拘留证"
SIZES = {"desk": (1280, 800), "phone": (390, 844)}


def _person_and_door(live: LiveCity) -> tuple[str, str]:
    """A registered person and a door controller at a compound gate of the test community."""
    now = live.platform.clock.now()
    live.platform.service(Places).add_compound(
        SYSTEM,
        CompoundIn(id="CPWL", name="鹿城花园", community_id="C010101", lat=28.007, lon=120.658),
        resource="setup",
    )
    with transaction(live.platform.session_factory) as session:
        registry.get_or_create_person(
            session,
            id_number=NUMBER,
            name="王五",
            phone=None,
            now=now,
            pseudonymize=live.platform.pseudonyms.pseudonym,
            home_area_id="C010101",
        )
        _, secret = registry.create_device(
            session,
            device_id="DOOR-WL",
            kind="door_controller",
            name="南门",
            lat=28.007,
            lon=120.658,
            area_id="C010101",
            now=now,
        )
        session.flush()
        session.add(Door(device_id="DOOR-WL", compound_id="CPWL", name="南门"))
    return "DOOR-WL", secret


def _swipe(live: LiveCity, device: str, secret: str) -> None:
    """The door controller reports the card (by its number, as a reader does) let in."""
    event = {
        "v": 1,
        "id": uuid.uuid4().hex,
        "kind": "door_swipe",
        "device": device,
        "subject": NUMBER,
        "code": "granted",
        "ts": datetime.now(UTC).isoformat(),
    }
    token = base64.b64encode(f"{device}:{secret}".encode()).decode()
    with live.api({}) as client:
        answer = client.post(
            "/api/v1/ingest",
            content=json.dumps(event) + "\n",
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/x-ndjson"},
        )
    assert answer.status_code == 200, answer.text


def _shoot(page: Any, name: str) -> None:
    """Capture at desk and phone width; nothing may run off the side."""
    SHOTS.mkdir(exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(200)
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{size}.png"), full_page=True)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} at {size} size is {wide} px wide in a {width} px window"


def test_an_officer_lists_a_person_sees_the_door_warning_and_closes_the_entry(
    live: LiveCity, browser: Any
) -> None:
    device, secret = _person_and_door(live)
    officer = live.account(Role.COMMUNITY_OFFICER, areas=("S0101",))
    with watched_page(browser, live.base_url, width=390, height=844) as page:
        sign_in(page, live, officer, start="/watchlist", lands="/watchlist")
        form = page.locator("#wanted-form")
        expect(page.locator("#entries-empty")).to_be_visible()

        wrong = NUMBER[:-1] + ("0" if NUMBER[-1] != "0" else "1")
        form.get_by_label("Identity number").fill(wrong)
        form.get_by_label("Basis").fill(BASIS)
        form.get_by_role("button", name="List person").click()
        expect(page.locator("#wanted-id_number-error")).to_contain_text("check digit")
        expect(page.locator("#wanted-id_number")).to_have_attribute("aria-invalid", "true")
        _shoot(page, "watchlist-refused")

        form.get_by_label("Identity number").fill(NUMBER)
        form.get_by_label("Valid for").fill("30")
        form.get_by_role("button", name="List person").click()
        expect(form.locator("[data-form-success]")).to_contain_text("布控成功")
        expect(form.get_by_label("Identity number")).to_have_value("")  # not left on screen
        item = page.locator("#entry-list .entry-item")
        expect(item).to_have_count(1)
        expect(item).to_contain_text("布控人员")
        expect(item).to_contain_text(BASIS)
        expect(item).to_contain_text(officer.username)
        expect(page.locator("#content")).not_to_contain_text(NUMBER)
        assert_chinese_renders(page, "人员布控", "布控登记", "在控名单", BASIS)
        _shoot(page, "watchlist")

        _swipe(live, device, secret)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto("/")
        alerts = page.locator("#alert-list .alert-item")
        expect(alerts.filter(has_text="Watch-listed person")).to_have_count(1, timeout=10_000)

        page.goto("/watchlist")
        item.get_by_role("button", name="Close").click()
        item.get_by_label("Outcome").select_option("recovered")
        item.get_by_label("Note").fill("已到案")
        _shoot(page, "watchlist-closing")
        item.get_by_role("button", name="Confirm").click()
        expect(page.locator("#entries-notice")).to_contain_text("已撤控")
        expect(item).to_have_count(0)
        expect(page.locator("#entries-empty")).to_be_visible()
