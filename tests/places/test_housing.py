"""Rental housing over HTTP: a landlord registers tenants from the card reader's fields, only in the
flats they let; what is unusual is told and raised as a warning; bad cards are refused by field."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from safecity.core.ids import id_number_check_char
from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from tests.places.conftest import Housing

TENANT = "330302199003071231"  # born 1990-03-07, a man (digit 17 is odd)


def card(number: str = TENANT, **over: Any) -> dict[str, Any]:
    """What a phone's NFC reader app posts for a second-generation card."""
    return {
        "id_number": number,
        "name": "陈平",
        "sex": "男",
        "ethnicity": "汉",
        "birth_date": number[6:14],
        "address": "浙江省温州市鹿城区五马街1号",
        "issuing_authority": "温州市公安局鹿城分局",
        "valid_from": "20150101",
        "valid_until": "长期",
        **over,
    }


def register(api: TestClient, headers: dict[str, str], flat_id: int, **card_over: Any) -> Any:
    return api.post(f"/api/v1/flats/{flat_id}/tenants", json={"card": card(**card_over)}, headers=headers)


def test_a_landlord_registers_a_tenant_from_the_card_reader(api: TestClient, housing: Housing) -> None:
    answer = register(api, housing.landlord, housing.flat_id)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["notices"] == []
    assert body["tenant"]["name"] == "陈平"
    assert body["tenant"]["id_number"] == "330302********1231"
    [flat] = api.get("/api/v1/my/flats", headers=housing.landlord).json()
    assert (flat["id"], flat["tenants"], flat["over_capacity"]) == (housing.flat_id, 1, False)
    [tenant] = api.get(f"/api/v1/flats/{housing.flat_id}/tenants", headers=housing.landlord).json()
    assert tenant["tenancy_id"] == body["tenant"]["tenancy_id"]


def test_a_card_that_contradicts_its_number_is_refused_by_field(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    wrong_digit = TENANT[:-1] + ("0" if TENANT[-1] != "0" else "2")
    cases = [
        ({"number": wrong_digit}, "card.id_number"),
        ({"birth_date": "19900308"}, "card.birth_date"),
        ({"sex": "女"}, "card.sex"),
        ({"valid_from": "20200101", "valid_until": "20100101"}, "card.valid_until"),
        ({"photo": "not base64!"}, "card.photo"),
    ]
    for over, field in cases:
        answer = register(api, housing.landlord, housing.flat_id, **over)
        assert answer.status_code == 422, (over, answer.text)
        assert answer.json()["error"]["field"] == field, over
    assert api.get(f"/api/v1/flats/{housing.flat_id}/tenants", headers=housing.landlord).json() == []


def test_a_landlord_may_not_register_into_a_flat_they_do_not_let(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    answer = register(api, housing.landlord, housing.other_flat_id)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["field"] == "flat_id"
    assert (
        api.get(f"/api/v1/flats/{housing.other_flat_id}/tenants", headers=housing.landlord).status_code == 403
    )
    with platform.session_factory() as session:
        refused = audit.search(session, AuditFilter(outcome="refused", action="tenants.register"))
    assert [r.actor for r in refused] == ["li.ming"]


def test_living_in_two_flats_and_crowding_a_flat_are_told_and_warned(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    assert register(api, housing.landlord, housing.flat_id).status_code == 201
    twice = register(api, housing.other_landlord, housing.other_flat_id)
    assert twice.status_code == 201, twice.text
    assert "open tenancy registered elsewhere" in twice.json()["notices"][0]
    assert "C1" not in str(twice.json()) and "1-101" not in str(twice.json())  # not where the other one is
    for first17 in ("33030219880505123", "33030219770707123"):
        number = first17 + id_number_check_char(first17)
        answer = register(api, housing.landlord, housing.flat_id, number=number, sex=None)
        assert answer.status_code == 201, answer.text
    assert "3 tenants for a capacity of 2" in answer.json()["notices"][0]
    deadline = time.monotonic() + 5
    rules: dict[str, Any] = {}
    while len(rules) < 2 and time.monotonic() < deadline:
        rules = {a["rule"]: a for a in api.get("/api/v1/alerts", headers=housing.officer).json()["items"]}
        time.sleep(0.05)
    assert rules["tenant-registered-twice"]["area_id"] == "C2"
    assert rules["flat-over-capacity"]["area_id"] == "C1"
    assert rules["flat-over-capacity"]["station_id"] == "S1"


def test_a_checked_out_tenant_is_gone_and_cannot_be_checked_out_twice(
    api: TestClient, housing: Housing
) -> None:
    tenancy = register(api, housing.landlord, housing.flat_id).json()["tenant"]["tenancy_id"]
    done = api.post(f"/api/v1/tenancies/{tenancy}/check-out", json={}, headers=housing.landlord)
    assert done.status_code == 200, done.text
    assert done.json()["checked_out_at"] is not None
    assert api.get(f"/api/v1/flats/{housing.flat_id}/tenants", headers=housing.landlord).json() == []
    again = api.post(f"/api/v1/tenancies/{tenancy}/check-out", json={}, headers=housing.landlord)
    assert (again.status_code, again.json()["error"]["field"]) == (409, "tenancy_id")


def test_a_landlord_account_nobody_registered_lets_no_flats(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    from safecity.security.roles import Role
    from tests.authn import mint

    stranger = mint(platform.security, Role.LANDLORD)
    answer = api.get("/api/v1/my/flats", headers=stranger)
    assert answer.status_code == 403
    assert "lets no flats" in answer.json()["error"]["message"]
    with platform.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(audit.AuditRecord)) > 0


def test_a_registration_under_a_known_number_never_tells_or_moves_that_person(
    api: TestClient, housing: Housing, platform: Platform
) -> None:
    """A landlord typing somebody else's number learns nothing of them and changes nothing of theirs."""
    from safecity import registry

    assert register(api, housing.other_landlord, housing.other_flat_id).status_code == 201  # 陈平, C2
    typed = register(api, housing.landlord, housing.flat_id, name="张三", sex=None, birth_date=None)
    assert typed.status_code == 201, typed.text
    assert "陈平" not in typed.text and typed.json()["tenant"]["name"] == "张三"
    listed = api.get(f"/api/v1/flats/{housing.flat_id}/tenants", headers=housing.landlord)
    assert "陈平" not in listed.text and listed.json()[0]["name"] == "张三"
    with platform.session_factory() as session:
        person = registry.get_person_by_id_number(session, id_number=TENANT)
        assert person is not None and (person.name, person.home_area_id) == ("陈平", "C2")
    deadline = time.monotonic() + 5
    rules: set[str] = set()
    while "tenant-name-mismatch" not in rules and time.monotonic() < deadline:
        rules = {a["rule"] for a in api.get("/api/v1/alerts", headers=housing.officer).json()["items"]}
        time.sleep(0.05)
    assert "tenant-name-mismatch" in rules


def test_a_landlords_flats_say_where_they_are_by_name(api: TestClient, housing: Housing) -> None:
    [flat] = api.get("/api/v1/my/flats", headers=housing.landlord).json()
    assert (flat["compound_name"], flat["building_name"]) == ("Compound 1", "1号楼")


def test_times_past_the_calendar_in_utc_are_refused_by_name(api: TestClient, housing: Housing) -> None:
    """An offset that takes a time past 9999 or before year 1 in UTC is a 422 naming the field, not a 500."""
    past_9999, before_1 = "9999-12-31T23:00:00-23:59", "0001-01-01T00:30:00+01:00"
    for field, value in (("planned_end", past_9999), ("starts_at", before_1)):
        body = {"card": card(), field: value}
        answer = api.post(f"/api/v1/flats/{housing.flat_id}/tenants", json=body, headers=housing.landlord)
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["error"]["field"] == field, answer.text
    tenancy = register(api, housing.landlord, housing.flat_id).json()["tenant"]["tenancy_id"]
    out = api.post(f"/api/v1/tenancies/{tenancy}/check-out", json={"at": past_9999}, headers=housing.landlord)
    assert (out.status_code, out.json()["error"]["field"]) == (422, "at"), out.text
