"""The community watch in real Chromium at phone width: a guard lands on it, a warning of the
community arrives live with its place in Chinese, and is taken on; a committee worker may take on
too; a guard of another community sees nothing of it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity.core.finding import Evidence, Finding, Ref
from safecity.registry.models import Area
from safecity.security.roles import Role
from safecity.store import transaction
from tests.browser.livecity import LiveCity, watched_page
from tests.browser.test_console import sign_in

PHONE = {"width": 390, "height": 844}
SHOTS = Path("/tmp/safecity-shots")


def raise_warning(live: LiveCity, title: str = "门禁反复刷卡被拒") -> str:
    """A housing warning in the test community, as the rules would raise it."""
    now = datetime.now(UTC)
    key = uuid.uuid4().hex[:12]
    evidence = Evidence(
        event_id=f"sw-{key}",
        corr_id=f"sw-{key}",
        kind="door_swipe",
        subject="1.0badc0ffee0badc0ffee0badc0ffee0",
        device="BS-0003",
        ts=now,
        lat=28.008,
        lon=120.66,
        area="C010101",
        code="denied",
    )
    live.platform.handle_findings(
        [
            Finding(
                rule="repeated-denied",
                rule_kind="housing_repeated_denied",
                severity="medium",
                title=title,
                subject_kind="device",
                subject="BS-0003",
                dedup_key=f"denied:{key}",
                at=now,
                evidence=(evidence,),
                facts={"compound": "五马小区", "building": "3号楼", "denied": 6},
                refs=(Ref("compound", "CP-WM"),),
            )
        ]
    )
    return key


@pytest.fixture(scope="module")
def other_community(live: LiveCity) -> str:
    with transaction(live.platform.session_factory) as session:
        session.add(
            Area(id="C010102", kind="community", name="Songtai", parent_id="S0101", station_id="S0101")
        )
    return "C010102"


def test_a_guard_sees_a_warning_arrive_and_takes_it_on_at_phone_width(browser: Any, live: LiveCity) -> None:
    guard = live.account(Role.GUARD, areas=("C010101",))
    with watched_page(browser, live.base_url, **PHONE) as page:
        sign_in(page, live, guard, start="/watch", lands="/watch")
        expect(page.locator(".brand")).to_have_attribute("href", "/watch")  # the guard's home
        expect(page.locator("#connection")).to_have_text("live")
        expect(page.locator("#watch-areas")).to_have_text("Wuma Community")
        raise_warning(live, "门禁反复刷卡被拒")
        card = page.locator(".watch-card", has_text="门禁反复刷卡被拒")
        expect(card).to_be_visible()
        expect(card.locator(".watch-place")).to_have_text("Wuma Community")
        card.get_by_role("button", name="Details").click()
        expect(card.locator(".watch-detail")).to_contain_text("五马小区")
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "watch-390.png"), full_page=True)
        card.get_by_label(re.compile("Note for")).fill("到场查看")
        card.get_by_role("button", name="Take on").click()
        expect(page.locator(".watch-card", has_text="门禁反复刷卡被拒")).to_have_count(0)
        page.locator("#tab-taken").click()
        taken = page.locator(".watch-card", has_text="门禁反复刷卡被拒")
        expect(taken.locator(".badge.status")).to_have_text("acknowledged")
        # The page fits the phone: nothing runs off its right edge.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


def test_a_committee_worker_takes_on_and_another_communitys_guard_sees_nothing(
    browser: Any, live: LiveCity, other_community: str
) -> None:
    worker = live.account(Role.COMMITTEE_WORKER, areas=("C010101",))
    outsider = live.account(Role.GUARD, areas=(other_community,))
    raise_warning(live, "一卡多区刷卡")
    with watched_page(browser, live.base_url, **PHONE) as page:
        sign_in(page, live, outsider, start="/watch", lands="/watch")
        expect(page.locator("#connection")).to_have_text("live")
        expect(page.locator("#watch-empty")).to_be_visible()
        expect(page.locator(".watch-card")).to_have_count(0)
    with watched_page(browser, live.base_url, **PHONE) as page:
        sign_in(page, live, worker, start="/watch", lands="/watch")
        card = page.locator(".watch-card", has_text="一卡多区刷卡")
        card.get_by_role("button", name="Take on").click()
        expect(page.locator(".watch-card", has_text="一卡多区刷卡")).to_have_count(0)
        page.locator("#tab-taken").click()
        expect(page.locator(".watch-card", has_text="一卡多区刷卡")).to_be_visible()
