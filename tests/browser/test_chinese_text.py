"""Chinese text renders as Chinese on any machine: the console serves its own Chinese web font.

On a machine without CJK system fonts (this one, and the tester's), every Chinese character used
to be drawn as the empty "tofu" box. The check asks Chromium which fonts it drew each element's
text with (comparing canvas drawings with the missing-glyph box was tried first: it passed while a
bold heading still showed boxes). Every
page is also captured at desk (1366x768) and phone (390x844) size for a person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from safecity.security.roles import Role
from tests.browser.livecity import Credentials, LiveCity, valid_id_number
from tests.browser.test_console import sign_in

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/safecity-shots")
SIZES = {"desk": (1366, 768), "phone": (390, 844)}
MODEL, COLOUR, OWNER = "雅迪 G5 电动车", "红色", "张伟"
STATION_NAME = "五马街 / 解放路"  # base station BS-0003 of the test city
FAMILY = "Noto Sans SC"

MARK_JS = """async () => {
  await document.fonts.ready;
  const cjk = /[\\u3000-\\u303f\\u3400-\\u9fff\\uf900-\\ufaff\\uff00-\\uffef]/gu;
  const marked = [];
  for (const el of document.body.querySelectorAll('*')) {
    // Not shown: no box, or inside a closed <details> (a folded menu), whose content is not drawn.
    if (!el.getClientRects().length || !el.checkVisibility()) continue;
    const texts = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE);
    const own = texts.map((n) => n.textContent).join('');
    const chars = own.match(cjk) || [];
    if (!chars.length) continue;
    el.setAttribute('data-cjk-check', String(marked.length));
    marked.push({text: own.trim().slice(0, 40), chars: chars.join('')});
  }
  return marked;
}"""


def assert_chinese_renders(page: Any, *expected: str) -> None:
    """Every shown Chinese character was drawn with the served Noto Sans SC, as Chromium reports it.

    Chromium's own account of the fonts it drew an element's text with (DevTools protocol,
    `CSS.getPlatformFontsForNode`) is the check: a character drawn with a font that lacks it (the
    empty box) is counted against that font, not against Noto Sans SC. A page that redraws its
    lists while being checked (the dispatch desk refreshes every few seconds) is checked again.
    """
    # On a loaded machine one pass over the page can take as long as the dispatch desk's refresh
    # (CI failed after five passes once): more passes, a little apart, to land between redraws.
    attempts = 12
    for attempt in range(attempts):
        try:
            _check_fonts(page, expected)
            return
        except PlaywrightError as exc:
            if "Could not find node" not in str(exc) or attempt == attempts - 1:
                raise
        except _Redrawn:
            if attempt == attempts - 1:
                raise
        page.wait_for_timeout(300)


class _Redrawn(AssertionError):
    """An element shown when the page was marked was no longer drawn when its fonts were asked for."""


def _check_fonts(page: Any, expected: tuple[str, ...]) -> None:
    marked = page.evaluate(MARK_JS)
    shown = "".join(m["chars"] for m in marked)
    for text in expected:
        assert all(ch in shown for ch in text if not ch.isascii()), f"{text!r} is not on the page"
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        bad = []
        for node in cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": "[data-cjk-check]"})[
            "nodeIds"
        ]:
            attributes = cdp.send("DOM.getAttributes", {"nodeId": node})["attributes"]
            mark = marked[int(attributes[attributes.index("data-cjk-check") + 1])]
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
            if not fonts:
                # No fonts at all: the element was hidden between marking and asking (the dispatch
                # desk's coverage card hides "No incidents yet" when its refresh lands), not drawn
                # with boxes. Check the page again rather than call it either way.
                raise _Redrawn(f"{mark['text']!r} was hidden while being checked")
            # The served files name themselves "Noto Sans SC <style>"; a system font of that name is no proof.
            served = sum(
                f["glyphCount"] for f in fonts if f["familyName"].startswith(FAMILY) and f["isCustomFont"]
            )
            if served < len(mark["chars"]):
                used = ", ".join(f"{f['familyName']} ({f['glyphCount']})" for f in fonts)
                bad.append(f"{mark['text']!r}: {len(mark['chars'])} Chinese characters, drawn with {used}")
    finally:
        cdp.detach()
    assert not bad, "Chinese drawn without a Chinese font (empty boxes):\n" + "\n".join(bad)


def shoot(page: Any, name: str) -> None:
    """Capture the page at desk and phone size (for a person to look at), and check its width."""
    SHOTS.mkdir(exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)  # the map resizes on its own frame
        page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
        # Nothing runs off the side (the top bar's name and sign-out did on a phone).
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} at {size} size is {wide} px wide in a {width} px window"
    page.set_viewport_size({"width": 1280, "height": 800})


def _register_chinese_bike(live: LiveCity, tag: str) -> dict[str, Any]:
    with live.api() as client:
        answer = client.post(
            "/api/v1/bikes",
            json={
                "tag_id": tag,
                "frame_number": f"WZ-{tag}",
                "model": MODEL,
                "colour": COLOUR,
                "owner_id_number": valid_id_number("33030219880808123"),
                "owner_name": OWNER,
                "owner_phone": "13900002222",
            },
        )
    assert answer.status_code == 201, answer.text
    bike: dict[str, Any] = answer.json()
    return bike


def test_chinese_names_models_and_colours_render_with_the_served_font(
    live: LiveCity, page: Any, investigator: Credentials
) -> None:
    fonts: list[str] = []
    page.on("request", lambda r: fonts.append(r.url) if r.resource_type == "font" else None)
    tag = "D1E2F3A4B5"
    bike = _register_chinese_bike(live, tag)

    page.goto("/login")
    shoot(page, "login")
    sign_in(page, live, investigator, start="/bikes", lands="/bikes")
    lookup = page.locator("#lookup-form")
    lookup.get_by_label("Tag id").fill(tag)
    lookup.get_by_role("button", name="Look up").click()
    card = page.locator(".bike-card")
    expect(card).to_contain_text(MODEL)
    expect(card).to_contain_text(COLOUR)
    assert_chinese_renders(page, MODEL, COLOUR)
    shoot(page, "bikes")

    with live.api() as client:
        stolen = client.post(
            f"/api/v1/bikes/{bike['id']}/stolen",
            json={"reported_by": f"车主 {OWNER}", "basis": "温州 LC-2026-0088", "owner": "PC 0417"},
        )
        assert stolen.status_code == 201, stolen.text
    page.goto("/")
    live.read_tag("BS-0003", tag)
    items = page.locator("#alert-list .alert-item")
    expect(items.first).to_contain_text(tag, timeout=5000)
    items.first.get_by_role("button").click()
    expect(page.locator("#evidence-table")).to_contain_text(STATION_NAME)
    assert_chinese_renders(page, STATION_NAME)
    shoot(page, "console")

    assert fonts, "the Chinese text loaded no web font"
    assert all(url.startswith(f"{live.base_url}/static/vendor/noto-sans-sc/") for url in fonts), fonts

    citizen = live.account(Role.CITIZEN, person_id=bike["owner"]["id"])
    page.context.clear_cookies()
    sign_in(page, live, citizen, start="/", lands="/me")
    expect(page.locator("#access-status")).not_to_have_text("Loading…")
    assert_chinese_renders(page)
    shoot(page, "me")
    page.goto("/bikes")  # not for citizens: the refused page
    expect(page.locator("#content")).to_be_visible()
    shoot(page, "refused")
