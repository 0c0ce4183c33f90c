"""End to end: an investigator opens a case, traces a bike within it, the auditor sees the query,
the owner sees which unit looked, and every query outside the case's bounds is refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.store import transaction
from safecity.web.app import create_app
from tests.authn import mint
from tests.conftest import T0

TAG = "00A1B2C3D4"
OWNER = "11010519491231002X"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, Platform, dict[str, str]]]:
    """Two districts, a base station in each, a bike whose tag both stations read yesterday."""
    platform = Platform.build(Settings(data_dir=tmp_path), clock=ManualClock(T0))
    secrets: dict[str, str] = {}
    with transaction(platform.session_factory) as session:
        for n, (lat, lon) in ((1, (28.00, 120.65)), (2, (28.05, 120.75))):
            session.add(Area(id=f"D{n}", kind="district", name=f"District {n}"))
            session.flush()
            session.add(
                Area(id=f"S{n}", kind="station", name=f"Station {n}", parent_id=f"D{n}", station_id=f"S{n}")
            )
            session.flush()
            session.add(
                Area(
                    id=f"C{n}", kind="community", name=f"Community {n}", parent_id=f"S{n}", station_id=f"S{n}"
                )
            )
            session.flush()
            _, secrets[f"BS-{n}"] = registry.create_device(
                session,
                device_id=f"BS-{n}",
                kind="rfid_station",
                name=f"BS-{n}",
                lat=lat,
                lon=lon,
                area_id=f"C{n}",
                now=T0,
            )
        bike = registry.register_bike(
            session,
            reg=registry.BikeRegistration(
                tag_id=TAG,
                frame_number="WZ-1",
                model="Yadea",
                colour="red",
                owner_id_number=OWNER,
                owner_name="Zhang Wei",
                owner_phone="13800138000",
            ),
            by="desk",
            now=T0,
            pseudonymize=platform.pseudonyms.pseudonym,
        )
        bike.owner.home_area_id = "C1"
        owner_id = bike.owner_id
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        for n, hours in ((1, 20), (2, 19), (1, 2)):
            event = {
                "id": f"r-{n}-{hours}",
                "kind": "rfid_read",
                "subject": TAG,
                "ts": (T0 - timedelta(hours=hours)).isoformat(),
            }
            token = base64.b64encode(f"BS-{n}:{secrets[f'BS-{n}']}".encode()).decode()
            answer = client.post(
                "/api/v1/ingest",
                content=json.dumps([event]),
                headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
            )
            assert answer.json()["stored"] == 1, answer.text
        people = {
            "investigator": mint(
                platform.security,
                Role.INVESTIGATOR,
                areas=["D1"],
                username="inv-1",
                unit="Lucheng Criminal Investigation",
            ),
            "colleague": mint(platform.security, Role.INVESTIGATOR, areas=["D1"], username="inv-2"),
            "auditor": mint(platform.security, Role.AUDITOR, username="aud-1"),
            "dispatcher": mint(platform.security, Role.DISPATCHER, areas=["D1"], username="disp-1"),
            "owner": mint(platform.security, Role.CITIZEN, username="zhang", person_id=owner_id),
        }
        yield client, platform, people
    platform.engine.dispose()


def open_case(client: TestClient, who: dict[str, str], **over: Any) -> str:
    body = {
        "title": "Stolen e-bike, Wuma St",
        "basis": "report 2026-1121-0007",
        "area_id": "S1",
        "window_start": (T0 - timedelta(days=2)).isoformat(),
        "window_end": T0.isoformat(),
        **over,
    }
    answer = client.post("/api/v1/cases", json=body, headers=who)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def path(client: TestClient, who: dict[str, str], **params: Any) -> Any:
    query = {
        "start": (T0 - timedelta(days=1)).isoformat(),
        "end": T0.isoformat(),
        "purpose": "locate the stolen bike",
        **params,
    }
    return client.get(
        f"/api/v1/subjects/tag/{TAG}/path",
        params={k: v for k, v in query.items() if v is not None},
        headers=who,
    )


def test_a_path_query_within_a_case_is_answered_and_audited(
    setup: tuple[TestClient, Platform, dict[str, str]],
) -> None:
    client, platform, people = setup
    case_id = open_case(client, people["investigator"])
    answer = path(client, people["investigator"], case_id=case_id)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # Only the sightings inside the case's area (station S1), in time order.
    assert [p["device"] for p in body["points"]] == ["BS-1", "BS-1"]
    assert (body["count"], body["area_id"], body["case_id"]) == (2, "S1", case_id)

    seen = client.get("/api/v1/audit", params={"subject": f"tag:{TAG}"}, headers=people["auditor"]).json()
    traced = [r for r in seen if r["action"] == "subjects.trace"]
    assert len(traced) == 1
    assert (traced[0]["actor"], traced[0]["case_id"], traced[0]["purpose"], traced[0]["result_count"]) == (
        "inv-1",
        case_id,
        "locate the stolen bike",
        2,
    )
    assert client.get("/api/v1/audit/verify", headers=people["auditor"]).json()["ok"] is True


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"case_id": None}, 403, "justification_required"),
        ({"purpose": None}, 403, "justification_required"),
        ({"purpose": "x"}, 403, "justification_required"),
        ({"case_id": "C2026-999999"}, 404, "case_not_found"),
        ({"start": (T0 - timedelta(days=5)).isoformat()}, 403, "outside_case_window"),
        ({"end": (T0 + timedelta(hours=1)).isoformat()}, 403, "outside_case_window"),
        ({"area_id": "C2"}, 403, "outside_case_area"),
    ],
)
def test_queries_outside_the_case_are_refused_saying_why_and_audited(
    setup: tuple[TestClient, Platform, dict[str, str]], change: dict[str, Any], status: int, code: str
) -> None:
    client, platform, people = setup
    case_id = open_case(client, people["investigator"])
    params = {"case_id": case_id, **change}
    answer = path(client, people["investigator"], **params)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text
    assert answer.json()["error"]["message"]
    refused = client.get(
        "/api/v1/audit", params={"action": "subjects.trace", "outcome": "refused"}, headers=people["auditor"]
    ).json()
    assert [(r["actor"], r["status"]) for r in refused] == [("inv-1", status)]
    assert refused[0]["detail"]["code"] == code


def test_only_members_may_query_and_closing_a_case_stops_queries(
    setup: tuple[TestClient, Platform, dict[str, str]],
) -> None:
    client, _, people = setup
    case_id = open_case(client, people["investigator"])
    outsider = path(client, people["colleague"], case_id=case_id)
    assert (outsider.status_code, outsider.json()["error"]["code"]) == (403, "not_assigned")
    added = client.post(
        f"/api/v1/cases/{case_id}/members", json={"username": "inv-2"}, headers=people["investigator"]
    )
    assert added.json()["members"] == ["inv-1", "inv-2"]
    assert path(client, people["colleague"], case_id=case_id).status_code == 200
    closed = client.post(
        f"/api/v1/cases/{case_id}/close", json={"note": "recovered"}, headers=people["investigator"]
    )
    assert closed.json()["status"] == "closed"
    after = path(client, people["investigator"], case_id=case_id)
    assert (after.status_code, after.json()["error"]["code"]) == (403, "case_closed")


def test_a_case_cannot_be_opened_outside_ones_areas(
    setup: tuple[TestClient, Platform, dict[str, str]],
) -> None:
    client, _, people = setup
    answer = client.post(
        "/api/v1/cases",
        json={
            "title": "elsewhere",
            "basis": "order 9",
            "area_id": "S2",
            "window_start": (T0 - timedelta(days=1)).isoformat(),
            "window_end": T0.isoformat(),
        },
        headers=people["investigator"],
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "outside_area")


def test_owners_show_only_under_a_case_masked_by_role(
    setup: tuple[TestClient, Platform, dict[str, str]],
) -> None:
    client, _, people = setup
    plain = client.get("/api/v1/bikes", params={"tag": TAG}, headers=people["dispatcher"]).json()
    assert plain[0]["owner"] is None and OWNER not in json.dumps(plain)
    dispatcher = client.get(
        "/api/v1/bikes",
        params={"tag": TAG, "case_id": "C2026-000001", "purpose": "find owner"},
        headers=people["dispatcher"],
    )
    assert (dispatcher.status_code, dispatcher.json()["error"]["code"]) == (403, "forbidden")
    case_id = open_case(client, people["investigator"])
    found = client.get(
        "/api/v1/bikes",
        params={"tag": TAG, "case_id": case_id, "purpose": "contact the owner"},
        headers=people["investigator"],
    ).json()
    assert found[0]["owner"]["name"] == "Zhang Wei"
    assert found[0]["owner"]["id_number"] == OWNER  # investigators need it in full, under a case
    person = client.get(
        f"/api/v1/people/{found[0]['owner']['id']}",
        params={"case_id": case_id, "purpose": "contact the owner"},
        headers=people["investigator"],
    ).json()
    assert person["phone"] == "13800138000" and [b["tag_id"] for b in person["bikes"]] == [TAG]


def test_the_owner_sees_which_unit_looked_but_not_the_case(
    setup: tuple[TestClient, Platform, dict[str, str]],
) -> None:
    client, _, people = setup
    assert client.get("/api/v1/me/access-log", headers=people["owner"]).json() == []
    case_id = open_case(client, people["investigator"])
    assert path(client, people["investigator"], case_id=case_id).status_code == 200
    log = client.get("/api/v1/me/access-log", headers=people["owner"])
    assert log.status_code == 200
    entries = log.json()
    assert [(e["unit"], e["what"]) for e in entries] == [
        ("Lucheng Criminal Investigation", "sightings were looked up")
    ]
    text = log.text
    assert case_id not in text and "locate the stolen bike" not in text and "inv-1" not in text
    assert client.get("/api/v1/audit", headers=people["owner"]).status_code == 403


@pytest.mark.parametrize(
    "evil",
    [
        "' OR 1=1 --",
        "<script>alert(1)</script>",
        '"; DROP TABLE people; --',
        "../../etc/passwd",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢\x00",
    ],
)
def test_injection_in_text_fields_is_inert(
    setup: tuple[TestClient, Platform, dict[str, str]], evil: str
) -> None:
    client, platform, people = setup
    lookup = client.get("/api/v1/bikes", params={"tag": evil[:16]}, headers=people["dispatcher"])
    assert lookup.status_code in (200, 422) and (lookup.status_code == 422 or lookup.json() == [])
    case = client.post(
        "/api/v1/cases",
        json={
            "title": evil,
            "basis": evil,
            "area_id": "S1",
            "window_start": (T0 - timedelta(days=1)).isoformat(),
            "window_end": T0.isoformat(),
        },
        headers=people["investigator"],
    )
    assert case.status_code in (201, 422), case.text
    if case.status_code == 201:
        assert case.json()["title"] == evil.strip()  # stored as text, returned as JSON, never executed
        assert case.headers["content-type"].startswith("application/json")
    traced = path(client, people["investigator"], case_id=evil[:32])
    assert traced.status_code in (403, 404, 422)
    with platform.session_factory() as session:
        from sqlalchemy import func, select

        from safecity.registry.models import Person

        assert session.scalar(select(func.count()).select_from(Person)) == 1


def test_case_lists_show_members_and_covered_areas_only(
    setup: tuple[TestClient, Platform, dict[str, str]],
) -> None:
    client, platform, people = setup
    case_id = open_case(client, people["investigator"])
    elsewhere = mint(platform.security, Role.INVESTIGATOR, areas=["D2"], username="inv-d2")
    ids = lambda who: [c["id"] for c in client.get("/api/v1/cases", headers=who).json()]  # noqa: E731
    assert ids(people["colleague"]) == [case_id]  # covers D1, not a member
    assert ids(elsewhere) == []
    assert ids(people["auditor"]) == [case_id]  # city-wide
    client.post(
        f"/api/v1/cases/{case_id}/members", json={"username": "inv-d2"}, headers=people["investigator"]
    )
    assert ids(elsewhere) == [case_id]  # now a member


def test_a_path_exported_as_geojson_or_csv_is_audited_as_an_export(
    setup: tuple[TestClient, Platform, dict[str, str]],
) -> None:
    client, _, people = setup
    case_id = open_case(client, people["investigator"])
    query = {
        "start": (T0 - timedelta(days=1)).isoformat(),
        "end": T0.isoformat(),
        "purpose": "locate the stolen bike",
        "case_id": case_id,
    }
    geo = client.get(f"/api/v1/subjects/tag/{TAG}/path.geojson", params=query, headers=people["investigator"])
    assert geo.status_code == 200, geo.text
    assert geo.headers["content-type"].startswith("application/geo+json")
    assert geo.headers["content-disposition"] == f'attachment; filename="path-{case_id}-tag.geojson"'
    roles = [f["properties"]["role"] for f in geo.json()["features"]]
    assert roles == ["path", "sighting", "sighting"]
    table = client.get(f"/api/v1/subjects/tag/{TAG}/path.csv", params=query, headers=people["investigator"])
    assert table.status_code == 200, table.text
    lines = table.text.splitlines()
    assert lines[0] == "ts,kind,device,lat,lon,area" and len(lines) == 3
    assert all(",rfid_read,BS-1," in line for line in lines[1:])
    exports = client.get(
        "/api/v1/audit", params={"action": "subjects.export"}, headers=people["auditor"]
    ).json()
    assert sorted(r["detail"]["format"] for r in exports) == ["csv", "geojson"]
    assert {(r["actor"], r["case_id"]) for r in exports} == {("inv-1", case_id)}
    refused = client.get(
        f"/api/v1/subjects/tag/{TAG}/path.csv",
        params={**query, "case_id": None},
        headers=people["investigator"],
    )
    assert refused.status_code == 403
