"""A first sign-in that sets up the one-time code, in a real browser at desk and at phone width.

The account is made the way an administrator makes it (no secret anywhere); the person types the
password, gets the QR code and the key on the page, and confirms with a code computed here from
the key the page shows, as their authenticator app would.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity.security.passwords import totp_now
from safecity.security.roles import Role
from tests.browser.livecity import LiveCity, watched_page

pytestmark = pytest.mark.browser

# The parts of the enrolment page that must each be seen whole, none over another.
PARTS = ("#enrol-heading", "svg.enrol-qr", "#enrol-secret", "#enrol-uri", "#enrol-totp", "#enrol-form button")
BOXES_JS = """(selectors) => selectors.map((s) => {
  const r = document.querySelector(s).getBoundingClientRect();
  return {name: s, x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height};
})"""


def _overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["desk", "phone"])
def test_first_sign_in_sets_up_the_one_time_code(
    browser: Any, live: LiveCity, width: int, height: int
) -> None:
    """Password, then the key as a QR code and text, then a code from it: the console opens."""
    who = live.account(Role.INVESTIGATOR, areas=("D01",), enrolled=False)
    assert who.totp_secret is None  # nobody but the person below ever sees the key
    with watched_page(browser, live.base_url, width=width, height=height) as page:
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login(\?next=.*)?$"))
        form = page.locator("#login-form")
        form.get_by_label("Username").fill(who.username)
        form.get_by_label("Password").fill(who.password)
        form.get_by_role("button", name="Sign in").click()

        expect(page).to_have_url(re.compile(r"/login/enrol(\?next=.*)?$"))
        expect(page.get_by_role("heading", name="Set up your one-time code")).to_be_visible()
        qr = page.locator("svg.enrol-qr")
        expect(qr).to_be_visible()
        box = qr.bounding_box()
        assert box is not None and box["width"] >= 150 and box["height"] >= 150  # big enough to scan
        uri = page.locator("#enrol-uri").get_attribute("href") or ""
        assert uri.startswith(f"otpauth://totp/safecity:{who.username}?secret=")
        key = page.locator("#enrol-secret").inner_text().replace(" ", "")
        assert f"secret={key}&" in uri

        boxes = page.evaluate(BOXES_JS, list(PARTS))
        page_width = page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= width, f"the page scrolls sideways: {page_width} px wide at {width} px"
        for part in boxes:
            assert part["w"] > 0 and part["h"] > 0, part["name"]
            assert part["x"] >= 0 and part["x"] + part["w"] <= width, f"{part['name']} leaves the screen"
        clashes = [
            (a["name"], b["name"]) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if _overlaps(a, b)
        ]
        assert clashes == []
        page.screenshot(path=f"/tmp/enrolment-{width}.png", full_page=True)

        page.get_by_role("textbox", name="One-time code").fill(totp_now(key))
        page.get_by_role("button", name="Confirm and sign in").click()
        expect(page).to_have_url(live.base_url + "/")
        expect(page.locator(".whoami")).to_contain_text(who.display_name)
