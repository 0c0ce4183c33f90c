"""What an area-scoped account reaches, tried from outside against the live server (issue 9, items 1-4).

Each test was written against the hole a hostile tester found: it failed before the fix.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from safecity.security.roles import Role
from tests.security.conftest import IN, OUT, SITE, World

JUSTIFY = {"purpose": "theft investigation"}


def _bikes(client: httpx.Client, world: World, role: Role, **params: Any) -> httpx.Response:
    who = world.accounts[role]
    return client.get("/api/v1/bikes", params=params, headers=who.headers)


def test_a_case_bounds_every_owner_a_bike_list_reveals(world: World) -> None:
    """Item 1: an S1 investigator under an S1 case sees the S1 owner, never the D2 owner."""
    investigator = world.accounts[Role.INVESTIGATOR]
    case = {"case_id": investigator.case_id, **JUSTIFY}
    with world.client() as client:
        for where, shown in ((IN, True), (OUT, False)):
            bike_id = world.bikes[where]
            listed = client.get(
                "/api/v1/bikes",
                params={"frame": _frame(world, bike_id), **case},
                headers=investigator.headers,
            )
            one = client.get(f"/api/v1/bikes/{bike_id}", params=case, headers=investigator.headers)
            for answer in (listed.json()[0], one.json()):
                assert answer["id"] == bike_id
                if shown:
                    assert answer["owner"]["home_area_id"] == SITE[IN]["community"]
                    assert answer["owner_withheld"] is None
                else:
                    assert answer["owner"] is None
                    assert answer["owner_withheld"] == "outside_case_area"
            assert "330302198001011230" not in listed.text + one.text  # the D2 owner's number
            assert "Owner out" not in listed.text + one.text


def test_the_audit_names_only_the_owners_shown(world: World) -> None:
    """Item 1: a withheld owner was not looked at, so the trail does not say they were."""
    investigator = world.accounts[Role.INVESTIGATOR]
    case = {"case_id": investigator.case_id, **JUSTIFY}
    with world.client() as client:
        client.get(f"/api/v1/bikes/{world.bikes[OUT]}", params=case, headers=investigator.headers)
    with world.platform.session_factory() as session:
        from safecity.security import audit
        from safecity.security.audit import AuditFilter

        [record] = audit.search(
            session, AuditFilter(actor=investigator.username, action="people.read", limit=1)
        )
        assert f"person:{world.people[OUT]}" not in record.subjects


def _frame(world: World, bike_id: int) -> str:
    from safecity.registry.models import EBike

    with world.platform.session_factory() as session:
        bike = session.get(EBike, bike_id)
        assert bike is not None
        return bike.frame_number


def test_a_person_without_a_home_area_is_not_revealed_under_any_case(world: World) -> None:
    """Item 1: no case can bound a person whose area is unknown, so none reveals them."""
    from safecity import registry
    from safecity.store import transaction
    from tests.security.conftest import NOW

    with transaction(world.platform.session_factory) as session:
        registry.get_or_create_person(
            session,
            id_number="110105194912310046",
            name="No Home",
            phone=None,
            now=NOW,
            pseudonymize=world.platform.pseudonyms.pseudonym,
        )
    commander = world.accounts[Role.COMMANDER]
    with world.client() as client:
        answer = client.get(
            "/api/v1/people",
            params={"id_number": "110105194912310046", "case_id": commander.case_id, **JUSTIFY},
            headers=commander.headers,
        )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "home_area_unknown"
    assert "No Home" not in answer.text


def test_a_refused_person_lookup_does_not_say_where_they_live(world: World) -> None:
    """Item 1: the refusal of a person outside the case's area names neither them nor their area."""
    investigator = world.accounts[Role.INVESTIGATOR]
    with world.client() as client:
        answer = client.get(
            f"/api/v1/people/{world.people[OUT]}",
            params={"case_id": investigator.case_id, **JUSTIFY},
            headers=investigator.headers,
        )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "outside_case_area"
    assert not re.search(rf"\b{SITE[OUT]['community']}\b", answer.text)  # not "C2" (case ids start C2026)
    assert "Owner out" not in answer.text


def test_a_stolen_report_without_a_station_is_bound_to_the_writers_station(world: World) -> None:
    """Item 3: left out, the answerable station is the writer's own, never 'nowhere'."""
    officer = world.accounts[Role.COMMUNITY_OFFICER]
    with world.client() as client:
        answer = client.post(
            f"/api/v1/bikes/{world.new_bike(OUT)}/stolen",
            json={"reported_by": "owner", "basis": "report 9"},
            headers=officer.headers,
        )
    assert answer.status_code == 201, answer.text
    assert answer.json()["owner_station_id"] == SITE[IN]["station"]


def test_an_entry_without_a_station_is_closed_only_by_a_city_wide_writer(world: World) -> None:
    """Item 3: an entry nobody's area covers (made before stations were required) is not anybody's."""
    from safecity import registry
    from safecity.store import transaction
    from tests.security.conftest import NOW

    with transaction(world.platform.session_factory) as session:
        entry = registry.report_stolen(
            session, bike_id=world.new_bike(OUT), reported_by="owner", basis="r", owner="x", now=NOW
        )
        entry_id = entry.id
    officer = world.accounts[Role.COMMUNITY_OFFICER]
    with world.client() as client:
        answer = client.post(
            f"/api/v1/watchlist/{entry_id}/close", json={"status": "withdrawn"}, headers=officer.headers
        )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "outside_area"


def test_a_device_in_an_unknown_area_is_a_clear_422(world: World) -> None:
    """Item 11: an unknown area_id is named, not a 500 that drops the connection."""
    admin = world.accounts[Role.ADMINISTRATOR]
    with world.client() as client:
        answer = client.post(
            "/api/v1/devices",
            json={"id": "BS-NOWHERE", "kind": "rfid_station", "name": "x", "area_id": "NO-SUCH-AREA"},
            headers=admin.headers,
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "area_id"
        assert "NO-SUCH-AREA" in answer.json()["error"]["message"]
        assert client.get("/api/v1/auth/me", headers=admin.headers).status_code == 200  # same connection


def test_an_administrator_who_reads_no_alerts_registers_no_webhook(world: World) -> None:
    """Item 4: a webhook delivers what its owner may read; an administrator reads no alerts."""
    admin = world.accounts[Role.ADMINISTRATOR]
    with world.client() as client:
        answer = client.post(
            "/api/v1/webhooks", json={"url": "https://hooks.example/a"}, headers=admin.headers
        )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # a cloud metadata service
        "http://10.1.2.3/hook",
        "http://[::1]:8080/hook",
        "http://[::ffff:192.168.0.1]/hook",
    ],
)
def test_a_webhook_may_not_point_inside(world: World, url: str) -> None:
    """Item 4: loopback, private and reserved targets are refused unless the operator allows them."""
    commander = world.accounts[Role.COMMANDER]
    with world.client() as client:
        answer = client.post("/api/v1/webhooks", json={"url": url}, headers=commander.headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "url"


def test_a_webhook_delivers_only_alerts_of_its_owners_areas(world: World) -> None:
    """Item 4: a commander of S1 hears of S1's alerts, never of S2's."""
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    commander = world.accounts[Role.COMMANDER]
    try:
        with world.client() as client:
            made = client.post(
                "/api/v1/webhooks",
                json={"url": f"http://127.0.0.1:{server.server_port}/hook"},
                headers=commander.headers,
            )
            assert made.status_code == 201, made.text
            outside = world.alert(OUT)
            inside = world.alert(IN)
            deadline = time.monotonic() + 10
            while inside not in {n.get("alert_id") for n in received} and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # the S2 alert was raised first: it would have arrived by now
            client.delete(f"/api/v1/webhooks/{made.json()['id']}", headers=commander.headers)
    finally:
        server.shutdown()
        server.server_close()
    seen = {n.get("alert_id") for n in received}
    assert inside in seen
    assert outside not in seen
