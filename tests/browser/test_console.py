"""The console in a real browser: sign-in, live alerts over SSE, the explained detail, the lifecycle,
the bike desk, and a citizen's view of who accessed their data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from safecity.security.roles import Role
from tests.authn import mint
from tests.browser.livecity import Credentials, LiveCity, valid_id_number

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/console.png"
CITY_LAYERS = {"district", "station_area", "community", "road", "base_station", "police_station"}
PATH_POINTS_JS = """async () => {
  const data = await window.safecityMap.getSource('path').getData();
  return data.features.filter((f) => f.geometry.type === 'Point').length;
}"""


def sign_in(page: Any, live: LiveCity, who: Credentials, *, start: str = "/", lands: str = "/") -> None:
    """Open `start`, sign in through the real form (one-time code too, where the account has one)."""
    answer = page.goto(start)
    # The app sends the policy itself; the page fixture fails the test on any violation of it.
    assert "script-src 'self'" in answer.headers.get("content-security-policy", "")
    expect(page).to_have_url(re.compile(r"/login(\?next=.*)?$"))
    form = page.locator("#login-form")
    form.get_by_label("Username").fill(who.username)
    form.get_by_label("Password").fill(who.password)
    if who.totp_secret:
        form.get_by_label("One-time code").fill(who.totp())
    form.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live.base_url + lands)
    expect(page.locator(".whoami")).to_contain_text(who.display_name)


def _register(live: LiveCity, tag: str, *, owner: str, id_number: str) -> dict[str, Any]:
    """Register a bike through the API as the desk investigator; the answer shows the owner masked."""
    with live.api() as client:
        bike = client.post(
            "/api/v1/bikes",
            json={
                "tag_id": tag,
                "frame_number": f"FR-{tag}",
                "model": "Yadea G5",
                "colour": "red",
                "owner_id_number": id_number,
                "owner_name": owner,
                "owner_phone": "13812345678",
                "owner_area_id": "C010101",  # where the owner lives: what a case over D01 covers
            },
        )
    assert bike.status_code == 201, bike.text
    answer: dict[str, Any] = bike.json()
    assert answer["owner"]["masked"] is True
    return answer


def _open_case(live: LiveCity, headers: dict[str, str], *, members: list[str] | None = None) -> str:
    """Open a case over the test district for this week; return its id."""
    now = datetime.now(UTC)
    body = {
        "title": "Stolen e-bikes in Lucheng",
        "basis": "report LC-2026-0042",
        "area_id": "D01",
        "window_start": (now - timedelta(days=3)).isoformat(),
        "window_end": (now + timedelta(days=1)).isoformat(),
        "members": members or [],
    }
    with live.api(headers) as client:
        case = client.post("/api/v1/cases", json=body)
    assert case.status_code == 201, case.text
    case_id: str = case.json()["id"]
    return case_id


def _stolen_bike(live: LiveCity, tag: str) -> None:
    """Register a bike through the API and report it stolen (each tag's owner a new person: a second
    bike for someone already registered would wait for them to confirm it)."""
    first17 = "33030219900307" + f"{int(tag, 16) % 1000:03d}"  # born 1990-03-07, sequence from the tag
    bike = _register(live, tag, owner="Chen Jie", id_number=valid_id_number(first17))
    with live.api() as client:
        stolen = client.post(
            f"/api/v1/bikes/{bike['id']}/stolen",
            json={"reported_by": "owner Chen Jie", "basis": "report LC-2026-0042", "owner": "PC 0417"},
        )
        assert stolen.status_code == 201, stolen.text


def test_stolen_tag_read_appears_live_and_walks_its_lifecycle(
    live: LiveCity, page: Any, investigator: Credentials
) -> None:
    """A read of a stolen tag shows up without reload, grows with a second read, and is closed."""
    tag = "A1B2C3D4E5"
    _stolen_bike(live, tag)
    sign_in(page, live, investigator)
    expect(page.locator("nav.topnav a")).to_have_text(
        [
            "Console",
            "Dispatch 指挥调度",
            "Workbench 研判",
            "Bikes",
            "Wanted",
            "Wearers 老人",
            "Shipments 危化品",
            "Device health",
            "My account",
        ]
    )
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

    expect(detail.get_by_label("Your name / badge")).to_have_count(0)  # the actor is the signed-in account
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
    expect(steps.nth(1)).to_contain_text(investigator.username)
    expect(steps.nth(3)).to_contain_text(investigator.username)
    expect(steps.nth(3)).to_contain_text("Bike found chained at the Xinhe St depot")
    expect(items.first.locator(".badge.status")).to_have_text("closed")
    expect(page.locator("#open-count-value")).to_have_text("0")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(detail).to_contain_text("Closed: no further steps.")
    page.screenshot(path=SCREENSHOT)


def test_live_stream_renews_an_expired_access_token_and_keeps_delivering(
    live: LiveCity, page: Any, investigator: Credentials
) -> None:
    """The server ends the stream when the access token expires; the console renews the token
    with its refresh cookie, reconnects, and later alerts still arrive without a reload."""
    tokens, stream = live.platform.security.tokens, live.platform.alert_stream
    ttl, keepalive = tokens.ttl_s, stream.keepalive_s
    tokens.ttl_s, stream.keepalive_s = 2, 0.5  # access tokens of 2 s, checked twice a second
    try:
        tag = "B1C2D3E4F5"
        _stolen_bike(live, tag)
        sign_in(page, live, investigator)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        first = next(c["value"] for c in page.context.cookies() if c["name"] == "sc_access")
        page.wait_for_timeout(3500)  # idle: the token expires, and only the stream can notice
        renewed = next(c["value"] for c in page.context.cookies() if c["name"] == "sc_access")
        assert renewed != first  # the console fetched a new access token by itself
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        live.read_tag("BS-0001", tag)
        items = page.locator("#alert-list .alert-item", has_text=tag)
        expect(items).to_have_count(1, timeout=5000)
    finally:
        tokens.ttl_s, stream.keepalive_s = ttl, keepalive


def test_console_says_plainly_when_there_is_no_city(
    live: LiveCity, page: Any, investigator: Credentials
) -> None:
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
    sign_in(page, live, investigator)
    expect(page.locator("#map")).to_have_attribute("data-state", "no-city")
    expect(page.locator("#map-message")).to_contain_text("No city map yet")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def test_bike_desk_registers_reports_stolen_and_recovers(
    live: LiveCity, page: Any, investigator: Credentials
) -> None:
    """Register with a field error first, then report the bike stolen and mark it recovered."""
    tag = "B7C8D9E0F1"
    sign_in(page, live, investigator, start="/bikes", lands="/bikes")
    form = page.locator("#register-form")
    expect(form.get_by_label("Registered by")).to_have_count(0)  # the actor is the signed-in account
    form.get_by_label("Tag id").fill(tag.lower())
    form.get_by_label("Frame number").fill("WZ-88-1234")
    form.get_by_label("Model").fill("Aima A500")
    form.get_by_label("Colour").fill("white")
    bad = valid_id_number("33030219851224567")
    bad = bad[:-1] + ("0" if bad[-1] != "0" else "1")  # wrong check character
    form.get_by_label("Identity card number").fill(bad)
    form.get_by_label("Owner name").fill("Wang Fang")
    form.get_by_label("Phone").fill("13900001111")
    form.get_by_role("button", name="Register bike").click()
    error = page.locator("#register-owner_id_number-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("identity number")
    expect(form.get_by_label("Identity card number")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Identity card number")).to_be_focused()

    id_number = valid_id_number("33030219851224567")
    form.get_by_label("Identity card number").fill(id_number)
    form.get_by_role("button", name="Register bike").click()
    card = page.locator(".bike-card")
    expect(card).to_have_attribute("data-status", "registered")
    expect(card).to_contain_text(tag)
    expect(error).to_be_hidden()
    expect(card).to_contain_text("Wang Fang")  # the owner just entered, shown back masked
    expect(card).to_contain_text("(masked)")
    expect(card).not_to_contain_text(id_number)

    card.get_by_label("Reported by").fill("owner Wang Fang")
    card.get_by_label("Basis (report number, statement)").fill("report LC-2026-0099")
    expect(card.get_by_label("Officer answerable")).to_have_value("")  # left empty: the caller
    card.get_by_role("button", name="Report stolen").click()
    expect(card).to_have_attribute("data-status", "stolen")
    expect(card).to_contain_text("report LC-2026-0099")
    expect(card).to_contain_text(investigator.username)
    expect(card).to_contain_text("Wang Fang")  # the owner already on screen stays
    expect(page.locator("#stolen-table")).to_contain_text(tag)

    card.get_by_label("Note").fill("returned to the owner")
    card.get_by_role("button", name="Mark recovered").click()
    expect(card).to_have_attribute("data-status", "registered")
    expect(page.locator("#stolen-table")).not_to_contain_text(tag)

    lookup = page.locator("#lookup-form")
    lookup.get_by_label("Tag id").fill(tag)
    lookup.get_by_role("button", name="Look up").click()
    expect(card).to_contain_text("owner shown only under a case")
    expect(card).not_to_contain_text("Wang Fang")

    lookup.get_by_label("Case").fill("C2000-000999")
    lookup.get_by_label("Purpose").fill("identify the owner of a recovered bike")
    lookup.get_by_role("button", name="Look up").click()
    case_error = page.locator("#lookup-case_id-error")
    expect(case_error).to_be_visible()
    expect(case_error).to_contain_text("no case")
    expect(lookup.get_by_label("Case")).to_have_attribute("aria-invalid", "true")

    case_id = _open_case(live, live.bearer, members=[investigator.username])
    lookup.get_by_label("Case").fill(case_id)
    lookup.get_by_label("Purpose").fill("why")
    lookup.get_by_role("button", name="Look up").click()
    purpose_error = page.locator("#lookup-purpose-error")
    expect(purpose_error).to_contain_text("at least")
    expect(case_error).to_be_hidden()

    lookup.get_by_label("Purpose").fill("identify the owner of a recovered bike")
    lookup.get_by_role("button", name="Look up").click()
    expect(card).to_contain_text("Wang Fang")
    expect(card).to_contain_text(id_number)  # investigators see identity numbers in full, under a case
    expect(card).not_to_contain_text("(masked)")
    expect(purpose_error).to_be_hidden()


def test_citizen_sees_which_unit_looked_up_their_record(live: LiveCity, page: Any) -> None:
    """A bike owner signs in, sees only their account, and the unit (not the case) that looked them up."""
    tag = "C0FFEE0042"
    bike = _register(live, tag, owner="Lin Mei", id_number=valid_id_number("33030219770505432"))
    citizen = live.account(Role.CITIZEN, person_id=bike["owner"]["id"])
    sign_in(page, live, citizen, start="/", lands="/me")  # the console is not for citizens
    expect(page.locator("nav.topnav a")).to_have_text(["My account", "My family 家人"])
    expect(page.locator(".page-me")).to_contain_text("citizen")
    status = page.locator("#access-status")
    expect(status).not_to_have_text("Loading…")
    rows = page.locator("#access-rows tr")
    expect(rows).to_have_count(1)  # the registration at the desk
    expect(rows.first).to_contain_text("Wuma Station Desk")

    unit = "Lucheng Criminal Investigation"
    detective = mint(live.platform.security, Role.INVESTIGATOR, unit=unit)
    case_id = _open_case(live, detective)
    purpose = "trace the owner of a bike seen near a burglary"
    with live.api(detective) as client:
        found = client.get("/api/v1/bikes", params={"tag": tag, "case_id": case_id, "purpose": purpose})
    assert found.status_code == 200, found.text
    assert found.json()[0]["owner"]["name"] == "Lin Mei"

    page.reload()
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(unit)
    expect(rows.first).to_contain_text("your registration record was looked up")
    expect(page.locator("#content")).not_to_contain_text(case_id)
    expect(page.locator("#content")).not_to_contain_text(purpose)
