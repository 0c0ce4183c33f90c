"""Search and links over HTTP, under a case: fragments, wildcards, Chinese and pinyin found with why;
match-everything patterns refused; links with their source and date, through the case's own
companions; other roles, non-members and other areas refused; every answer audited and saved."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safecity import registry
from safecity.core.ids import id_number_check_char
from safecity.platform import Platform
from safecity.store import transaction
from tests.workbench.test_workbench_api import MATE, NOW, THIEF_PHONE, open_case, setup  # noqa: F401

Setup = tuple[TestClient, Platform, dict[str, dict[str, str]]]
OWNER_ID = "33030219880808123" + id_number_check_char("33030219880808123")
NEIGHBOUR_ID = "33030219900101456" + id_number_check_char("33030219900101456")
FAR_ID = "33030219750505789" + id_number_check_char("33030219750505789")


@pytest.fixture
def people_and_bikes(setup: Setup) -> Setup:  # noqa: F811
    """张伟明 (the thief's phone is his) owns bike E0A1B2C3; 王芳 lives in C1 too; 李强 lives in C2."""
    client, platform, people = setup
    with transaction(platform.session_factory) as session:
        registry.register_bike(
            session,
            reg=registry.BikeRegistration(
                tag_id="E0A1B2C3",
                frame_number="WZ-88001",
                model="雅迪 G5",
                colour="红色",
                owner_id_number=OWNER_ID,
                owner_name="张伟明",
                owner_phone=THIEF_PHONE,
            ),
            by="clerk",
            now=NOW - timedelta(days=100),
            pseudonymize=platform.pseudonyms.pseudonym,
            home_area_id="C1",
        )
        for id_number, name, area in ((NEIGHBOUR_ID, "王芳", "C1"), (FAR_ID, "李强", "C2")):
            registry.get_or_create_person(
                session,
                id_number=id_number,
                name=name,
                phone=None,
                now=NOW,
                pseudonymize=platform.pseudonyms.pseudonym,
                home_area_id=area,
            )
    return client, platform, people


def search(client: TestClient, who: dict[str, str], q: str, **over: Any) -> Any:
    body = {"q": q, "purpose": "Suspect in the Wuma St burglaries", **over}
    return client.post("/api/v1/workbench/search", json=body, headers=who)


def test_people_bikes_and_plates_are_found_by_fragments_wildcards_chinese_and_pinyin_saying_why(
    people_and_bikes: Setup,
) -> None:
    client, _, people = people_and_bikes
    me = people["investigator"]
    case_id = open_case(client, me)
    for q, kind, why in (
        ("张伟", "person", "name 张伟明 contains 张伟"),
        ("zwm", "person", "name 张伟明: pinyin zwm starts with zwm"),
        ("zhangwei", "person", "pinyin zhangweiming starts with zhangwei"),
        (OWNER_ID[:6] + "*" + OWNER_ID[-4:], "person", "identity number 330302********"),
        (THIEF_PHONE[-5:], "person", f"phone 139****{THIEF_PHONE[-4:]} holds {THIEF_PHONE[-5:]}"),
        ("E0A1*", "ebike", "tag E0A1B2C3 matches E0A1*"),
        ("雅迪 红色", "ebike", "model 雅迪 G5 contains 雅迪"),
    ):
        answer = search(client, me, q, case_id=case_id)
        assert answer.status_code == 200, (q, answer.text)
        body = answer.json()
        hits = body["groups"].get(kind, [])
        assert hits, (q, body)
        assert any(why in w for w in hits[0]["why"]), (q, hits[0]["why"])
    # Identity and phone numbers are shown masked, even to the investigator who found them.
    person = search(client, me, "张伟明", case_id=case_id).json()["groups"]["person"][0]
    assert person["fields"]["identity number"] == OWNER_ID[:6] + "********" + OWNER_ID[-4:]
    assert person["fields"]["phone"] == "139****2345"
    assert person["node"].startswith("person:")


def test_the_case_sees_only_its_areas_and_its_members_cases(people_and_bikes: Setup) -> None:
    client, _, people = people_and_bikes
    me = people["investigator"]
    case_id = open_case(client, me)
    assert "person" not in search(client, me, "李强", case_id=case_id).json()["groups"]  # lives in C2
    assert search(client, me, "王芳", case_id=case_id).json()["groups"]["person"][0]["title"] == "王芳"
    found = search(client, me, case_id, case_id=case_id).json()["groups"]
    assert [h["key"] for h in found["case"]] == [case_id]
    theirs = open_case(client, people["colleague"])
    assert "case" not in search(client, me, theirs, case_id=case_id).json()["groups"]


@pytest.mark.parametrize(
    ("q", "says"),
    [
        ("*", "would match nearly everything"),
        ("浙C*", "at least 3 fixed characters"),
        ("??12", "at least 3 fixed characters"),
        ("张", "would match nearly everything"),
        ("", "type something"),
        ("a b c d e f g", "at most 6 words"),
    ],
)
def test_patterns_that_would_match_everything_are_refused_saying_what_to_add(
    people_and_bikes: Setup, q: str, says: str
) -> None:
    client, _, people = people_and_bikes
    case_id = open_case(client, people["investigator"])
    answer = search(client, people["investigator"], q, case_id=case_id)
    assert answer.status_code == 422, answer.text
    assert says in answer.text


def test_search_needs_a_case_a_purpose_and_the_right_role_and_is_audited_and_saved(
    people_and_bikes: Setup,
) -> None:
    client, _, people = people_and_bikes
    me = people["investigator"]
    case_id = open_case(client, me)
    assert search(client, me, "张伟").status_code == 403
    assert search(client, me, "张伟", case_id=case_id, purpose="").status_code == 403
    assert search(client, people["dispatcher"], "张伟", case_id=case_id).status_code == 403
    assert search(client, people["colleague"], "张伟", case_id=case_id).status_code == 403
    answer = search(client, me, "张伟", case_id=case_id).json()
    audit = client.get(
        "/api/v1/audit", params={"action": "registry.search"}, headers=people["auditor"]
    ).json()
    record = audit[0]
    assert record["case_id"] == case_id
    assert record["detail"]["q"] == "张伟"
    assert any(s.startswith("person:") for s in record["subjects"])
    saved = client.get(f"/api/v1/cases/{case_id}/queries/{answer['query_id']}", headers=me).json()
    assert saved["kind"] == "search"
    assert saved["result"]["groups"]["person"][0]["title"] == "张伟明"


def test_links_expand_a_person_to_the_bike_and_the_case_companion_car_with_sources_and_dates(
    people_and_bikes: Setup,
) -> None:
    client, _, people = people_and_bikes
    me = people["investigator"]
    case_id = open_case(client, me)
    person = search(client, me, "张伟明", case_id=case_id).json()["groups"]["person"][0]["node"]
    body = {"case_id": case_id, "purpose": "Suspect in the Wuma St burglaries", "node": person, "hops": 2}
    first = client.post("/api/v1/workbench/links", json=body, headers=me)
    assert first.status_code == 200, first.text
    edges = {(e["a"], e["b"]): e for e in first.json()["edges"]}
    owns = edges[(person, "ebike:E0A1B2C3")]
    assert (owns["relation"], owns["source"]) == ("owns", "ebikes")
    assert owns["since"].startswith((NOW - timedelta(days=100)).date().isoformat())
    labels = {n["id"]: n["label"] for n in first.json()["nodes"]}
    assert labels[person] == "张伟明"
    assert "雅迪 G5" in labels["ebike:E0A1B2C3"]
    assert not any(n.startswith("plate:") for n in labels)  # no companions asked yet

    # Companions asked in the case join the graph: the phone's holder leads to the accomplice's car.
    companions = {
        "case_id": case_id,
        "purpose": "Suspect in the Wuma St burglaries",
        "subject_kind": "phone",
        "subject": THIEF_PHONE,
        "start": (NOW - timedelta(days=2)).isoformat(),
        "end": NOW.isoformat(),
    }
    assert client.post("/api/v1/workbench/companions", json=companions, headers=me).status_code == 200
    second = client.post("/api/v1/workbench/links", json=body, headers=me).json()
    together = [e for e in second["edges"] if e["b"] == f"plate:{MATE}"]
    assert together and together[0]["source"].startswith("lake: companions (question ")
    path = client.post(
        "/api/v1/workbench/connection",
        json={
            "case_id": case_id,
            "purpose": "Suspect in the Wuma St burglaries",
            "a": "ebike:E0A1B2C3",
            "b": f"plate:{MATE}",
        },
        headers=me,
    )
    assert path.status_code == 200, path.text
    chain = path.json()["path"]
    assert [e["relation"] for e in chain][:1] == ["owns"] and len(chain) == 3
    audit = client.get("/api/v1/audit", params={"action": "registry.links"}, headers=people["auditor"]).json()
    assert len(audit) == 3 and all(r["case_id"] == case_id for r in audit)


def test_links_refuse_bad_nodes_other_areas_and_other_roles(people_and_bikes: Setup) -> None:
    client, _, people = people_and_bikes
    me = people["investigator"]
    case_id = open_case(client, me)
    far = search(client, people["investigator"], "王芳", case_id=case_id).json()["groups"]["person"][0][
        "node"
    ]
    base = {"case_id": case_id, "purpose": "Suspect in the Wuma St burglaries"}
    assert client.post("/api/v1/workbench/links", json={**base, "node": far}, headers=me).status_code == 200
    bad = client.post("/api/v1/workbench/links", json={**base, "node": "nonsense"}, headers=me)
    assert bad.status_code == 422 and "kind:key" in bad.text
    hops = client.post("/api/v1/workbench/links", json={**base, "node": far, "hops": 9}, headers=me)
    assert hops.status_code == 422
    with transaction(people_and_bikes[1].session_factory) as session:
        li = registry.get_person_by_id_number(session, id_number=FAR_ID)
        assert li is not None
        outside = f"person:{li.id}"
    refused = client.post("/api/v1/workbench/links", json={**base, "node": outside}, headers=me)
    assert refused.status_code == 403 and "outside" in refused.text
    assert (
        client.post(
            "/api/v1/workbench/links", json={**base, "node": far}, headers=people["dispatcher"]
        ).status_code
        == 403
    )
    none = client.post(
        "/api/v1/workbench/connection", json={**base, "a": far, "b": "plate:浙Z00000"}, headers=me
    ).json()
    assert none["path"] == []


def test_the_case_file_carries_searches_and_links_with_why_and_sources(people_and_bikes: Setup) -> None:
    client, _, people = people_and_bikes
    me = people["investigator"]
    case_id = open_case(client, me)
    person = search(client, me, "zwm", case_id=case_id).json()["groups"]["person"][0]["node"]
    body = {"case_id": case_id, "purpose": "Suspect in the Wuma St burglaries", "node": person}
    assert client.post("/api/v1/workbench/links", json=body, headers=me).status_code == 200
    html = client.get(f"/api/v1/cases/{case_id}/file", headers=me).text
    assert "name 张伟明: pinyin zwm starts with zwm" in html
    assert "<td>张伟明</td><td>owns</td>" in html and "<td>ebikes</td>" in html
    pdf = client.get(f"/api/v1/cases/{case_id}/file.pdf", headers=me)
    assert pdf.status_code == 200
    from io import BytesIO

    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(BytesIO(pdf.content)).pages)
    assert "pinyin zwm starts with zwm" in text and "ebikes" in text
