"""Search and links in real Chromium: an investigator, inside a case, finds a bike's owner by pinyin
initials and a fragment of his phone, sees why each matched with the numbers masked, opens the
owner's links (his bike, his phone) drawn as a graph and a table with sources and dates, and is
told plainly when a pattern would match everything; at a desk and on a phone, with the Chinese
drawn in the served font."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity.security.roles import Role
from tests.browser.livecity import LiveCity
from tests.browser.test_chinese_text import OWNER, _register_chinese_bike, assert_chinese_renders, shoot
from tests.browser.test_console import sign_in
from tests.browser.test_workbench_page import _open_case

pytestmark = pytest.mark.browser

TAG = "A1B2C3D4E5"


def test_an_investigator_finds_the_owner_by_pinyin_and_phone_and_opens_his_links(
    live: LiveCity, page: Any
) -> None:
    investigator = live.account(Role.INVESTIGATOR, areas=("D01",))
    case_id = _open_case(live, investigator.username)
    _register_chinese_bike(live, TAG)
    sign_in(page, live, investigator, start="/workbench", lands="/workbench")
    expect(page.locator("#search-link")).to_have_attribute("href", f"/search?case={case_id}")
    page.locator("#search-link").click()
    expect(page).to_have_url(re.compile(re.escape(f"/search?case={case_id}") + "$"))
    expect(page.locator("#case")).to_have_value(case_id)

    # No purpose: refused, saying so next to the field.
    page.get_by_label("Search 搜索", exact=True).fill("zw")
    page.get_by_role("button", name="Search 搜索").click()
    expect(page.locator("#purpose-error")).to_be_visible()

    page.get_by_label("Purpose 查询目的").fill("whose bike was seen at the burgled shop")
    page.get_by_role("button", name="Search 搜索").click()
    person = page.locator('#results .result-group[data-kind="person"] .hit').first
    expect(person).to_contain_text(OWNER)
    expect(person).to_contain_text("pinyin zw starts with zw")
    expect(page.locator("#search-notice")).to_contain_text("Saved in the case")

    page.get_by_label("Search 搜索", exact=True).fill("00002222")
    page.get_by_role("button", name="Search 搜索").click()
    expect(person).to_contain_text("phone 139****2222 holds 00002222")
    expect(person).not_to_contain_text("13900002222")  # masked, even here

    person.get_by_role("button", name="Links 关联").click()
    expect(page.locator("#graph-box")).to_be_visible()
    expect(page.locator(f'#graph g.node[data-node="ebike:{TAG}"]')).to_have_count(1)
    expect(page.locator("#link-rows")).to_contain_text("owns")
    expect(page.locator("#link-rows")).to_contain_text("ebikes")
    assert_chinese_renders(page, "搜索与关联", OWNER)
    shoot(page, "search-links")

    # A pattern that would match everything is refused, naming what to add.
    page.get_by_label("Search 搜索", exact=True).fill("浙C*")
    page.get_by_role("button", name="Search 搜索").click()
    expect(page.locator("#q-error")).to_contain_text("at least 3 fixed characters")


def test_other_roles_do_not_get_the_search_page(live: LiveCity, page: Any) -> None:
    dispatcher = live.account(Role.DISPATCHER, areas=("D01",))
    sign_in(page, live, dispatcher, start="/", lands="/")
    answer = page.goto("/search")
    assert answer is not None and answer.status == 403
    expect(page.locator("#refused-heading")).to_have_text("Not allowed")
    expect(page.locator("#q")).to_have_count(0)
