"""Claims about a person wait for that person (issue 9, items 2 and 5), tried against the live server.

A partner registering a bike to somebody else's identity number learns nothing about them and
attaches nothing; an administrator cannot tie a citizen account to a person. The person confirms,
with the code texted to their phone on record (fetched here by a real SMS gateway device over the
API) or in person at a police station.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest

from safecity import registry
from safecity.core.ids import id_number_check_char
from safecity.registry.models import EBike, Person
from safecity.security import accounts
from safecity.security.roles import Role
from safecity.store import transaction
from tests.authn import PASSWORD
from tests.security.conftest import IN, NOW, OUT, SITE, World

OUT_PHONE = "13912345678"


@pytest.fixture(scope="module")
def gateway(world: World) -> dict[str, str]:
    """An SMS gateway device: its Basic credentials."""
    with transaction(world.platform.session_factory) as session:
        _, secret = registry.create_device(
            session,
            device_id="SMS-GW-1",
            kind="sms_gateway",
            name="SMS gateway",
            lat=None,
            lon=None,
            area_id=None,
            now=NOW,
        )
        person = session.get(Person, world.people[OUT])
        assert person is not None
        person.phone = OUT_PHONE  # the D2 owner has a phone on record
    token = base64.b64encode(f"SMS-GW-1:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def texts(client: httpx.Client, gateway: dict[str, str], phone: str) -> list[str]:
    """What the gateway is handed for a phone (each message reported sent)."""
    answer = client.get("/api/v1/gateway/messages", headers=gateway)
    assert answer.status_code == 200, answer.text
    found = []
    for message in answer.json():
        reported = client.post(
            f"/api/v1/gateway/messages/{message['id']}", json={"sent": True}, headers=gateway
        )
        assert reported.status_code == 204, reported.text
        if message["to"] == phone:
            found.append(message["body"])
    return found


def code_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found is not None, text
    return found.group(1)


def _register(client: httpx.Client, world: World, role: Role, id_number: str, name: str) -> httpx.Response:
    n = next(world.serial)
    body = {
        "tag_id": f"{0xD0000000 + n:08X}",
        "frame_number": f"CLAIM-{n}",
        "model": "Yadea",
        "colour": "green",
        "owner_id_number": id_number,
        "owner_name": name,
    }
    return client.post("/api/v1/bikes", json=body, headers=world.accounts[role].headers)


def test_a_partner_registering_to_someone_elses_number_learns_nothing_and_attaches_nothing(
    world: World, gateway: dict[str, str]
) -> None:
    """Item 2: the answer echoes nothing stored, and the bike has no owner until they confirm."""
    out_number = "330302198001011230"
    with world.client() as client:
        texts(client, gateway, OUT_PHONE)  # earlier messages out of the way
        answer = _register(client, world, Role.COMMITTEE_WORKER, out_number, "Any Name")
        assert answer.status_code == 201, answer.text
        bike = answer.json()
        assert (bike["owner"], bike["owner_pending"]) == (None, "code_sent")
        for stored in ("Owner out", SITE[OUT]["community"], "3303", OUT_PHONE[-4:]):
            assert stored not in answer.text
        with world.platform.session_factory() as session:
            row = session.get(EBike, bike["id"])
            assert row is not None and row.owner_id is None
        [sms] = texts(client, gateway, OUT_PHONE)
        assert "FRAME" not in sms and "CLAIM-" in sms  # the person is told which bike
        wrong = client.post(
            f"/api/v1/bikes/{bike['id']}/owner",
            json={"code": "000000" if code_in(sms) != "000000" else "111111"},
            headers=world.accounts[Role.COMMITTEE_WORKER].headers,
        )
        assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "code"
        right = client.post(
            f"/api/v1/bikes/{bike['id']}/owner",
            json={"code": code_in(sms)},
            headers=world.accounts[Role.COMMITTEE_WORKER].headers,
        )
        assert right.status_code == 200, right.text
        assert "Owner out" not in right.text
    with world.platform.session_factory() as session:
        row = session.get(EBike, bike["id"])
        assert row is not None and row.owner_id == world.people[OUT]


def test_five_wrong_codes_end_the_claim(world: World, gateway: dict[str, str]) -> None:
    """Item 2: a million codes cannot be tried; the claim ends after five wrong ones."""
    with world.client() as client:
        texts(client, gateway, OUT_PHONE)
        bike = _register(client, world, Role.COMMITTEE_WORKER, "330302198001011230", "Guess").json()
        code = code_in(texts(client, gateway, OUT_PHONE)[0])
        guess = "000000" if code != "000000" else "111111"
        headers = world.accounts[Role.COMMITTEE_WORKER].headers
        answers = [
            client.post(f"/api/v1/bikes/{bike['id']}/owner", json={"code": guess}, headers=headers)
            for _ in range(5)
        ]
        assert [a.status_code for a in answers] == [422] * 5
        late = client.post(f"/api/v1/bikes/{bike['id']}/owner", json={"code": code}, headers=headers)
        assert late.status_code == 409, late.text


def test_an_administrator_cannot_tie_a_citizen_account_to_a_person(world: World) -> None:
    """Item 5: the person decides who speaks for them, not the administrator."""
    admin = world.accounts[Role.ADMINISTRATOR]
    body: dict[str, Any] = {
        "username": f"citizen-{next(world.serial)}",
        "display_name": "C",
        "role": "citizen",
        "unit": "public",
        "password": "a long enough password",
        "person_id": world.people[OUT],
    }
    with world.client() as client:
        answer = client.post("/api/v1/users", json=body, headers=admin.headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "person_id"


def _citizen(world: World) -> dict[str, str]:
    """A new citizen account, linked to nobody, signed in."""
    from tests.security.conftest import RoleAccount

    username = f"cit-{next(world.serial)}"
    with transaction(world.platform.session_factory) as session:
        account = accounts.create_account(
            session,
            accounts.NewAccount(
                username=username, display_name=username, role=Role.CITIZEN, unit="public", password=PASSWORD
            ),
            by="tests",
            now=NOW,
        )
        account_id = account.id
    return world.token(RoleAccount(Role.CITIZEN, username, account_id, {}))


def test_a_citizen_links_their_account_with_the_code_sent_to_their_phone(
    world: World, gateway: dict[str, str]
) -> None:
    """Item 5: the same answer for any number; the code from the person's phone links the account."""
    citizen = _citizen(world)
    with world.client() as client:
        texts(client, gateway, OUT_PHONE)
        nobody = "33030219771111001" + id_number_check_char("33030219771111001")  # in no registry
        unknown = client.post("/api/v1/me/person", json={"id_number": nobody}, headers=citizen)
        known = client.post("/api/v1/me/person", json={"id_number": "330302198001011230"}, headers=citizen)

        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json()
        [sms] = texts(client, gateway, OUT_PHONE)
        assert client.get("/api/v1/me/bikes", headers=citizen).json() == []
        linked = client.post("/api/v1/me/person/confirm", json={"code": code_in(sms)}, headers=citizen)
        assert linked.status_code == 200, linked.text
        mine = client.get("/api/v1/me/bikes", headers=citizen).json()
    assert world.bikes[OUT] in [b["id"] for b in mine]


def test_the_desk_confirms_in_person_only_claims_of_its_area(world: World) -> None:
    """Items 2 and 5: without a phone on record, an officer confirms after seeing the identity card."""
    with world.client() as client:
        bike_in = _register(client, world, Role.COMMITTEE_WORKER, "11010519491231002X", "Owner in").json()
        assert bike_in["owner_pending"] == "in_person"  # the S1 owner has no phone on record
        officer = world.accounts[Role.COMMUNITY_OFFICER].headers
        claims = client.get("/api/v1/verifications", headers=officer).json()
        mine = [c for c in claims if c["subject"] == str(bike_in["id"])]
        assert [c["purpose"] for c in mine] == ["bike_owner"]
        assert all(c["id_number"].count("*") >= 8 for c in claims)  # masked: the card shows it
        unchecked = client.post(
            f"/api/v1/verifications/{mine[0]['id']}/confirm",
            json={"identity_card_seen": False},
            headers=officer,
        )
        assert unchecked.status_code == 403
        done = client.post(
            f"/api/v1/verifications/{mine[0]['id']}/confirm",
            json={"identity_card_seen": True},
            headers=officer,
        )
        assert done.status_code == 200, done.text
        partner = client.get("/api/v1/verifications", headers=world.accounts[Role.COMMITTEE_WORKER].headers)
        assert partner.status_code == 403
    with world.platform.session_factory() as session:
        row = session.get(EBike, bike_in["id"])
        assert row is not None and row.owner_id == world.people[IN]
