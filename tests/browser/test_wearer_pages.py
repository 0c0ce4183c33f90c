"""Elderly locators in real Chromium: a guardian sees their own wearer and nobody else's, reports them
missing and sees the last fix, the path and the search area on the map within seconds (at a desk
and on a 390 px phone); an officer marks them found by clicking the map, or with the last fix; a
report is withdrawn. The map's own sources are read back, not only the page's text."""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from playwright.sync_api import expect

from safecity import registry
from safecity.core.context import Context
from safecity.security.roles import ROLE_PERMISSIONS, Role
from safecity.store import transaction
from safecity.tracking.wearer_schemas import WearerIn
from safecity.tracking.wearers import Wearers
from tests.browser.livecity import Credentials, LiveCity, valid_id_number, watched_page
from tests.browser.test_chinese_text import assert_chinese_renders, shoot
from tests.browser.test_console import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
COMMUNITY = "C010101"
HOME = (28.0060, 120.6600)  # lat, lon: by Wuma Street, inside the test city
STEP = 0.0006  # about 65 m north and east per fix
WALK = 12  # fixes over the last two hours, the last 20 minutes ago
ENROLLER = Context(
    actor="officer-c010101",
    role=Role.COMMUNITY_OFFICER.value,
    permissions=frozenset(ROLE_PERMISSIONS[Role.COMMUNITY_OFFICER]),
    areas=frozenset({"S0101", COMMUNITY}),
    home_areas=(COMMUNITY,),
)
_serial = itertools.count(1)
T = TypeVar("T")


@dataclass(frozen=True)
class Family:
    """A wearer with a tracker that walked this morning, and their guardian's citizen account."""

    wearer_id: int
    name: str
    guardian: Credentials
    fixes: list[tuple[float, float]]  # (lat, lon), oldest first


def _aside(work: Callable[[], T]) -> T:
    # From a thread of its own: this thread runs Playwright's event loop, on which the platform would
    # otherwise schedule its bus notices (never reaching the server's).
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def _family(live: LiveCity, name: str, guardian_name: str) -> Family:
    n = next(_serial)
    device = f"TRK-WP{n}"
    with transaction(live.platform.session_factory) as session:
        _, secret = registry.create_device(
            session,
            device_id=device,
            kind="tracker",
            name="定位手环",
            lat=HOME[0],
            lon=HOME[1],
            area_id=COMMUNITY,
            now=live.platform.clock.now(),
        )
    guardian_id = valid_id_number(f"33030219750101{n:03d}")
    body = WearerIn.model_validate(
        {
            "id_number": valid_id_number(f"33030219400201{n:03d}"),
            "name": name,
            "area_id": COMMUNITY,
            "device_ids": [device],
            "notes": "认知障碍，常去菜市场",
            "consent": {
                "given_by_id_number": guardian_id,
                "given_by_name": guardian_name,
                "capacity": "guardian",
                "basis": f"signed form WZ-2026-{n:04d}",
            },
            "guardians": [
                {
                    "id_number": guardian_id,
                    "name": guardian_name,
                    "relation": "daughter",
                    "phone": "13900001111",
                }
            ],
            "safe_zones": [
                {"name": "家 home", "lat": HOME[0], "lon": HOME[1], "radius_m": 250},
                {
                    "name": "公园 park",
                    "ring": [[120.662, 28.004], [120.666, 28.004], [120.666, 28.007], [120.662, 28.004]],
                },
            ],
        }
    )
    wearers = live.platform.service(Wearers)
    wearer = _aside(lambda: wearers.enrol(ENROLLER, body, resource="/test"))
    [guardian] = wearers.guardians(ENROLLER, wearer.id, resource="/test")
    fixes = [(HOME[0] + STEP * i, HOME[1] + STEP * i) for i in range(WALK)]
    now = datetime.now(UTC)
    events = [
        {
            "v": 1,
            "id": uuid.uuid4().hex,
            "kind": "tracker_fix",
            "device": device,
            "subject": device,
            "ts": (now - timedelta(minutes=20 + 10 * (WALK - 1 - i))).isoformat(),
            "lat": lat,
            "lon": lon,
        }
        for i, (lat, lon) in enumerate(fixes)
    ]
    token = base64.b64encode(f"{device}:{secret}".encode()).decode()
    with live.api({}) as client:
        answer = client.post(
            "/api/v1/ingest",
            content="\n".join(json.dumps(e) for e in events) + "\n",
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/x-ndjson"},
        )
    assert answer.status_code == 200 and answer.json()["stored"] == WALK, answer.text
    account = live.account(Role.CITIZEN, person_id=guardian.person_id)
    return Family(wearer.id, name, account, fixes)


@pytest.fixture
def phone(browser: Any, live: LiveCity) -> Iterator[Any]:
    """A fresh phone-sized page; the test fails on any uncaught error or CSP violation in it."""
    with watched_page(browser, live.base_url, **PHONE) as fresh:
        yield fresh


def _source(page: Any, name: str) -> dict[str, Any]:
    """The GeoJSON a map source holds now, as MapLibre keeps it."""
    data: dict[str, Any] = page.evaluate(f"window.safecityMap.getSource('{name}').serialize().data")
    return data


def _open_wearer(page: Any, href: str) -> Any:
    page.goto(href)
    map_el = page.locator("#map")
    expect(map_el).to_have_attribute("data-wearer-state", "ready")
    return map_el


def _report(page: Any, family: Family) -> float:
    """Report the wearer missing through the form; seconds from sending to the area on the map."""
    page.get_by_role("button", name="Report missing 报告走失").click()
    page.get_by_label("What they wore, where they were going 衣着、去向").fill("穿蓝色外套，说要去菜市场")
    seen = (datetime.now(UTC).astimezone() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")  # browser-local
    page.get_by_label("Last seen 最后见到时间").fill(seen)
    started = time.monotonic()
    page.get_by_role("button", name="Send report 提交报告").click()
    expect(page.locator("#ring-list .ring-item")).to_have_count(3)
    expect(page.locator("#map")).to_have_attribute("data-rings", re.compile(r"^\S+ \S+ \S+$"))
    return time.monotonic() - started


def _assert_search_on_the_map(page: Any, family: Family) -> None:
    """The last fix, the whole path and three labelled rings around the last fix, in the map's sources."""
    last_lat, last_lon = family.fixes[-1]
    map_el = page.locator("#map")
    expect(page.locator("#missing-badge")).to_be_visible()
    expect(map_el).to_have_attribute("data-last-fix", f"{last_lat:.6f},{last_lon:.6f}")
    expect(map_el).to_have_attribute("data-path-points", str(WALK))
    [line] = _source(page, "w-path")["features"]
    assert line["geometry"]["coordinates"] == [pytest.approx([lon, lat]) for lat, lon in family.fixes]
    [point] = _source(page, "w-points")["features"]
    assert point["properties"]["kind"] == "last_fix"
    assert point["geometry"]["coordinates"] == pytest.approx([last_lon, last_lat])
    rings = _source(page, "w-rings")["features"]
    assert sorted(r["properties"]["share"] for r in rings) == [0.5, 0.75, 0.95]
    for ring in rings:  # centred on the last fix
        coords = ring["geometry"]["coordinates"][0]
        centre_lon = sum(c[0] for c in coords[:-1]) / (len(coords) - 1)
        centre_lat = sum(c[1] for c in coords[:-1]) / (len(coords) - 1)
        assert (centre_lat, centre_lon) == (
            pytest.approx(last_lat, abs=1e-6),
            pytest.approx(last_lon, abs=1e-6),
        )
    # Each ring labelled with its share and radius (rings cut to the same reach share one label).
    labels = " ".join(page.locator("#map .ring-label").all_inner_texts())
    for ring in rings:
        share, radius = ring["properties"]["share"], ring["properties"]["radius_m"]
        assert f"{round(share * 100)}%" in labels, labels
        assert (f"{radius} m" if radius < 1000 else "km") in labels, labels
    expect(page.locator("#ring-list")).to_contain_text("50% within 范围内")
    expect(page.locator("#missing-facts")).to_contain_text("穿蓝色外套")
    expect(page.locator("#warning-list")).to_contain_text("wearer-missing")  # the critical warning raised


def test_a_guardian_reports_their_wearer_missing_at_a_desk_and_an_officer_marks_them_found(
    live: LiveCity, page: Any
) -> None:
    family = _family(live, "王秀英", "王小红")
    stranger = _family(live, "李建国", "李明")
    sign_in(page, live, family.guardian, start="/family", lands="/family")
    items = page.locator("#wearer-list .wearer-item")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text(family.name)
    expect(page.locator("#wearer-list")).not_to_contain_text(stranger.name)
    shoot(page, "family-list")
    refused = page.goto(f"/family/{stranger.wearer_id}")
    assert refused.status == 403
    expect(page.locator("#content")).to_contain_text("Not allowed")
    expect(page.locator("#content")).not_to_contain_text(stranger.name)

    page.goto("/family")
    items.first.get_by_role("link", name=family.name).click()
    map_el = page.locator("#map")
    expect(map_el).to_have_attribute("data-wearer-state", "ready")
    expect(page.locator("#wearer-name")).to_have_text(family.name)
    expect(map_el).to_have_attribute("data-zones", "2")
    expect(map_el).to_have_attribute("data-path-points", str(WALK))
    expect(map_el).to_have_attribute("data-live", f"{family.fixes[-1][0]:.6f},{family.fixes[-1][1]:.6f}")
    expect(page.locator("#people-card")).to_have_count(0)  # consent records are the officers'
    zones = _source(page, "w-zones")["features"]
    assert sorted(z["properties"]["name"] for z in zones) == ["公园 park", "家 home"]

    # The time slider moves a marker along the path and says when the wearer was there.
    slider = page.locator("#time-slider")
    expect(slider).to_have_attribute("max", str(WALK - 1))
    slider.evaluate("(el) => { el.value = '3'; el.dispatchEvent(new Event('input', { bubbles: true })); }")
    lat, lon = family.fixes[3]
    expect(map_el).to_have_attribute("data-cursor", f"{lat:.6f},{lon:.6f}")
    expect(page.locator("#slider-time")).to_contain_text(f"(4/{WALK})")

    seconds = _report(page, family)
    assert seconds < 5, f"the search area took {seconds:.1f} s to show"
    _assert_search_on_the_map(page, family)
    assert_chinese_renders(page, "王秀英", "穿蓝色外套", "报告走失", "搜寻范围")
    shoot(page, "wearer-missing")

    # The officer of the area sees the report on the list, and marks them found where the map is clicked.
    officer = live.account(Role.COMMUNITY_OFFICER, areas=(COMMUNITY,))
    with watched_page(page.context.browser, live.base_url) as desk:
        sign_in(desk, live, officer, start="/wearers", lands="/wearers")
        listed = desk.locator(f'.wearer-item[data-wearer="{family.wearer_id}"]')
        expect(listed).to_have_attribute("data-missing", "open")
        expect(listed.locator(".missing-badge")).to_be_visible()
        expect(desk.locator(f'.wearer-item[data-wearer="{stranger.wearer_id}"]')).to_have_attribute(
            "data-missing", "none"
        )
        assert_chinese_renders(desk, family.name, stranger.name, "走失")
        shoot(desk, "wearers-list")
        listed.get_by_role("link", name=family.name).click()
        expect(desk.locator("#map")).to_have_attribute("data-wearer-state", "ready")
        expect(desk.locator("#people-card")).to_contain_text("王小红")
        expect(desk.locator("#consent-line")).to_contain_text("Consent in force")
        _assert_search_on_the_map(desk, family)
        desk.get_by_role("button", name="Found 已找到").click()
        box = desk.locator("#map canvas").bounding_box()
        # Off the markers (the live dot sits in the middle of the rings), on the map itself.
        desk.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.3)
        expect(desk.locator("#found-lat")).not_to_have_value("")
        expect(desk.locator("#map")).to_have_attribute("data-found", re.compile(r"^[\d.]+,[\d.]+$"))
        desk.get_by_label("Note 备注").fill("在菜市场门口找到，身体无碍")
        desk.get_by_role("button", name="Mark found 确认找到").click()
        expect(desk.locator("#wearer-notice")).to_contain_text("Found 已找到")
        expect(desk.locator("#missing-badge")).to_be_hidden()
        expect(desk.locator("#map")).to_have_attribute("data-rings", "")
        assert _source(desk, "w-rings")["features"] == []
        expect(desk.locator("#warning-list")).not_to_contain_text("wearer-missing")  # closed as confirmed
        shoot(desk, "wearer-found")

    # The guardian's page, read again, shows no open report any more.
    page.reload()
    expect(page.locator("#map")).to_have_attribute("data-wearer-state", "ready")
    expect(page.locator("#missing-badge")).to_be_hidden()
    expect(page.get_by_role("button", name="Report missing 报告走失")).to_be_visible()


def test_a_guardian_on_a_phone_reports_withdraws_and_reports_again_and_the_officer_uses_the_last_fix(
    live: LiveCity, phone: Any
) -> None:
    family = _family(live, "陈桂兰", "陈伟")
    sign_in(
        phone, live, family.guardian, start=f"/family/{family.wearer_id}", lands=f"/family/{family.wearer_id}"
    )
    expect(phone.locator("#map")).to_have_attribute("data-wearer-state", "ready")
    report_button = phone.get_by_role("button", name="Report missing 报告走失")
    expect(report_button).to_be_in_viewport()  # no scrolling past the map to find it on a phone

    # A report with nothing said is refused next to the field.
    report_button.click()
    phone.get_by_role("button", name="Send report 提交报告").click()
    expect(phone.locator("#missing-circumstances-error")).to_be_visible()
    phone.get_by_role("button", name="Cancel 取消").click()

    seconds = _report(phone, family)
    assert seconds < 5, f"the search area took {seconds:.1f} s to show on a phone"
    _assert_search_on_the_map(phone, family)
    wide = phone.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the wearer page is {wide} px wide on a phone"
    assert_chinese_renders(phone, "陈桂兰", "走失")
    shoot(phone, "wearer-phone-missing")
    phone.set_viewport_size(PHONE)

    phone.get_by_role("button", name="Withdraw 撤销").click()
    phone.get_by_label("Why 原因").fill("已在邻居家找到")
    phone.get_by_role("button", name="Withdraw report 撤销报告").click()
    expect(phone.locator("#wearer-notice")).to_contain_text("Withdrawn 已撤销")
    expect(phone.locator("#missing-badge")).to_be_hidden()
    assert _source(phone, "w-rings")["features"] == []

    _report(phone, family)
    officer = live.account(Role.COMMUNITY_OFFICER, areas=(COMMUNITY,))
    with watched_page(phone.context.browser, live.base_url, **PHONE) as other:
        sign_in(
            other, live, officer, start=f"/wearers/{family.wearer_id}", lands=f"/wearers/{family.wearer_id}"
        )
        expect(other.locator("#map")).to_have_attribute("data-wearer-state", "ready")
        _assert_search_on_the_map(other, family)
        other.get_by_role("button", name="Found 已找到").click()
        other.get_by_role("button", name="Use the last fix 用最后定位").click()
        last_lat, last_lon = family.fixes[-1]
        expect(other.locator("#found-lat")).to_have_value(f"{last_lat:.6f}")
        other.get_by_role("button", name="Mark found 确认找到").click()
        expect(other.locator("#wearer-notice")).to_contain_text("min after the report")
        found = _source(other, "w-points")["features"]
        assert [f["properties"]["kind"] for f in found] == ["found"]
        assert found[0]["geometry"]["coordinates"] == pytest.approx([last_lon, last_lat])
        wide = other.evaluate("document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], f"the officer's wearer page is {wide} px wide on a phone"
