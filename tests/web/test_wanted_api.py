"""Staff list a wanted person by identity number: the entry, its listing and the audit trail keep only
the card's pseudonym; bad numbers, unknown people, repeats, other stations and partner roles are refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from safecity import registry
from safecity.alerts.query import AlertFilter
from safecity.platform import Platform
from safecity.registry import RegistryChanged
from safecity.registry.models import Area
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.security.models import AuditRecord
from safecity.security.roles import Role
from safecity.store import transaction
from safecity.web.app import create_app
from tests.authn import mint
from tests.conftest import T0
from tests.places.town import Swipes, build_town
from tests.web.conftest import fresh_platform
from tests.web.test_registry_api import error_of, field_name, ids

PATH = "/api/v1/watchlist/persons"
WANTED = "11010519491231002X"  # GB 11643's own worked example
UNKNOWN = "330302199003071231"  # well formed, check digit right, nobody registered under it


@dataclass
class Desk:
    """The app, two stations' community officers, and the registered person's pseudonym."""

    client: TestClient
    platform: Platform
    officer: dict[str, str]  # community officer of S1
    other: dict[str, str]  # community officer of S2
    card: str


@pytest.fixture
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    """Stations S1 (community C1) and S2 (C2), a registered person, and an officer of each station.

    On SQLite, or on a fresh PostgreSQL database when a test asks for `desk` with "postgresql".
    """
    if getattr(request, "param", "sqlite") == "postgresql":
        url = request.getfixturevalue("empty_postgres_url")
        platform = fresh_platform(tmp_path / "unused.db", tmp_path, database_url=url)
    else:
        platform = request.getfixturevalue("platform")
    with transaction(platform.session_factory) as session:
        for station, community in (("S1", "C1"), ("S2", "C2")):
            session.add(Area(id=station, kind="station", name=station, station_id=station))
            session.flush()
            session.add(Area(id=community, kind="community", name=community, parent_id=station))
        registry.get_or_create_person(
            session,
            id_number=WANTED,
            name="Wang Wu",
            phone=None,
            now=T0,
            pseudonymize=platform.pseudonyms.pseudonym,
            home_area_id="C1",
        )
    security = platform.security
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        yield Desk(
            client,
            platform,
            mint(security, Role.COMMUNITY_OFFICER, areas=["S1"], username="pc.li"),
            mint(security, Role.COMMUNITY_OFFICER, areas=["S2"], username="pc.zhou"),
            platform.pseudonyms.pseudonym(WANTED),
        )
    platform.engine.dispose()


def _list(desk: Desk, headers: dict[str, str] | None = None, **over: Any) -> Any:
    body = {"id_number": WANTED, "basis": "warrant LC-2026-0311", "valid_days": 30, **over}
    return desk.client.post(PATH, json=body, headers=headers or desk.officer)


def _audit_text(platform: Platform) -> str:
    with platform.session_factory() as session:
        rows = session.scalars(select(AuditRecord)).all()
        return "\n".join(f"{r.resource} {r.subjects} {r.detail} {r.purpose}" for r in rows)


def test_an_officer_lists_a_person_whose_entry_holds_only_the_card_pseudonym(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = _list(desk, id_number=WANTED.lower())  # the check letter typed in lower case
    assert answer.status_code == 201, answer.text
    entry = answer.json()
    assert (entry["list_kind"], entry["subject_kind"], entry["subject"]) == (
        "wanted_person",
        "id_card",
        desk.card,
    )
    assert (entry["owner_station_id"], entry["reported_by"], entry["owner"]) == ("S1", "pc.li", "pc.li")
    assert entry["expires_at"].startswith((T0 + timedelta(days=30)).date().isoformat())
    listed = desk.client.get("/api/v1/watchlist", headers=desk.officer)
    assert ids(listed) == [entry["id"]]
    assert ids(desk.client.get("/api/v1/watchlist?list_kind=stolen_bike", headers=desk.officer)) == []
    assert ids(desk.client.get("/api/v1/watchlist?list_kind=wanted_person", headers=desk.officer)) == [
        entry["id"]
    ]
    assert ids(desk.client.get("/api/v1/watchlist", headers=desk.other)) == []  # another station's entry
    with desk.platform.session_factory() as session:
        [record] = audit.search(session, AuditFilter(action="watchlist.add_person"))
    assert (record.actor, record.status, record.outcome) == ("pc.li", 201, "allowed")
    assert f"id_card:{desk.card}" in record.subjects and "person:" not in record.subjects
    logged = capsys.readouterr()
    for text in (answer.text, listed.text, _audit_text(desk.platform), logged.out, logged.err):
        assert WANTED not in text.upper()
    assert WANTED not in repr(registry.Wanted(WANTED, "warrant"))


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"id_number": "11010519491231002Y"}, "id_number"),  # check character wrong
        ({"id_number": "110105194912310"}, "id_number"),  # too short
        ({"basis": "   "}, "basis"),
        ({"valid_days": 0}, "valid_days"),
        ({"valid_days": 3651}, "valid_days"),
        ({"name": "Wang Wu"}, "name"),  # unknown fields are refused, not ignored
    ],
)
def test_bad_input_is_422_naming_the_field(desk: Desk, over: dict[str, Any], field: str) -> None:
    assert field_name(error_of(_list(desk, **over), 422)) == field


def test_a_number_nobody_is_registered_under_is_404_naming_the_field_and_audited(desk: Desk) -> None:
    error = error_of(_list(desk, id_number=UNKNOWN), 404)
    assert (error["code"], error["field"]) == ("NotFound", "id_number")
    assert UNKNOWN not in error["message"]
    with desk.platform.session_factory() as session:
        [record] = audit.search(session, AuditFilter(action="watchlist.add_person"))
    assert (record.outcome, record.status) == ("failed", 404)
    assert UNKNOWN not in _audit_text(desk.platform)


def test_listing_a_person_twice_is_409_naming_the_field(desk: Desk) -> None:
    first = _list(desk).json()
    error = error_of(_list(desk), 409)
    assert (error["code"], error["field"]) == ("Conflict", "id_number")
    assert f"entry {first['id']}" in error["message"]
    elsewhere = error_of(_list(desk, desk.other), 409)  # the other station learns no entry number
    assert "entry" not in elsewhere["message"]


def test_an_entry_belongs_only_to_a_station_in_the_listers_reach(desk: Desk) -> None:
    refused = error_of(_list(desk, owner_station_id="S2"), 403)
    assert refused["code"] == "outside_area"
    assert field_name(error_of(_list(desk, owner_station_id="S9"), 422)) == "owner_station_id"
    commander = mint(desk.platform.security, Role.COMMANDER, areas=["S1", "S2"])
    listed = _list(desk, commander, owner_station_id="S2")
    assert listed.status_code == 201, listed.text
    assert listed.json()["owner_station_id"] == "S2"


@pytest.mark.parametrize(
    "role", [Role.LANDLORD, Role.SHOP_OWNER, Role.GUARD, Role.CITIZEN, Role.PATROL_OFFICER]
)
def test_roles_that_do_not_manage_the_watch_list_are_refused_and_the_refusal_audited(
    desk: Desk, role: Role
) -> None:
    headers = mint(
        desk.platform.security, role, areas=[] if role in (Role.LANDLORD, Role.CITIZEN) else ["C1"]
    )
    error = error_of(_list(desk, headers), 403)
    assert error["code"] == "forbidden"
    with desk.platform.session_factory() as session:
        [refused] = audit.search(session, AuditFilter(outcome="refused", action="watchlist.write"))
    assert refused.role == role.value
    assert WANTED not in _audit_text(desk.platform)
    assert desk.client.get("/api/v1/watchlist", headers=desk.officer).json() == []


def test_a_person_entry_is_closed_only_by_its_station_and_then_stops_matching(desk: Desk) -> None:
    entry = _list(desk).json()
    close = f"/api/v1/watchlist/{entry['id']}/close"
    assert error_of(desk.client.post(close, json={}, headers=desk.other), 403)["code"] == "outside_area"
    closed = desk.client.post(close, json={"status": "withdrawn", "note": "arrested"}, headers=desk.officer)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["closed_by"]) == ("withdrawn", "pc.li")
    with desk.platform.session_factory() as session:
        assert registry.active_watchlist(session, now=T0).is_empty()
        [record] = audit.search(session, AuditFilter(action="watchlist.close"))
    assert f"id_card:{desk.card}" in record.subjects
    again = _list(desk)  # closed: the person may be listed anew
    assert again.status_code == 201, again.text


def test_a_person_listed_through_the_api_is_warned_of_at_the_next_door_swipe(platform: Platform) -> None:
    town = build_town(platform.session_factory, platform.pseudonyms)
    platform.hub.emit([RegistryChanged(what="places")])  # the town was written straight to the tables
    officer = mint(platform.security, Role.COMMUNITY_OFFICER, areas=["S1"])
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        listed = client.post(
            PATH, json={"id_number": town.numbers["T3"], "basis": "warrant 7"}, headers=officer
        )
        assert listed.status_code == 201, listed.text
        # No cache is reset by hand: the use case's RegistryChanged("watchlist") does it.
        batch = Swipes()([{"subject": town.cards["T3"], "ts": T0 + timedelta(minutes=1)}])
        platform.handle_findings(platform.rules.evaluate(batch, T0 + timedelta(minutes=2)))
    [alert] = [a for a in platform.alerts.list_alerts(AlertFilter()) if a.rule == "wanted-person-at-door"]
    assert alert.subject == town.cards["T3"] and alert.station_id == "S1"
    assert town.numbers["T3"] not in str(alert)


@pytest.mark.integration
@pytest.mark.parametrize("desk", ["postgresql"], indirect=True)
def test_listing_refusing_a_repeat_and_closing_behave_the_same_on_postgresql(desk: Desk) -> None:
    entry = _list(desk).json()
    assert (entry["subject"], entry["owner_station_id"]) == (desk.card, "S1")
    assert error_of(_list(desk), 409)["field"] == "id_number"
    assert error_of(_list(desk, id_number=UNKNOWN), 404)["field"] == "id_number"
    close = desk.client.post(f"/api/v1/watchlist/{entry['id']}/close", json={}, headers=desk.officer)
    assert close.json()["status"] == "recovered", close.text
    assert ids(desk.client.get("/api/v1/watchlist?status=active", headers=desk.officer)) == []
