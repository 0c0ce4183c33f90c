"""The top bar on a phone: a role with many pages gets a menu, and every page is reachable from it.

At 390 px a community officer's page links used to scroll sideways beside the brand, the last one
cut at the edge (stop 21's note).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity.security.roles import Role
from tests.browser.livecity import Credentials, LiveCity, watched_page
from tests.browser.test_console import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser: Any, live: LiveCity) -> Iterator[Any]:
    with watched_page(browser, live.base_url, width=390, height=844) as fresh:
        yield fresh


def test_many_pages_fold_into_a_menu_on_a_phone_and_each_link_is_whole_and_works(
    live: LiveCity, phone: Any
) -> None:
    officer = live.account(Role.COMMUNITY_OFFICER, areas=("D01",))
    sign_in(phone, live, officer, start="/", lands="/")
    links = phone.locator("nav.topnav a")
    assert links.count() > 3  # the reason for the menu
    expect(links.first).to_be_hidden()
    summary = phone.locator("details.navmenu summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Console")  # named after the page one is on
    summary.click()
    items = phone.locator("details.navmenu .navmenu-list a")
    assert items.count() == links.count()
    for i in range(items.count()):
        box = items.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, items.nth(i).inner_text()
        assert box["height"] >= 44  # a finger's target
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    target = items.filter(has_text="My account")
    href = target.get_attribute("href")
    target.click()
    expect(phone).to_have_url(live.base_url + href)
    expect(phone.locator("details.navmenu summary")).to_contain_text("My account")


def test_the_desk_keeps_the_links_in_the_bar_while_they_fit_and_folds_them_when_they_do_not(
    live: LiveCity, page: Any, investigator: Credentials
) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, live, investigator, start="/", lands="/")
    expect(page.locator("nav.topnav a").first).to_be_visible()
    expect(page.locator("details.navmenu")).to_be_hidden()
    # Every label on one line ("Shipments 危化品" used to wrap onto two), nothing off the side.
    lines = page.eval_on_selector_all("nav.topnav a", "els => els.map(e => e.getClientRects().length)")
    assert set(lines) == {1}, lines
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.screenshot(path="/tmp/safecity-shots/topbar-desk.png")


def test_a_desk_too_narrow_for_a_community_officers_ten_pages_gets_the_menu(
    live: LiveCity, page: Any
) -> None:
    officer = live.account(Role.COMMUNITY_OFFICER, areas=("D01",))
    sign_in(page, live, officer, start="/", lands="/")
    for width in (1280, 1024):
        page.set_viewport_size({"width": width, "height": 800})
        expect(page.locator("details.navmenu summary")).to_be_visible()
        expect(page.locator("nav.topnav a").first).to_be_hidden()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        sign_out = page.get_by_role("button", name="Sign out").bounding_box()
        assert sign_out is not None and sign_out["x"] + sign_out["width"] <= width
    page.set_viewport_size({"width": 2200, "height": 900})  # wide enough again: the links come back
    expect(page.locator("nav.topnav a").first).to_be_visible()
