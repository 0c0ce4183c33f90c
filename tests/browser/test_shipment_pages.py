"""Hazardous-chemical shipments in real Chromium: a tanker on its planned route leaves it and enters a
school's restricted zone; the real rules raise the off-route and restricted-zone warnings from its
fixes (posted through the real ingest), and the officer sees the route, the zones, the path with
its time slider, the warnings, and where each happened when one is selected, at a desk and on a
390 px phone. The map's own sources are read back, not only the page's text.

Set-up goes through the hazmat API as the community officer (product, two sites with stock, the
zones, the shipment planned, loaded and departed). The tanker's tracker is registered with its
JT/T 808 terminal bound to it; its fixes are posted to `/api/v1/ingest` as the terminal's records
(`tracker_fix`, the terminal's phone number as subject, speed in attrs). The loading is set back
forty minutes in the registry, so that the drive can have happened (the shipment's fixes start at
its loading, and the ingest takes no fix from the future).
"""

from __future__ import annotations

import base64
import json
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
from safecity.registry.events import changed
from safecity.security.roles import Role
from safecity.store import transaction
from safecity.tracking.hazmat_models import Shipment
from safecity.tracking.hazmat_registry import HAZMAT
from tests.authn import mint
from tests.browser.livecity import Credentials, LiveCity, watched_page
from tests.browser.test_chinese_text import assert_chinese_renders, shoot
from tests.browser.test_console import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
COMMUNITY = "C010101"
LAT = 28.005  # the route runs due east along Jiefang Rd of the test city
SITE_A, SITE_B = (LAT, 120.652), (LAT, 120.688)
ROUTE = [[120.652, LAT], [120.670, LAT], [120.688, LAT]]
SCHOOL = [[120.668, 28.012], [120.674, 28.012], [120.674, 28.016], [120.668, 28.016], [120.668, 28.012]]
DEPOT = {"type": "Circle", "center": [120.688, LAT], "radius_m": 250}
# (lat, lon): east along the route, then north off it (≈ 670 m at 28.011) and into the school's zone.
DRIVE = [
    (LAT, 120.653),
    (LAT, 120.656),
    (LAT, 120.659),
    (LAT, 120.662),
    (LAT, 120.665),
    (28.0075, 120.667),
    (28.0110, 120.668),
    (28.0130, 120.670),
    (28.0140, 120.671),
    (28.0145, 120.672),
]
OFF_FROM = 6  # the first fix further than 550 m from the route
ZONE_FROM = 7  # the first fix inside the school's zone
_serial = iter(range(1, 1000))
T = TypeVar("T")


@dataclass(frozen=True)
class Tanker:
    """A shipment under way on its tracker, and the officer who watches it."""

    shipment_id: int
    n: int  # names this tanker's sites and zones
    plate: str
    officer: Credentials
    fixes: list[tuple[float, float]]


def _aside(work: Callable[[], T]) -> T:
    # From a thread of its own: this thread runs Playwright's event loop, on which the platform would
    # otherwise schedule its bus notices (never reaching the server's).
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def _ok(answer: Any, status: int = 201) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _post_fixes(live: LiveCity, device: str, secret: str, terminal: str, fixes: list[Any]) -> None:
    """The terminal's fixes through the real ingest, as `tracker_fix` records of the bound tracker."""
    events = [
        {
            "v": 1,
            "id": uuid.uuid4().hex,
            "kind": "tracker_fix",
            "device": device,
            "subject": terminal,
            "ts": ts.isoformat(),
            "lat": lat,
            "lon": lon,
            "attrs": {"speed_kmh": 45.0, "valid": True},
        }
        for ts, lat, lon in fixes
    ]
    token = base64.b64encode(f"{device}:{secret}".encode()).decode()
    with live.api({}) as client:
        answer = client.post(
            "/api/v1/ingest",
            content="\n".join(json.dumps(e) for e in events) + "\n",
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/x-ndjson"},
        )
    assert answer.status_code == 200 and answer.json()["stored"] == len(fixes), answer.text


def _tanker(live: LiveCity) -> Tanker:
    n = next(_serial)
    device, terminal, plate = f"TRK-HZ{n}", f"0139000{n:05d}", f"浙C8{n:04d}"
    now = datetime.now(UTC)
    with transaction(live.platform.session_factory) as session:
        _, secret = registry.create_device(
            session,
            device_id=device,
            kind="tracker",
            name="危化品槽罐车",
            lat=None,
            lon=None,
            area_id=COMMUNITY,
            now=now,
        )
        registry.register_terminal(session, device_id=device, protocol="jt808", terminal=terminal, now=now)
    headers = mint(live.platform.security, Role.COMMUNITY_OFFICER, areas=("S0101", COMMUNITY))
    with live.api(headers) as api:
        products = _ok(api.get("/api/v1/hazmat/products"), 200)
        if not any(p["un_number"] == "1005" for p in products):
            product = {
                "un_number": "UN1005",
                "name": "液氨 ammonia",
                "hazard_class": "2.3",
                "density_kg_per_l": 0.68,
            }
            _ok(api.post("/api/v1/hazmat/products", json=product))
        sites = []
        for name, (lat, lon) in (("龙湾化工仓库 depot", SITE_A), ("瓯海制冷厂 works", SITE_B)):
            site = {
                "name": f"{name} {n}",
                "area_id": COMMUNITY,
                "lat": lat,
                "lon": lon,
                "licence": f"浙危化经 {n:03d}",
                "permitted_un": ["1005"],
            }
            sites.append(_ok(api.post("/api/v1/hazmat/sites", json=site))["id"])
        stock = {"un_number": "1005", "kind": "produced", "quantity": 30, "unit": "t"}
        _ok(api.post(f"/api/v1/hazmat/sites/{sites[0]}/movements", json=stock))
        _ok(api.post(f"/api/v1/hazmat/sites/{sites[1]}/movements", json={**stock, "quantity": 2}))
        zones = [
            ("restricted", "school", f"实验小学 school {n}", {"type": "Polygon", "coordinates": [SCHOOL]}),
            ("permitted_stop", "depot", f"停车场 depot {n}", DEPOT),
        ]
        for kind, category, name, geometry in zones:
            zone = {
                "kind": kind,
                "category": category,
                "name": name,
                "area_id": COMMUNITY,
                "geometry": geometry,
            }
            _ok(api.post("/api/v1/hazmat/zones", json=zone))
        hour = timedelta(hours=1)
        plan = {
            "un_number": "1005",
            "quantity": 20,
            "unit": "t",
            "consignor_site_id": sites[0],
            "consignee_site_id": sites[1],
            "carrier": "温州危运有限公司",
            "plate": plate,
            "device_id": device,
            "terminal": terminal,
            "route": {"type": "LineString", "coordinates": ROUTE},
            "depart_from": (now - hour).isoformat(),
            "depart_until": (now + hour).isoformat(),
            "arrive_from": now.isoformat(),
            "arrive_until": (now + 3 * hour).isoformat(),
        }
        shipment = _ok(api.post("/api/v1/hazmat/shipments", json=plan))["id"]
        _ok(api.post(f"/api/v1/hazmat/shipments/{shipment}/load", json={"quantity": 20, "unit": "t"}), 200)
        _ok(api.post(f"/api/v1/hazmat/shipments/{shipment}/depart"), 200)
    loaded = now - timedelta(minutes=40)

    def set_back() -> None:
        with transaction(live.platform.session_factory) as session:
            row = session.get(Shipment, shipment)
            assert row is not None
            row.loaded_at, row.departed_at = loaded, loaded + timedelta(minutes=2)
            changed(session, HAZMAT)

    _aside(set_back)
    # A fix every three minutes from the departure, the last a few minutes ago.
    fixes = [(loaded + timedelta(minutes=5 + 3 * i), lat, lon) for i, (lat, lon) in enumerate(DRIVE)]
    _post_fixes(live, device, secret, terminal, fixes)
    officer = live.account(Role.COMMUNITY_OFFICER, areas=("S0101", COMMUNITY))
    with live.api(headers) as api:  # the real rules raise both warnings from the ingested fixes
        deadline = time.monotonic() + 30
        while True:
            kinds = {
                w["rule_kind"] for w in _ok(api.get(f"/api/v1/hazmat/shipments/{shipment}"), 200)["warnings"]
            }
            if {"hazmat_off_route", "hazmat_restricted_zone"} <= kinds or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    assert {"hazmat_off_route", "hazmat_restricted_zone"} <= kinds, kinds
    return Tanker(shipment, n, plate, officer, DRIVE)


@pytest.fixture
def phone(browser: Any, live: LiveCity) -> Iterator[Any]:
    """A fresh phone-sized page; the test fails on any uncaught error or CSP violation in it."""
    with watched_page(browser, live.base_url, **PHONE) as fresh:
        yield fresh


def _source(page: Any, name: str) -> dict[str, Any]:
    """The GeoJSON a map source holds now, as MapLibre keeps it."""
    data: dict[str, Any] = page.evaluate(f"window.safecityMap.getSource('{name}').serialize().data")
    return data


def _assert_map(page: Any, tanker: Tanker) -> None:
    """Route, zones, path and live position as drawn: the map's own sources and what it says it drew."""
    map_el = page.locator("#map")
    expect(map_el).to_have_attribute("data-shipment-state", "ready")
    expect(map_el).to_have_attribute("data-route-points", str(len(ROUTE)))
    expect(map_el).to_have_attribute("data-path-points", str(len(tanker.fixes)))
    last_lat, last_lon = tanker.fixes[-1]
    expect(map_el).to_have_attribute("data-live", f"{last_lat:.6f},{last_lon:.6f}")
    [route] = _source(page, "s-route")["features"]
    assert route["geometry"]["coordinates"] == [pytest.approx(p) for p in ROUTE]
    [path] = _source(page, "s-path")["features"]
    assert path["geometry"]["coordinates"] == [pytest.approx([lon, lat]) for lat, lon in tanker.fixes]
    zones = {z["properties"]["name"]: z for z in _source(page, "s-zones")["features"]}
    school = zones[f"实验小学 school {tanker.n}"]
    assert school["properties"]["kind"] == "restricted"
    assert school["geometry"]["coordinates"][0] == [pytest.approx(p) for p in SCHOOL]
    depots = [z for z in zones.values() if z["properties"]["kind"] == "permitted_stop"]
    assert depots and all(len(d["geometry"]["coordinates"][0]) == 73 for d in depots)  # circles as rings
    expect(page.locator(".wearer-legend")).to_contain_text("Restricted zone 禁行区")
    expect(page.locator(".wearer-legend")).to_contain_text("Permitted stop 允许停靠点")


def _select_warning(page: Any, kind: str, first_fix: int, tanker: Tanker) -> dict[str, Any]:
    """Select the warning of `kind`: its fixes (from `first_fix` on) highlighted on the map."""
    button = page.locator(f'#warning-list button[data-kind="{kind}"]')
    expect(button).to_have_count(1)
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    map_el = page.locator("#map")
    alert_id = button.get_attribute("data-alert")
    expect(map_el).to_have_attribute("data-highlight", alert_id)
    expect(page.locator("#evidence")).to_be_visible()
    points = [f for f in _source(page, "s-evidence")["features"] if f["geometry"]["type"] == "Point"]
    shown = [tuple(p["geometry"]["coordinates"]) for p in points]
    expected = [(lon, lat) for lat, lon in tanker.fixes[first_fix:]]
    assert shown and shown == [pytest.approx(c) for c in expected[: len(shown)]], shown
    expect(page.locator("#evidence-list li")).to_have_count(len(shown))
    # The map now shows where it happened: the evidence lies within the visible bounds.
    bounds = page.evaluate("window.safecityMap.getBounds().toArray()")
    for lon, lat in shown:
        assert bounds[0][0] <= lon <= bounds[1][0] and bounds[0][1] <= lat <= bounds[1][1]
    return {"alert": alert_id, "points": len(shown)}


def test_an_officer_sees_the_tanker_leave_its_route_and_enter_a_restricted_zone_at_a_desk(
    live: LiveCity, page: Any
) -> None:
    tanker = _tanker(live)
    sign_in(page, live, tanker.officer, start="/shipments", lands="/shipments")
    # The page is in the bar or, when the officer's pages do not fit beside the account, in its menu.
    shown = page.locator('nav.topnav a[href="/shipments"], details.navmenu a[href="/shipments"]')
    expect(shown.first).to_have_text("Shipments 危化品")
    expect(page.locator('a[aria-current="page"]:visible, summary:visible').first).to_contain_text("Shipments")
    item = page.locator(f'#ship-list .ship-item[data-shipment="{tanker.shipment_id}"]')
    expect(item).to_contain_text("UN1005")
    expect(item).to_contain_text("液氨")
    expect(item).to_contain_text(tanker.plate)
    expect(item).to_contain_text("In transit 运输中")
    expect(item).to_contain_text("2 warnings 预警")
    expect(item).to_contain_text("龙湾化工仓库")
    # The status filter keeps only what it names, and says so in the address.
    page.locator("#status-filter").select_option("delivered")
    expect(page.locator("#ship-list")).to_have_attribute("data-loaded", "delivered")
    expect(item).to_have_count(0)
    assert page.url.endswith("?status=delivered")
    page.locator("#status-filter").select_option("in_transit")
    expect(item).to_have_count(1)
    assert_chinese_renders(page, "液氨", "龙湾化工仓库", "运输中")
    shoot(page, "shipments-list")

    item.get_by_role("link").click()
    _assert_map(page, tanker)
    expect(page.locator("#ship-title")).to_contain_text(tanker.plate)
    facts = page.locator("#ship-facts")
    expect(facts).to_contain_text("20 t")
    expect(facts).to_contain_text("龙湾化工仓库")
    expect(page.locator("#movement-list .movement-item")).to_have_count(1)
    expect(page.locator("#movement-list")).to_contain_text("Dispatched 发出")
    expect(page.locator("#movement-list")).to_contain_text("−20 t")

    # The time slider moves a marker along the path and says when the tanker was there.
    slider = page.locator("#time-slider")
    expect(slider).to_have_attribute("max", str(len(tanker.fixes) - 1))
    slider.evaluate("(el) => { el.value = '2'; el.dispatchEvent(new Event('input', { bubbles: true })); }")
    lat, lon = tanker.fixes[2]
    expect(page.locator("#map")).to_have_attribute("data-cursor", f"{lat:.6f},{lon:.6f}")
    expect(page.locator("#slider-time")).to_contain_text("(3/10)")
    shoot(page, "shipment-overview")

    off = _select_warning(page, "hazmat_off_route", OFF_FROM, tanker)
    zone = _select_warning(page, "hazmat_restricted_zone", ZONE_FROM, tanker)
    assert zone["alert"] != off["alert"]
    expect(page.locator("#evidence-routing")).to_contain_text("实验小学")
    assert page.locator("#map").get_attribute("data-highlight-zone")  # the zone entered is outlined
    assert_chinese_renders(page, "液氨", "实验小学", "禁行区", "未处理预警")
    shoot(page, "shipment-zone")


def test_an_officer_on_a_phone_sees_the_map_first_and_the_warnings_place(live: LiveCity, phone: Any) -> None:
    tanker = _tanker(live)
    sign_in(
        phone,
        live,
        tanker.officer,
        start=f"/shipments/{tanker.shipment_id}",
        lands=f"/shipments/{tanker.shipment_id}",
    )
    _assert_map(phone, tanker)
    map_box = phone.locator("#map").bounding_box()
    warnings_box = phone.locator("#warning-list").bounding_box()
    assert map_box["width"] <= PHONE["width"] and map_box["y"] < warnings_box["y"]  # the map first
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _select_warning(phone, "hazmat_off_route", OFF_FROM, tanker)
    button = phone.locator('#warning-list button[data-kind="hazmat_off_route"]').bounding_box()
    assert button["height"] >= 44  # thumb-sized
    assert_chinese_renders(phone, "液氨", "偏离路线")
    phone.set_viewport_size(PHONE)
    phone.screenshot(path="/tmp/safecity-shots/shipment-phone-offroute.png", full_page=True)
