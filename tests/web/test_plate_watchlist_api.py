"""Staff put plates on the vehicle lists (wanted, stolen, suspicious, forged): normalised, one entry
per list, with a basis and an expiry; bad plates, unknown lists and repeats refused naming the field."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.roles import Role
from tests.authn import mint
from tests.conftest import T0
from tests.web.test_registry_api import error_of, field_name

PATH = "/api/v1/watchlist/plates"


def _list(api: TestClient, **over: object) -> object:
    body = {
        "plate": "浙C·12345",
        "list_kind": "wanted_vehicle",
        "basis": "温公刑(2026)118号",
        "valid_days": 30,
    }
    return api.post(PATH, json={**body, **over})


def test_a_plate_is_listed_normalised_with_its_expiry_and_audited(api: TestClient) -> None:
    answer = _list(api)
    assert answer.status_code == 201, answer.text
    entry = answer.json()
    assert (entry["subject_kind"], entry["subject"], entry["list_kind"]) == (
        "plate",
        "浙C12345",
        "wanted_vehicle",
    )
    assert entry["expires_at"].startswith((T0 + timedelta(days=30)).date().isoformat())
    listed = api.get("/api/v1/watchlist", params={"list_kind": "wanted_vehicle"})
    assert [e["subject"] for e in listed.json()] == ["浙C12345"]
    platform: Platform = api.app.state.platform  # type: ignore[attr-defined]
    with platform.session_factory() as session:
        [record] = audit.search(session, AuditFilter(action="watchlist.add_plate"))
    assert "plate:浙C12345" in record.subjects


def test_the_same_plate_may_stand_on_two_lists_but_not_twice_on_one(api: TestClient) -> None:
    assert _list(api).status_code == 201
    assert _list(api, list_kind="stolen_vehicle").status_code == 201
    error = error_of(_list(api, plate="浙C12345"), 409)
    assert field_name(error) == "plate" and "already on the wanted_vehicle list" in error["message"]


def test_bad_plates_lists_and_missing_basis_are_refused_naming_the_field(api: TestClient) -> None:
    for over, field in (
        ({"plate": "浙I12345"}, "plate"),  # the issuing letter is never I
        ({"plate": "hello"}, "plate"),
        ({"list_kind": "stolen_bike"}, "list_kind"),
        ({"basis": ""}, "basis"),
        ({"basis": "   "}, "basis"),
        ({"valid_days": 0}, "valid_days"),
    ):
        error = error_of(_list(api, **over), 422)
        assert field_name(error) == field, (over, error)


def test_a_partner_cannot_list_a_plate(api: TestClient) -> None:
    platform: Platform = api.app.state.platform  # type: ignore[attr-defined]
    guard = mint(platform.security, Role.GUARD, username="guard.wu")
    assert _list(api).status_code == 201  # the investigator may
    answer = api.post(
        PATH, json={"plate": "浙C54321", "list_kind": "stolen_vehicle", "basis": "x"}, headers=guard
    )
    assert error_of(answer, 403)["code"]
