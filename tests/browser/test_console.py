"""The console in a real browser: live alerts over SSE, the explained detail, the lifecycle, the bike desk."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.livecity import LiveCity, valid_id_number

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/console.png"
CITY_LAYERS = {"district", "station_area", "community", "road", "base_station", "police_station"}
PATH_POINTS_JS = """async () => {
  const data = await window.safecityMap.getSource('path').getData();
  return data.features.filter((f) => f.geometry.type === 'Point').length;
}"""


def _stolen_bike(live: LiveCity, tag: str) -> None:
    """Register a bike through the API and report it stolen."""
    with live.api() as client:
        bike = client.post(
            "/api/v1/bikes",
            json={
                "tag_id": tag,
                "frame_number": f"FR-{tag}",
                "model": "Yadea G5",
                "colour": "red",
                "owner_id_number": valid_id_number(),
                "owner_name": "Chen Jie",
                "owner_phone": "13812345678",
                "by": "clerk 17",
            },
        )
        assert bike.status_code == 201, bike.text
        stolen = client.post(
            f"/api/v1/bikes/{bike.json()['id']}/stolen",
            json={"reported_by": "owner Chen Jie", "basis": "report LC-2026-0042", "owner": "PC 0417"},
        )
        assert stolen.status_code == 201, stolen.text


def test_stolen_tag_read_appears_live_and_walks_its_lifecycle(live: LiveCity, page: Any) -> None:
    """A read of a stolen tag shows up without reload, grows with a second read, and is closed."""
    tag = "A1B2C3D4E5"
    _stolen_bike(live, tag)
    page.goto("/")
    city_map = page.locator("#map")
    expect(city_map.locator("canvas.maplibregl-canvas")).to_be_visible()
    expect(city_map).to_have_attribute("data-state", "ready")
    assert set(city_map.get_attribute("data-layers").split()) == CITY_LAYERS
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#list-empty")).to_be_visible()

    live.read_tag("BS-0001", tag)
    items = page.locator("#alert-list .alert-item")
    expect(items).to_have_count(1, timeout=5000)
    expect(items.first).to_contain_text("Stolen e-bike seen by a base station")
    expect(items.first).to_contain_text(tag)
    expect(items.first).to_contain_text("Wuma Station")
    expect(items.first.locator(".hits")).to_have_text("1 hit")
    expect(page.locator("#open-count-value")).to_have_text("1")

    live.read_tag("BS-0002", tag)
    expect(items.first.locator(".hits")).to_have_text("2 hits", timeout=5000)
    expect(items).to_have_count(1)

    items.first.get_by_role("button").click()
    detail = page.locator("#detail")
    expect(detail.locator("#detail-title")).to_have_text("Stolen e-bike seen by a base station")
    rows = detail.locator("#evidence-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Wuma St / Jiefang Rd")
    expect(rows.nth(1)).to_contain_text("Xinhe St / Renmin Rd")
    expect(detail).to_contain_text("report LC-2026-0042")  # a registry fact used by the rule
    expect(detail).to_contain_text("Wuma Station (S0101)")  # routing
    expect(city_map).to_have_attribute("data-path-points", "2")
    assert page.evaluate(PATH_POINTS_JS) == 2
    expect(detail.locator("#cap-link")).to_have_attribute(
        "href", f"/api/v1/alerts/{items.first.get_attribute('data-id')}/cap"
    )

    page.get_by_label("Your name / badge").fill("PC 0417")
    page.get_by_role("button", name="Acknowledge").click()
    expect(detail.locator("#detail-status")).to_have_text("acknowledged")
    page.get_by_role("button", name="Dispatch").click()
    expect(detail.locator("#detail-status")).to_have_text("dispatched")
    page.get_by_label("Outcome").select_option("confirmed")
    page.get_by_label("Note").fill("Bike found chained at the Xinhe St depot")
    page.get_by_role("button", name="Close alert").click()
    expect(detail.locator("#detail-status")).to_have_text("closed")
    steps = detail.locator("#steps li")
    expect(steps).to_have_count(4)
    expect(steps.nth(3)).to_contain_text("PC 0417")
    expect(steps.nth(3)).to_contain_text("Bike found chained at the Xinhe St depot")
    expect(items.first.locator(".badge.status")).to_have_text("closed")
    expect(page.locator("#open-count-value")).to_have_text("0")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(detail).to_contain_text("Closed: no further steps.")
    page.screenshot(path=SCREENSHOT)


def test_console_says_plainly_when_there_is_no_city(live: LiveCity, page: Any) -> None:
    """Without a city map the console says so and still lists alerts."""
    page.route(
        "**/api/v1/city.geojson",
        lambda route: route.fulfill(
            status=404,
            content_type="application/json",
            body=json.dumps(
                {
                    "error": {
                        "code": "no_city",
                        "message": "no city map: run `safecity generate`",
                        "field": None,
                    }
                }
            ),
        ),
    )
    page.goto("/")
    expect(page.locator("#map")).to_have_attribute("data-state", "no-city")
    expect(page.locator("#map-message")).to_contain_text("No city map yet")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def test_bike_desk_registers_reports_stolen_and_recovers(live: LiveCity, page: Any) -> None:
    """Register with a field error first, then report the bike stolen and mark it recovered."""
    tag = "B7C8D9E0F1"
    page.goto("/bikes")
    form = page.locator("#register-form")
    form.get_by_label("Tag id").fill(tag.lower())
    form.get_by_label("Frame number").fill("WZ-88-1234")
    form.get_by_label("Model").fill("Aima A500")
    form.get_by_label("Colour").fill("white")
    bad = valid_id_number("33030219851224567")
    bad = bad[:-1] + ("0" if bad[-1] != "0" else "1")  # wrong check character
    form.get_by_label("Identity card number").fill(bad)
    form.get_by_label("Owner name").fill("Wang Fang")
    form.get_by_label("Phone").fill("13900001111")
    form.get_by_label("Registered by").fill("PC 0417")
    form.get_by_role("button", name="Register bike").click()
    error = page.locator("#register-owner_id_number-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("identity number")
    expect(form.get_by_label("Identity card number")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Identity card number")).to_be_focused()

    form.get_by_label("Identity card number").fill(valid_id_number("33030219851224567"))
    form.get_by_role("button", name="Register bike").click()
    card = page.locator(".bike-card")
    expect(card).to_have_attribute("data-status", "registered")
    expect(card).to_contain_text(tag)
    expect(error).to_be_hidden()

    card.get_by_label("Reported by").fill("owner Wang Fang")
    card.get_by_label("Basis (report number, statement)").fill("report LC-2026-0099")
    expect(card.get_by_label("Officer answerable")).to_have_value("PC 0417")  # remembered
    card.get_by_role("button", name="Report stolen").click()
    expect(card).to_have_attribute("data-status", "stolen")
    expect(card).to_contain_text("report LC-2026-0099")
    expect(page.locator("#stolen-table")).to_contain_text(tag)

    card.get_by_label("Note").fill("returned to the owner")
    card.get_by_role("button", name="Mark recovered").click()
    expect(card).to_have_attribute("data-status", "registered")
    expect(page.locator("#stolen-table")).not_to_contain_text(tag)

    page.locator("#lookup-form").get_by_label("Tag id").fill(tag)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator(".bike-card")).to_contain_text("Registered")
