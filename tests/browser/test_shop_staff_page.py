"""The staff section of the shop owner's page in real Chromium: add a staff member by number and name,
a wrong check digit refused in place, remove one; Chinese labels drawn with the served font, nothing
wider than a 390 px phone, with screenshots at phone and desk width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity.core.context import SYSTEM
from safecity.places.shop_schemas import ShopIn
from safecity.places.shop_staff import ShopStaffRoster
from safecity.places.shops import Shops
from safecity.security.roles import Role
from tests.browser.livecity import LiveCity, valid_id_number, watched_page
from tests.browser.test_chinese_text import assert_chinese_renders
from tests.browser.test_console import sign_in

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/safecity-shots")
COMMUNITY = "C010101"
STAFF = valid_id_number("33030219950606122")


def test_a_shop_owner_adds_and_removes_staff_on_a_phone(browser: Any, live: LiveCity) -> None:
    owner = live.account(Role.SHOP_OWNER, areas=(COMMUNITY,))
    shop = live.platform.service(Shops).register(
        SYSTEM,
        ShopIn(
            name="南门五金店",
            community_id=COMMUNITY,
            owner_id_number=valid_id_number("33030219760606123"),
            owner_name="孙店主",
            owner_account=owner.username,
        ),
        resource="setup",
    )
    until = (datetime.now(UTC) + timedelta(days=60)).date()
    with watched_page(browser, live.base_url, width=390, height=844) as page:
        sign_in(page, live, owner, start="/shop", lands="/shop")
        staff = page.locator(f"#staff-{shop.id}")
        expect(staff.locator(".staff-empty")).to_have_text("No staff yet.")

        staff.get_by_label("Identity number").fill(STAFF[:17] + ("0" if STAFF[17] != "0" else "1"))
        staff.get_by_label("Name").fill("周店员")
        staff.get_by_role("button", name="Add staff member").click()
        expect(staff.get_by_role("status")).to_contain_text("not a valid GB 11643 identity number")
        expect(staff.locator(".staff-item")).to_have_count(0)

        staff.get_by_label("Identity number").fill(STAFF)
        staff.get_by_label("Until (optional)").fill(until.isoformat())
        staff.get_by_role("button", name="Add staff member").click()
        expect(staff.get_by_role("status")).to_contain_text("Added 周店员")
        item = staff.locator(".staff-item")
        expect(item).to_have_count(1)
        expect(item).to_contain_text("周店员")
        expect(item).to_contain_text(STAFF[-4:])
        expect(item.locator(".staff-until")).to_have_text(f"until {until.isoformat()}")
        assert_chinese_renders(page, "店员", "添加店员", "周店员")
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "shop-staff-phone.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(SHOTS / "shop-staff-desk.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})

        staff.get_by_role("button", name="Remove 周店员").click()
        expect(staff.get_by_role("status")).to_contain_text("Removed 周店员")
        expect(staff.locator(".staff-empty")).to_be_visible()
    [member] = live.platform.service(ShopStaffRoster).staff(SYSTEM, shop.id, ended=True, resource="test")
    assert (member.name, member.removed_at is not None) == ("周店员", True)
