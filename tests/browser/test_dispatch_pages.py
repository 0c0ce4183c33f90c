"""The command centre in real Chromium: a dispatcher takes a 110 call (the place picked on the map),
sees the nearest units ranked by road ETA with the route drawn, sends the run card to four
departments in one action; the patrol officer on a 390 px phone signs on to the unit, accepts,
sets off, arrives and reports back; the desk sees the incident on scene and its timeline. The
map's own sources are read back, not only the page's text.

The test city's road network is a street lattice over its extent (sim.roadnet), written where the
platform looks for the generated city's roads; the community gets a boundary, so that a place
falls in an area.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity.core.context import SYSTEM
from safecity.dispatch.models import UnitKind, UnitStatus
from safecity.dispatch.schemas import UnitIn
from safecity.dispatch.units import Units
from safecity.registry.models import Area
from safecity.security.roles import Role
from safecity.sim.grid import Grid
from safecity.sim.roadnet import city_roads
from safecity.store import transaction
from tests.browser.livecity import EAST, NORTH, SOUTH, WEST, Credentials, LiveCity, watched_page
from tests.browser.test_chinese_text import assert_chinese_renders, shoot
from tests.browser.test_console import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
UNITS = {"P1": (28.0050, 120.6550, UnitKind.CAR), "P2": (28.0250, 120.6950, UnitKind.CAR)}


@pytest.fixture(scope="module")
def centre(live: LiveCity) -> LiveCity:
    platform = live.platform
    grid = Grid(width_units=128, height_units=96, south=SOUTH, west=WEST)  # 6.4 x 4.8 km of streets
    city_roads(grid, seed=3).save(platform.settings.city_dir / "roads.npz")
    ring = [[WEST, SOUTH], [EAST, SOUTH], [EAST, NORTH], [WEST, NORTH], [WEST, SOUTH]]
    with transaction(platform.session_factory) as session:
        community = session.get(Area, "C010101")
        assert community is not None
        community.boundary = {"type": "Polygon", "coordinates": [ring]}
    units = platform.service(Units)
    for unit_id, (lat, lon, kind) in UNITS.items():
        body = UnitIn(
            id=unit_id,
            kind=kind,
            department="patrol",
            station_id="S0101",
            area_id="S0101",
            home_lat=lat,
            home_lon=lon,
        )
        units.add(SYSTEM, body, resource="setup")
        units.set_status(SYSTEM, unit_id, UnitStatus.AVAILABLE, expected_version=None, resource="setup")
    return live


@pytest.fixture
def phone(browser: Any, live: LiveCity) -> Iterator[Any]:
    with watched_page(browser, live.base_url) as fresh:
        fresh.set_viewport_size(PHONE)
        yield fresh


def _map_count(page: Any, source: str) -> int:
    return int(page.locator("#map").get_attribute(f"data-{source}") or 0)


def test_a_call_becomes_orders_to_four_departments_and_the_handset_reports_back(
    centre: LiveCity, page: Any, phone: Any
) -> None:
    dispatcher = centre.account(Role.DISPATCHER, areas=("D01",))
    officer: Credentials = centre.account(Role.PATROL_OFFICER, areas=("S0101",))
    sign_in(page, centre, dispatcher, start="/dispatch", lands="/dispatch")
    expect(page.locator("#map")).to_have_attribute("data-state", "ready")
    expect(page.locator("#dispatch")).to_have_attribute("data-ready", "yes")
    assert _map_count(page, "units") == 2
    expect(page.locator("#map")).to_have_attribute("data-circles", "3")  # the 1, 3 and 5-minute circles

    # The call: the place picked by a click on the map, then the form.
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6)
    expect(page.locator("#call-lat")).not_to_have_value("")
    page.locator("#call-kind").select_option("burglary_in_progress")
    page.get_by_label("Address 地址").fill("五马街 12 号")
    page.get_by_label("Caller 报警人").fill("王女士")
    page.get_by_label("Phone 电话").fill("13812345678")
    page.get_by_label("What happened 警情描述").fill("有人撬门，正在屋内")
    page.get_by_role("button", name="Create incident 创建警情").click()
    card = page.locator("#incident-card")
    expect(card).to_be_visible()
    expect(card).to_have_attribute("data-status", "open")
    expect(page.locator("#incident-meta")).to_contain_text("138****5678")  # masked for a dispatcher
    first = page.locator("#candidate-list li").first
    expect(first).to_contain_text("ETA")
    expect(page.locator("#map")).to_have_attribute("data-route", "1")  # the first unit's route is drawn
    shoot(page, "dispatch-call")

    page.get_by_role("button", name="Send run card 一键派单").click()
    expect(card).to_have_attribute("data-status", "dispatched")
    orders = page.locator("#order-list li")
    expect(orders).to_have_count(4)
    expect(page.locator("#map")).to_have_attribute("data-route", "0")  # the proposal is gone once sent
    for name in (
        "Patrol 巡逻",
        "Criminal investigation 刑侦",
        "Technical investigation 技侦",
        "Intelligence 情报",
    ):
        expect(page.locator("#order-list")).to_contain_text(name)
    patrol = page.locator("#order-list li", has_text="Patrol 巡逻")
    unit_text = patrol.inner_text()
    unit = "P1" if "P1" in unit_text else "P2"

    # The officer's phone: sign on to the unit, then work the order.
    sign_in(phone, centre, officer, start="/handset", lands="/handset")
    phone.locator(f"button[data-unit='{unit}']").click()
    expect(phone.locator("#handset")).to_have_attribute("data-unit", unit)
    order = phone.locator(".handset-order").first
    expect(order).to_have_attribute("data-status", "issued")
    for button, status in (
        ("Accept 接单", "accepted"),
        ("Set off 出发", "en_route"),
        ("Arrived 到达", "on_scene"),
    ):
        phone.locator(".handset-order").first.get_by_role("button", name=button).click()
        expect(phone.locator(".handset-order").first).to_have_attribute("data-status", status)
    phone.locator(".handset-order").first.get_by_label("Report back 反馈内容").fill(
        "嫌疑人已控制，现场已保护"
    )
    shoot(phone, "handset-on-scene")
    phone.set_viewport_size(PHONE)
    phone.locator(".handset-order").first.get_by_role("button", name="Report back 反馈").click()
    expect(phone.locator("#my-orders-empty")).to_be_visible()  # reported: no longer open
    assert_chinese_renders(phone, "警务通", "我的警组")

    # Back at the desk: on scene, the report and the timeline; the intelligence desk reports back
    # from the desk itself.
    expect(card).to_have_attribute("data-status", "on_scene", timeout=20_000)
    intelligence = page.locator("#order-list li", has_text="Intelligence 情报")
    intelligence.get_by_role("button", name="Accept 接收").click()
    expect(intelligence).to_have_attribute("data-status", "accepted")
    intelligence.get_by_label("Report back 反馈内容").fill("嫌疑人轨迹已推送")
    intelligence.get_by_role("button", name="Report back 反馈").click()
    expect(intelligence).to_have_attribute("data-status", "reported")
    expect(page.locator("#order-list")).to_contain_text("嫌疑人已控制")
    expect(page.locator("#timeline")).to_contain_text("order reported")
    # The response times count it: one incident reached, its bar drawn against the 5.9 min line.
    page.locator("#kpi-by").select_option("kind")
    expect(page.locator("#kpi-chart")).to_have_attribute("data-rows", "1")
    expect(page.locator("#kpi-overall")).to_contain_text("1 incidents")
    expect(page.locator("#kpi-chart line.kpi-reference")).to_have_count(1)
    shoot(page, "dispatch-on-scene")
    assert_chinese_renders(page, "指挥调度", "巡逻", "刑侦", "嫌疑人已控制")


def test_a_place_off_the_roads_is_refused_on_the_form_saying_how_far(centre: LiveCity, page: Any) -> None:
    dispatcher = centre.account(Role.DISPATCHER, areas=("D01",))
    sign_in(page, centre, dispatcher, start="/dispatch", lands="/dispatch")
    expect(page.get_by_role("button", name="Create incident 创建警情")).to_be_enabled()
    page.get_by_label("Latitude 纬度").fill("27.50")
    page.get_by_label("Longitude 经度").fill("120.65")
    page.get_by_role("button", name="Create incident 创建警情").click()
    expect(page.locator("#call-error")).to_contain_text("m from the nearest road")


def test_the_desk_is_refused_to_a_role_without_dispatch(centre: LiveCity, page: Any) -> None:
    landlord = centre.account(Role.LANDLORD)
    sign_in(page, centre, landlord, start="/dispatch", lands="/landlord")  # not sent where it may not go
    answer = page.goto("/dispatch")
    assert answer is not None and answer.status == 403
    expect(page.locator("#refused-heading")).to_have_text("Not allowed")
    expect(page.locator("#map")).to_have_count(0)


def test_an_alert_on_the_console_becomes_an_incident_on_the_desk_in_one_action(
    centre: LiveCity, page: Any
) -> None:
    from tests.browser.test_console import _stolen_bike

    tag = "D15A7C4E01"
    _stolen_bike(centre, tag)
    dispatcher = centre.account(Role.DISPATCHER, areas=("D01",))
    sign_in(page, centre, dispatcher)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    centre.read_tag("BS-0001", tag)
    item = page.locator("#alert-list .alert-item", has_text=tag)
    expect(item).to_have_count(1)
    item.get_by_role("button").first.click()
    page.get_by_role("button", name="Make incident 转为警情").click()
    link = page.locator("#escalated")
    expect(link).to_contain_text("Incident 警情 #")
    number = link.inner_text().split("#")[1].split()[0]
    link.click()
    expect(page).to_have_url(centre.base_url + "/dispatch")
    entry = page.locator(f"button[data-incident='{number}']")
    expect(entry).to_contain_text("盗窃")  # a stolen bike's sighting is a theft
    entry.click()
    expect(page.locator("#incident-meta")).to_contain_text("Stolen e-bike")
    expect(page.locator("#candidate-list li").first).to_contain_text("ETA")


def test_the_desk_suggests_standby_posts_and_shows_the_optimum_with_its_gap(
    centre: LiveCity, page: Any
) -> None:
    from safecity.dispatch.incidents import Incidents
    from safecity.dispatch.schemas import IncidentIn

    incidents = centre.platform.service(Incidents)
    for lat, lon in ((28.0270, 120.6900), (28.0280, 120.6950), (28.0080, 120.6600)):
        incidents.create(SYSTEM, IncidentIn(kind="theft", lat=lat, lon=lon), resource="setup")
    dispatcher = centre.account(Role.DISPATCHER, areas=("D01",))
    sign_in(page, centre, dispatcher, start="/dispatch", lands="/dispatch")
    expect(page.locator("#dispatch")).to_have_attribute("data-ready", "yes")
    page.locator("#reposition-minutes").select_option("3")
    page.get_by_role("button", name="Suggest 建议").click()
    result = page.locator("#reposition-result")
    expect(result).to_contain_text("suggested 建议")
    expect(result).to_contain_text("heuristic")
    expect(page.locator("#reposition-moves li").first).to_be_visible()
    page.get_by_role("button", name="Optimum 最优解").click()
    expect(result).to_contain_text("exact")
    expect(result).to_contain_text("gap 差距")
    shoot(page, "dispatch-reposition")
    assert_chinese_renders(page, "待命点位建议", "最优解")
