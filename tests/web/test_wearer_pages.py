"""The elderly locators' console pages: officers' /wearers, guardians' /family, each wearer's map page.

The pages are shells (their data comes from the API, which the browser test drives), so these check
what the server decides: who may open which page, which API each reader is pointed at, the
landmarks the page script needs, and that a wearer out of reach is refused (and audited) before
anything is drawn.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from safecity.core.context import Context
from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.roles import ROLE_PERMISSIONS, Role
from safecity.store import transaction
from safecity.tracking.wearers import Wearers
from safecity.web.app import create_app
from safecity.web.auth import ACCESS_COOKIE
from tests.authn import mint
from tests.tracking.wearerfix import guardian, seed_city, wearer_in
from tests.web.conftest import platform, schema_db  # noqa: F401

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
ENROLLER = Context(
    actor="officer-c1",
    role=Role.COMMUNITY_OFFICER.value,
    permissions=frozenset(ROLE_PERMISSIONS[Role.COMMUNITY_OFFICER]),
    areas=frozenset({"S1", "C1"}),
    home_areas=("S1",),
)


@pytest.fixture
def city(platform: Platform) -> dict[str, Any]:  # noqa: F811
    """Two wearers of C1, each with their own guardian; a third in C2."""
    seed_city(platform.session_factory)
    wearers = platform.service(Wearers)
    mine = wearers.enrol(ENROLLER, wearer_in(1, devices=("TRK-1",), guardians=[guardian(101)]), resource="/t")
    theirs = wearers.enrol(
        ENROLLER, wearer_in(2, devices=("TRK-2",), guardians=[guardian(102)]), resource="/t"
    )
    far_officer = Context(
        actor="officer-c2",
        role=Role.COMMUNITY_OFFICER.value,
        permissions=ENROLLER.permissions,
        areas=frozenset({"S2", "C2"}),
        home_areas=("S2",),
    )
    far = wearers.enrol(far_officer, wearer_in(3, devices=("TRK-9",), area="C2"), resource="/t")
    [mine_guardian] = wearers.guardians(ENROLLER, mine.id, resource="/t")
    return {"mine": mine.id, "theirs": theirs.id, "far": far.id, "guardian_person": mine_guardian.person_id}


def _browser(platform: Platform, role: Role, **kw: Any) -> TestClient:  # noqa: F811
    """A browser signed in (access cookie) with a new account of `role`."""
    client = TestClient(create_app(platform, manage_platform=False), headers=HTML)
    token = mint(platform.security, role, **kw)["Authorization"].removeprefix("Bearer ")
    client.cookies.set(ACCESS_COOKIE, token)
    return client


def _refusals(platform: Platform, path: str) -> int:  # noqa: F811
    with transaction(platform.session_factory) as session:
        refused = audit.search(session, AuditFilter(outcome="refused", limit=100))
    return sum(1 for r in refused if path in r.resource)


def test_an_officer_opens_the_wearers_of_their_areas_and_a_wearers_map(
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
) -> None:
    officer = _browser(platform, Role.COMMUNITY_OFFICER, areas=("S1", "C1"))
    listing = officer.get("/wearers")
    assert listing.status_code == 200
    html = listing.text
    assert '<a href="/wearers" aria-current="page">Wearers 老人</a>' in html
    assert 'data-mode="officer"' in html and 'data-list-api="/api/v1/wearers"' in html
    assert 'id="wearer-list"' in html and "/static/wearers.js" in html
    assert "My family" not in html  # an officer guards no one through this account

    page = officer.get(f"/wearers/{city['mine']}")
    assert page.status_code == 200
    html = page.text
    for landmark in (
        f'data-wearer="{city["mine"]}"',
        'data-one-api="/api/v1/wearers"',
        'id="map"',
        'id="time-slider"',
        'id="missing-open"',
        "Report missing 报告走失",
        'id="found-form"',
        'id="withdraw-form"',
        'id="ring-list"',
        'id="people-card"',  # guardians and consent: officers only
        "/static/wearer.js",
        "/static/vendor/maplibre-gl-csp.js",
    ):
        assert landmark in html, landmark
    assert "<script>" not in html and "style=" not in html  # the strict CSP allows neither


def test_an_officer_of_another_area_is_refused_the_wearers_page(
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
) -> None:
    far = _browser(platform, Role.COMMUNITY_OFFICER, areas=("S2", "C2"))
    assert far.get(f"/wearers/{city['far']}").status_code == 200
    refused = far.get(f"/wearers/{city['mine']}")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html") and "Not allowed" in refused.text
    assert 'id="map"' not in refused.text
    assert _refusals(platform, f"/wearers/{city['mine']}") == 1


def test_a_guardian_opens_their_own_wearer_only(
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
) -> None:
    guardian_browser = _browser(platform, Role.CITIZEN, person_id=city["guardian_person"])
    family = guardian_browser.get("/family")
    assert family.status_code == 200
    html = family.text
    assert '<a href="/family" aria-current="page">My family 家人</a>' in html
    assert 'data-mode="guardian"' in html and 'data-list-api="/api/v1/my/wearers"' in html
    assert "Wearers 老人" not in html  # not an officer's page

    own = guardian_browser.get(f"/family/{city['mine']}")
    assert own.status_code == 200
    assert 'data-one-api="/api/v1/my/wearers"' in own.text and "Report missing 报告走失" in own.text
    assert 'id="people-card"' not in own.text  # the consent record is the officers'

    for other in (city["theirs"], city["far"], 999_999):  # another family's, another area's, nobody's
        refused = guardian_browser.get(f"/family/{other}")
        assert refused.status_code == 403, other
        assert "Not allowed" in refused.text and 'id="map"' not in refused.text
        assert _refusals(platform, f"/family/{other}") == 1
    assert guardian_browser.get("/wearers").status_code == 403  # the officers' page
    assert guardian_browser.get(f"/wearers/{city['mine']}").status_code == 403


@pytest.mark.parametrize("role", [Role.LANDLORD, Role.GUARD, Role.AUDITOR])
def test_roles_without_the_permissions_are_refused_both_pages(
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
    role: Role,
) -> None:
    browser = _browser(platform, role, **({"areas": ("C1",)} if role is Role.GUARD else {}))
    for path in ("/wearers", f"/wearers/{city['mine']}", "/family", f"/family/{city['mine']}"):
        answer = browser.get(path)
        assert answer.status_code == 403, path
        assert "Not allowed" in answer.text


def test_an_unlinked_citizen_sees_an_empty_family_and_no_wearer(
    platform: Platform,  # noqa: F811
    city: dict[str, Any],
) -> None:
    stranger = _browser(platform, Role.CITIZEN)
    assert stranger.get("/family").status_code == 200
    assert stranger.get(f"/family/{city['mine']}").status_code == 403


def test_signed_out_browsers_are_sent_to_sign_in(platform: Platform, city: dict[str, Any]) -> None:  # noqa: F811
    anonymous = TestClient(create_app(platform, manage_platform=False), headers=HTML)
    for path in ("/wearers", f"/wearers/{city['mine']}", "/family", f"/family/{city['mine']}"):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
