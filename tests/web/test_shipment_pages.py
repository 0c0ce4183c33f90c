"""The hazardous-chemical shipments' console pages (/shipments, /shipments/{id}) and the two reads the
shipment page adds to the API (the vehicle's fixes, the shipment's ledger).

The pages are shells (their data comes from the API, which the browser test drives), so these check
what the server decides: who may open which page, the landmarks the page script needs, that a
shipment out of reach is refused (and audited) before anything is drawn, and that the new reads
answer only what belongs to the shipment, in reach, audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safecity.core.clock import ManualClock
from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.roles import Role
from safecity.store import transaction
from safecity.tracking.hazmat_schemas import DeliverIn
from safecity.web.app import create_app
from safecity.web.auth import ACCESS_COOKIE
from tests.authn import mint
from tests.conftest import T0
from tests.tracking.hazmat_city import OFFICER, Fixes, build_city, drive, under_way
from tests.web.conftest import platform, schema_db  # noqa: F401

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
BASE = "/api/v1/hazmat/shipments"


@pytest.fixture
def city(platform: Platform) -> dict[str, Any]:  # noqa: F811
    """Sites A (C1) and B (C2); a shipment A → B loaded an hour ago, with fixes before and since."""
    loaded = T0 - timedelta(hours=1)  # the platform is at T0
    clock = ManualClock(loaded)
    built = build_city(platform.session_factory, clock)
    hour = timedelta(hours=1)
    windows = {
        "depart_from": loaded,
        "depart_until": loaded + hour,
        "arrive_from": loaded + hour,
        "arrive_until": loaded + 4 * hour,
    }
    shipment = under_way(built, loaded_t=20, **windows)
    fixes = Fixes()
    before = drive(loaded - timedelta(minutes=30), [120.60, 120.601])  # not yet this shipment's
    during = drive(loaded + timedelta(minutes=5), [120.61, 120.62, 120.63], speed=55.0)
    platform.lake.append(fixes(before + during))
    with transaction(platform.session_factory) as session:  # a community with neither end of it
        session.add(Area(id="C3", kind="community", name="C3", parent_id="S2", station_id="S2"))
    return {"shipment": shipment, "during": during, "city": built}


def _browser(platform: Platform, role: Role, **kw: Any) -> TestClient:  # noqa: F811
    """A browser signed in (access cookie) with a new account of `role`."""
    client = TestClient(create_app(platform, manage_platform=False), headers=HTML)
    token = mint(platform.security, role, **kw)["Authorization"].removeprefix("Bearer ")
    client.cookies.set(ACCESS_COOKIE, token)
    return client


def _audited(platform: Platform, action: str, outcome: str | None = None) -> list[Any]:  # noqa: F811
    with transaction(platform.session_factory) as session:
        return [
            r
            for r in audit.search(session, AuditFilter(outcome=outcome, limit=500))
            if r.action == action or action in r.resource
        ]


def test_an_officer_opens_the_shipments_and_a_shipments_map(
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
) -> None:
    officer = _browser(platform, Role.COMMUNITY_OFFICER, areas=("C1",))
    listing = officer.get("/shipments")
    assert listing.status_code == 200
    html = listing.text
    assert '<a href="/shipments" aria-current="page">Shipments 危化品</a>' in html
    for landmark in ('id="ship-list"', 'id="status-filter"', 'value="in_transit"', "/static/shipments.js"):
        assert landmark in html, landmark

    page = officer.get(f"/shipments/{city['shipment']}")
    assert page.status_code == 200
    html = page.text
    for landmark in (
        f'data-shipment="{city["shipment"]}"',
        'id="map"',
        'id="time-slider"',
        'id="warning-list"',
        'id="evidence-list"',
        'id="ship-facts"',
        'id="movement-list"',
        "Restricted zone 禁行区",
        "Permitted stop 允许停靠点",
        "Planned route 计划路线",
        "/static/shipment.js",
        "/static/vendor/maplibre-gl-csp.js",
    ):
        assert landmark in html, landmark
    assert "<script>" not in html and "style=" not in html  # the strict CSP allows neither


def test_the_consignees_officer_may_open_it_and_another_areas_officer_is_refused(
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
) -> None:
    consignee = _browser(platform, Role.COMMUNITY_OFFICER, areas=("C2",))
    assert consignee.get(f"/shipments/{city['shipment']}").status_code == 200
    far = _browser(platform, Role.COMMUNITY_OFFICER, areas=("C3",))
    refused = far.get(f"/shipments/{city['shipment']}")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html") and "Not allowed" in refused.text
    assert 'id="map"' not in refused.text
    assert len(_audited(platform, f"/shipments/{city['shipment']}", outcome="refused")) == 1
    assert far.get("/shipments").status_code == 200  # the list, empty for them, is theirs to open
    # An unknown shipment is the page's to say (from the API's 404), not a 500.
    assert far.get("/shipments/999999").status_code == 200


@pytest.mark.parametrize("role", [Role.LANDLORD, Role.GUARD, Role.CITIZEN, Role.AUDITOR])
def test_roles_without_hazmat_read_are_refused_both_pages_and_see_no_nav_entry(
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
    role: Role,
) -> None:
    browser = _browser(platform, role, **({"areas": ("C1",)} if role is Role.GUARD else {}))
    for path in ("/shipments", f"/shipments/{city['shipment']}"):
        answer = browser.get(path)
        assert answer.status_code == 403, path
        assert "Not allowed" in answer.text and "Shipments 危化品" not in answer.text


def test_signed_out_browsers_are_sent_to_sign_in(platform: Platform, city: dict[str, Any]) -> None:  # noqa: F811
    anonymous = TestClient(create_app(platform, manage_platform=False), headers=HTML)
    for path in ("/shipments", f"/shipments/{city['shipment']}"):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")


def test_the_fixes_are_the_vehicles_since_loading_with_speed_in_reach_and_audited(
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
) -> None:
    with TestClient(create_app(platform, manage_platform=False)) as api:
        officer = mint(platform.security, Role.PATROL_OFFICER, areas=("C1",))
        answer = api.get(f"{BASE}/{city['shipment']}/fixes", headers=officer)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        during = city["during"]
        assert [(f["lat"], f["lon"], f["speed_kmh"]) for f in body["fixes"]] == [
            (lat, lon, speed) for _, lat, lon, speed in during
        ]  # the two fixes before the loading are not this shipment's
        assert body["truncated"] is False
        # Polling: only what came from `start` on.
        since = during[1][0].isoformat()
        later = api.get(f"{BASE}/{city['shipment']}/fixes", params={"start": since}, headers=officer).json()
        assert [f["lon"] for f in later["fixes"]] == [120.62, 120.63]

        far = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C3",))
        assert api.get(f"{BASE}/{city['shipment']}/fixes", headers=far).status_code == 403
        assert api.get(f"{BASE}/999999/fixes", headers=officer).status_code == 404
        bad = api.get(f"{BASE}/{city['shipment']}/fixes", params={"start": "yesterday"}, headers=officer)
        assert bad.status_code == 422 and "start" in bad.text
        future = (T0 + timedelta(days=1)).isoformat()
        late = api.get(f"{BASE}/{city['shipment']}/fixes", params={"start": future}, headers=officer)
        assert late.status_code == 422 and late.json()["error"]["field"] == "start"
    reads = [r for r in _audited(platform, "hazmat.shipment_fixes") if r.action == "hazmat.shipment_fixes"]
    assert sorted(r.result_count for r in reads if r.outcome == "allowed") == [2, 3]  # newest first


def test_the_ledger_is_the_shipments_own_movements_with_both_sites(
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
) -> None:
    built = city["city"]
    built.shipments.deliver(OFFICER, city["shipment"], DeliverIn(quantity=19.5, unit="t"), resource="t")
    with TestClient(create_app(platform, manage_platform=False)) as api:
        consignee = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C2",))
        answer = api.get(f"{BASE}/{city['shipment']}/movements", headers=consignee)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["product"]["un_number"] == "1203"
        assert (body["consignor"]["name"], body["consignee"]["name"]) == ("Depot A", "Works B")
        assert [(m["kind"], m["site_id"], m["quantity_kg"]) for m in body["movements"]] == [
            ("dispatched", built.site_a, -20_000.0),
            ("received", built.site_b, 19_500.0),
        ]  # the production at A is the site's, not the shipment's
        far = mint(platform.security, Role.COMMUNITY_OFFICER, areas=("C3",))
        assert api.get(f"{BASE}/{city['shipment']}/movements", headers=far).status_code == 403
        landlord = mint(platform.security, Role.LANDLORD)
        assert api.get(f"{BASE}/{city['shipment']}/movements", headers=landlord).status_code == 403
    assert [r for r in _audited(platform, "hazmat.shipment_ledger_read") if r.outcome == "allowed"]
