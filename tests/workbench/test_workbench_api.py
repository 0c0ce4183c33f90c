"""The workbench over HTTP: a thief near three burgled shops found by collision, his phone's
companion found, every question refused without a case and audited with one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.platform import Platform
from safecity.registry.models import Area
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.store import transaction
from safecity.web.app import create_app
from safecity.workbench.vehicle_registry import VehicleRegistry
from tests.authn import mint
from tests.workbench.data import frame

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
BURGLARIES = [  # (shop, lat, lon, when)
    ("shop-1", 28.001, 120.651, NOW - timedelta(hours=30)),
    ("shop-2", 28.004, 120.656, NOW - timedelta(hours=20)),
    ("shop-3", 27.998, 120.648, NOW - timedelta(hours=6)),
]
THIEF_PHONE, MATE = "13957512345", "浙C12345"


def _square(lat: float, lon: float, d: float) -> dict[str, Any]:
    ring = [
        [lon - d, lat - d],
        [lon + d, lat - d],
        [lon + d, lat + d],
        [lon - d, lat + d],
        [lon - d, lat - d],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def _sightings(thief: str) -> Any:
    """Noise around C1 over two days, the thief's phone by each shop at its burglary and his
    accomplice's car with the phone at four places, and one decoy near only one shop."""
    rng = np.random.default_rng(5)
    rows: dict[str, list[Any]] = {
        k: [] for k in ("event_id", "subject_kind", "subject", "device", "ts", "lat", "lon", "area")
    }

    def add(
        kind: str, who: str, ts: datetime, lat: float, lon: float, area: str = "C1", device: str = "SNIFF-1"
    ) -> None:
        rows["event_id"].append(f"ev-{len(rows['event_id'])}")
        rows["subject_kind"].append(kind)
        rows["subject"].append(who)
        rows["device"].append(device)
        rows["ts"].append(ts)
        rows["lat"].append(lat)
        rows["lon"].append(lon)
        rows["area"].append(area)

    for _ in range(3_000):
        ts = NOW - timedelta(seconds=int(rng.integers(0, 48 * 3600)))
        add(
            str(rng.choice(["phone", "plate", "tag"])),
            f"N{rng.integers(0, 400)}",
            ts,
            28.0 + rng.uniform(-0.008, 0.008),
            120.65 + rng.uniform(-0.008, 0.008),
        )
    for _, lat, lon, when in BURGLARIES:
        add("phone", thief, when + timedelta(minutes=4), lat + 0.0003, lon)
    add("phone", "DECOY", BURGLARIES[0][3], BURGLARIES[0][1], BURGLARIES[0][2])
    for n, (lat, lon) in enumerate([(28.0, 120.65), (28.006, 120.652), (27.995, 120.646), (28.003, 120.659)]):
        when = NOW - timedelta(hours=40 - 8 * n)
        add("phone", thief, when, lat, lon)
        add("plate", MATE, when + timedelta(seconds=50), lat + 0.0002, lon, device="CAM-1")
    # Out of the case's area (C2): the thief's phone there must not count.
    add("phone", thief, BURGLARIES[1][3], 28.05, 120.75, area="C2")
    return frame(rows)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, Platform, dict[str, dict[str, str]]]]:
    platform = Platform.build(Settings(data_dir=tmp_path), clock=ManualClock(NOW))
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
                    id=f"C{n}",
                    kind="community",
                    name=f"Community {n}",
                    parent_id=f"S{n}",
                    station_id=f"S{n}",
                    boundary=_square(lat, lon, 0.01),
                )
            )
            session.flush()
            for name in (f"SNIFF-{n}", f"CAM-{n}"):
                registry.create_device(
                    session,
                    device_id=name,
                    kind="rfid_station",
                    name=name,
                    lat=lat,
                    lon=lon,
                    area_id=f"C{n}",
                    now=NOW,
                )
    platform.lake.append(_sightings(platform.pseudonyms.pseudonym(THIEF_PHONE)))
    people = {
        "investigator": mint(platform.security, Role.INVESTIGATOR, areas=["D1"], username="inv-1"),
        "colleague": mint(platform.security, Role.INVESTIGATOR, areas=["D1"], username="inv-2"),
        "auditor": mint(platform.security, Role.AUDITOR, username="aud-1"),
        "dispatcher": mint(platform.security, Role.DISPATCHER, areas=["D1"], username="disp-1"),
    }
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        yield client, platform, people
    platform.engine.dispose()


def open_case(client: TestClient, who: dict[str, str], area: str = "S1") -> str:
    body = {
        "title": "Three shop burglaries, Wuma St",
        "basis": "reports 2026-1121-0031, -0032, -0040",
        "area_id": area,
        "window_start": (NOW - timedelta(days=3)).isoformat(),
        "window_end": NOW.isoformat(),
    }
    answer = client.post("/api/v1/cases", json=body, headers=who)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def burglary_windows(radius_m: float = 150) -> list[dict[str, Any]]:
    return [
        {
            "start": (when - timedelta(minutes=30)).isoformat(),
            "end": (when + timedelta(minutes=30)).isoformat(),
            "center": [lat, lon],
            "radius_m": radius_m,
            "label": shop,
        }
        for shop, lat, lon, when in BURGLARIES
    ]


def collide(client: TestClient, who: dict[str, str], **over: Any) -> Any:
    body = {"windows": burglary_windows(), "k": 3, "purpose": "who was at all three shops", **over}
    return client.post(
        "/api/v1/workbench/collision", json={k: v for k, v in body.items() if v is not None}, headers=who
    )


def test_the_thief_near_three_burgled_shops_is_found_with_evidence_and_audited(
    setup: tuple[TestClient, Platform, dict[str, dict[str, str]]],
) -> None:
    client, platform, people = setup
    case_id = open_case(client, people["investigator"])
    answer = collide(client, people["investigator"], case_id=case_id)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # The lake holds phone numbers only as pseudonyms: the hit names the pseudonym.
    thief = platform.pseudonyms.pseudonym(THIEF_PHONE)
    assert [(h["subject_kind"], h["subject"], h["windows"]) for h in body["hits"]] == [("phone", thief, 3)]
    assert [e["window"] for e in body["hits"][0]["evidence"]] == [0, 1, 2]
    assert all(e["area"] == "C1" for e in body["hits"][0]["evidence"])
    # With two of three, the decoy seen at one shop still is not named.
    two = collide(client, people["investigator"], case_id=case_id, k=2).json()
    assert "DECOY" not in {h["subject"] for h in two["hits"]}

    audit = client.get(
        "/api/v1/audit", params={"action": "subjects.collide"}, headers=people["auditor"]
    ).json()
    by_k = {r["detail"]["k"]: r for r in audit}
    assert sorted(by_k) == [2, 3]
    assert (by_k[3]["actor"], by_k[3]["case_id"], by_k[3]["result_count"]) == ("inv-1", case_id, 1)
    assert by_k[2]["result_count"] == two["total"]
    assert f"phone:{thief}" in by_k[3]["subjects"]
    assert len(by_k[3]["detail"]["windows"]) == 3


def test_the_thiefs_companion_car_is_found(
    setup: tuple[TestClient, Platform, dict[str, dict[str, str]]],
) -> None:
    client, _, people = setup
    case_id = open_case(client, people["investigator"])
    body = {
        "subject_kind": "phone",
        "subject": THIEF_PHONE,
        "start": (NOW - timedelta(days=2)).isoformat(),
        "end": NOW.isoformat(),
        "tolerance_s": 120,
        "min_places": 3,
        "case_id": case_id,
        "purpose": "who travels with the suspect's phone",
    }
    answer = client.post("/api/v1/workbench/companions", json=body, headers=people["investigator"])
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["target_sightings"] == 7  # the one in C2 is outside the case's area
    top = found["companions"][0]
    assert (top["subject_kind"], top["subject"], top["meetings"]) == ("plate", MATE, 4)
    assert all(
        abs(datetime.fromisoformat(m["ts"]) - datetime.fromisoformat(m["target_ts"]))
        <= timedelta(seconds=120)
        for m in top["evidence"]
    )
    audit = client.get(
        "/api/v1/audit", params={"action": "subjects.companions"}, headers=people["auditor"]
    ).json()
    assert audit[0]["case_id"] == case_id and f"plate:{MATE}" in audit[0]["subjects"]


@pytest.mark.parametrize(
    ("over", "status", "code", "field"),
    [
        ({"case_id": None}, 403, "justification_required", "case_id"),
        ({"purpose": None}, 403, "justification_required", "purpose"),
        ({"case_id": "C2026-999999"}, 404, "case_not_found", "case_id"),
        ({"k": 4}, 422, "query_refused", "k"),
        ({"windows": []}, 422, "query_refused", "windows"),
        (
            {"windows": [{**burglary_windows()[0], "end": (NOW - timedelta(hours=40)).isoformat()}]},
            422,
            "query_refused",
            "windows[0].end",
        ),
        (
            {"windows": [{**burglary_windows()[0], "radius_m": None}]},
            422,
            "query_refused",
            "windows[0].radius_m",
        ),
        (
            {"windows": [{**burglary_windows()[0], "center": [28.05, 120.75]}], "k": 1},
            403,
            "outside_case_area",
            "windows[0]",
        ),
        (
            {"windows": [{"start": NOW.isoformat(), "end": NOW.isoformat(), "devices": ["SNIFF-2"]}], "k": 1},
            422,
            "query_refused",
            "windows[0].end",
        ),
        (
            {
                "windows": [
                    {
                        "start": (NOW - timedelta(hours=1)).isoformat(),
                        "end": NOW.isoformat(),
                        "devices": ["SNIFF-2"],
                    }
                ],
                "k": 1,
            },
            403,
            "outside_case_area",
            "windows[0].devices",
        ),
        (
            {
                "windows": [
                    {
                        "start": (NOW - timedelta(hours=1)).isoformat(),
                        "end": NOW.isoformat(),
                        "devices": ["NOPE"],
                    }
                ],
                "k": 1,
            },
            422,
            "query_refused",
            "windows[0].devices",
        ),
        (
            {"windows": [{**burglary_windows()[0], "start": (NOW - timedelta(days=5)).isoformat()}], "k": 1},
            403,
            "outside_case_window",
            "start",
        ),
        (
            {"windows": [{**burglary_windows()[0], "start": "yesterday"}]},
            422,
            "invalid_request",
            "windows.0.start",
        ),
    ],
)
def test_bad_or_unjustified_collisions_are_refused_saying_what_to_change(
    setup: tuple[TestClient, Platform, dict[str, dict[str, str]]],
    over: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    client, _, people = setup
    case_id = open_case(client, people["investigator"])
    answer = collide(client, people["investigator"], **{"case_id": case_id, **over})
    assert (answer.status_code, answer.json()["error"]["code"], answer.json()["error"]["field"]) == (
        status,
        code,
        field,
    ), answer.text
    assert answer.json()["error"]["message"]


def test_other_roles_and_non_members_are_refused_and_the_refusal_audited(
    setup: tuple[TestClient, Platform, dict[str, dict[str, str]]],
) -> None:
    client, _, people = setup
    case_id = open_case(client, people["investigator"])
    assert collide(client, people["dispatcher"], case_id=case_id).status_code == 403
    outsider = collide(client, people["colleague"], case_id=case_id)
    assert (outsider.status_code, outsider.json()["error"]["code"]) == (403, "not_assigned")
    refused = client.get(
        "/api/v1/audit", params={"action": "subjects.trace", "outcome": "refused"}, headers=people["auditor"]
    ).json()
    assert {(r["actor"], r["resource"], r["status"]) for r in refused} == {
        ("disp-1", "POST /api/v1/workbench/collision", 403),
        ("inv-2", "POST /api/v1/workbench/collision", 403),
    }
    assert {r["case_id"] for r in refused if r["actor"] == "inv-2"} == {case_id}


def test_the_case_keeps_every_question_its_pins_and_notes_and_exports_them_as_a_file(
    setup: tuple[TestClient, Platform, dict[str, dict[str, str]]],
) -> None:
    client, platform, people = setup
    me = people["investigator"]
    case_id = open_case(client, me)
    asked = collide(client, me, case_id=case_id).json()
    thief = platform.pseudonyms.pseudonym(THIEF_PHONE)

    space = client.get(f"/api/v1/cases/{case_id}/workspace", headers=me).json()
    assert [(q["id"], q["kind"], q["result_count"], q["asked_by"]) for q in space["queries"]] == [
        (asked["query_id"], "collision", 1, "inv-1")
    ]
    saved = client.get(f"/api/v1/cases/{case_id}/queries/{asked['query_id']}", headers=me).json()
    assert saved["result"]["hits"][0]["subject"] == thief
    assert len(saved["params"]["windows"]) == 3

    pinned = client.post(
        f"/api/v1/cases/{case_id}/pins",
        json={
            "kind": "subject",
            "ref": f"phone:{thief}",
            "label": "suspect's phone",
            "note": "at all three shops",
        },
        headers=me,
    )
    assert pinned.status_code == 201, pinned.text
    again = client.post(
        f"/api/v1/cases/{case_id}/pins", json={"kind": "subject", "ref": f"phone:{thief}"}, headers=me
    )
    assert (again.status_code, again.json()["error"]["field"]) == (422, "ref")
    wrong = client.post(f"/api/v1/cases/{case_id}/pins", json={"kind": "query", "ref": "999"}, headers=me)
    assert (wrong.status_code, wrong.json()["error"]["field"]) == (422, "ref")
    noted = client.post(
        f"/api/v1/cases/{case_id}/notes", json={"text": "嫌疑人手机在三家店都出现过"}, headers=me
    )
    assert noted.status_code == 201, noted.text

    exported = client.get(f"/api/v1/cases/{case_id}/file", headers=me)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"] == f'attachment; filename="case-{case_id}.html"'
    page = exported.text
    for expected in (
        case_id,
        thief,
        "suspect&#39;s phone",
        "嫌疑人手机在三家店都出现过",
        "Collision: 3 windows",
    ):
        assert expected in page, expected

    audit = client.get("/api/v1/audit", params={"case_id": case_id}, headers=people["auditor"]).json()
    actions = {r["action"] for r in audit}
    assert {"subjects.collide", "cases.workspace", "cases.pin", "cases.note", "cases.export"} <= actions

    # Closing the case freezes the workspace: it can be read and exported, not changed.
    closed = client.post(f"/api/v1/cases/{case_id}/close", json={"note": "suspect charged"}, headers=me)
    assert closed.status_code == 200, closed.text
    frozen = client.post(f"/api/v1/cases/{case_id}/notes", json={"text": "late note"}, headers=me)
    assert (frozen.status_code, frozen.json()["error"]["code"]) == (403, "case_closed")
    assert client.get(f"/api/v1/cases/{case_id}/file", headers=me).status_code == 200
    # Only members see a workspace.
    outsider = client.get(f"/api/v1/cases/{case_id}/workspace", headers=people["colleague"])
    assert (outsider.status_code, outsider.json()["error"]["code"]) == (403, "not_assigned")
    assert client.get(f"/api/v1/cases/{case_id}/workspace", headers=people["dispatcher"]).status_code == 403


def test_a_pin_is_taken_off_and_bad_pins_are_refused(
    setup: tuple[TestClient, Platform, dict[str, dict[str, str]]],
) -> None:
    client, _, people = setup
    me = people["investigator"]
    case_id = open_case(client, me)
    bare = client.post(
        f"/api/v1/cases/{case_id}/pins", json={"kind": "subject", "ref": "浙C12345"}, headers=me
    )
    assert (bare.status_code, bare.json()["error"]["field"]) == (422, "ref")
    unknown = client.post(f"/api/v1/cases/{case_id}/pins", json={"kind": "rumour", "ref": "x"}, headers=me)
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "kind")
    pin = client.post(
        f"/api/v1/cases/{case_id}/pins", json={"kind": "alert", "ref": "A-1"}, headers=me
    ).json()
    assert client.delete(f"/api/v1/cases/{case_id}/pins/{pin['id']}", headers=me).status_code == 204
    gone = client.delete(f"/api/v1/cases/{case_id}/pins/{pin['id']}", headers=me)
    assert (gone.status_code, gone.json()["error"]["field"]) == (422, "pin_id")
    assert client.get("/api/v1/cases/C2026-999999/workspace", headers=me).status_code == 404


@pytest.mark.parametrize(
    ("over", "status", "code", "field"),
    [
        ({"case_id": None}, 403, "justification_required", "case_id"),
        ({"end": (NOW - timedelta(days=2)).isoformat()}, 422, "query_refused", "end"),
        ({"start": (NOW - timedelta(days=40)).isoformat()}, 422, "query_refused", "end"),
        ({"max_kmh": 0}, 422, "invalid_request", "max_kmh"),
    ],
)
def test_cloned_plate_searches_are_refused_saying_what_to_change(
    setup: tuple[TestClient, Platform, dict[str, dict[str, str]]],
    over: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    client, _, people = setup
    case_id = open_case(client, people["investigator"])
    body = {
        "start": (NOW - timedelta(days=1)).isoformat(),
        "end": NOW.isoformat(),
        "case_id": case_id,
        "purpose": "cloned plates in the area",
        **over,
    }
    answer = client.post(
        "/api/v1/workbench/cloned-plates",
        json={k: v for k, v in body.items() if v is not None},
        headers=people["investigator"],
    )
    assert (answer.status_code, answer.json()["error"]["code"], answer.json()["error"]["field"]) == (
        status,
        code,
        field,
    ), answer.text


def _forged_reads(platform: Platform) -> None:
    """The registry of two cars, and plate reads saying what the cameras saw: the white saloon's
    plate on a black SUV, a Zhejiang plate no one registered, another province's, and one
    unregistered plate read outside the case's area."""
    platform.service(VehicleRegistry).import_rows(
        SYSTEM,
        [
            {
                "plate": p,
                "plate_colour": "blue",
                "vehicle_type": "car",
                "body_colour": c,
                "registered_at": "2019-05-06",
            }
            for p, c in (("浙C3F721", "white"), (MATE, "black"))
        ],
        resource="test",
    )
    seen = [  # plate, attrs, area
        ("浙C3F721", {"vehicle_type": "suv", "vehicle_colour": "黑色", "confidence": 0.97}, "C1"),
        ("浙C9Q404", {"vehicle_colour": "white"}, "C1"),
        ("皖A12345", {"vehicle_colour": "white"}, "C1"),
        ("浙C9Q405", {}, "C2"),
    ]
    rows = frame(
        {
            "event_id": [f"forged-{n}" for n in range(len(seen))],
            "subject_kind": ["plate"] * len(seen),
            "subject": [p for p, _, _ in seen],
            "device": ["CAM-1"] * len(seen),
            "ts": [NOW - timedelta(hours=2, minutes=n) for n in range(len(seen))],
            "lat": [28.0] * len(seen),
            "lon": [120.65] * len(seen),
            "area": [a for _, _, a in seen],
        }
    )
    attrs = [json.dumps(a, ensure_ascii=False, separators=(",", ":")) for _, a, _ in seen]
    platform.lake.append(rows.with_columns(attrs=pl.Series(attrs, dtype=pl.String)))


def test_forged_plates_are_found_in_the_cases_area_with_their_registration_and_audited(
    setup: tuple[TestClient, Platform, dict[str, dict[str, str]]],
) -> None:
    client, platform, people = setup
    _forged_reads(platform)
    me = people["investigator"]
    case_id = open_case(client, me)
    body = {
        "start": (NOW - timedelta(days=1)).isoformat(),
        "end": NOW.isoformat(),
        "provinces": ["浙"],
        "case_id": case_id,
        "purpose": "forged plates near the shops",
    }
    answer = client.post("/api/v1/workbench/forged-plates", json=body, headers=me)
    assert answer.status_code == 200, answer.text
    plates = {p["plate"]: p for p in answer.json()["plates"]}
    # Not the other province's plate, not the read outside the case's area, not the accomplice's
    # car (registered, and its reads say nothing of it).
    assert sorted(plates) == ["浙C3F721", "浙C9Q404"]
    forged = plates["浙C3F721"]
    assert (forged["mismatch"], forged["unregistered"], forged["differs"]) == (
        True,
        False,
        ["vehicle_colour"],
    )
    assert forged["registration"]["body_colour"] == "white"
    assert forged["evidence"][0]["observed"]["vehicle_colour"] == "黑色"
    assert (forged["evidence"][0]["device"], forged["evidence"][0]["area"]) == ("CAM-1", "C1")
    assert (plates["浙C9Q404"]["unregistered"], plates["浙C9Q404"]["registration"]) == (True, None)

    audit = client.get(
        "/api/v1/audit", params={"action": "subjects.forged_plates"}, headers=people["auditor"]
    ).json()
    assert [(r["actor"], r["case_id"], r["result_count"]) for r in audit] == [("inv-1", case_id, 2)]
    assert sorted(audit[0]["subjects"]) == ["plate:浙C3F721", "plate:浙C9Q404"]
    saved = client.get(f"/api/v1/cases/{case_id}/workspace", headers=me).json()["queries"]
    assert [(q["kind"], q["result_count"]) for q in saved] == [("forged_plates", 2)]
    assert saved[0]["title"] == "Forged plates: 1 on the wrong vehicle, 1 not registered"


@pytest.mark.parametrize(
    ("over", "status", "code", "field"),
    [
        ({"case_id": None}, 403, "justification_required", "case_id"),
        ({"start": (NOW - timedelta(days=40)).isoformat()}, 422, "query_refused", "end"),
        ({"provinces": ["XX"]}, 422, "query_refused", "provinces"),
        ({"fields": []}, 422, "invalid_request", "fields"),
        ({"fields": ["wheels"]}, 422, "invalid_request", "fields.0"),
    ],
)
def test_forged_plate_searches_are_refused_saying_what_to_change(
    setup: tuple[TestClient, Platform, dict[str, dict[str, str]]],
    over: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    client, _, people = setup
    case_id = open_case(client, people["investigator"])
    body = {
        "start": (NOW - timedelta(days=1)).isoformat(),
        "end": NOW.isoformat(),
        "case_id": case_id,
        "purpose": "forged plates in the area",
        **over,
    }
    answer = client.post(
        "/api/v1/workbench/forged-plates",
        json={k: v for k, v in body.items() if v is not None},
        headers=people["investigator"],
    )
    assert (answer.status_code, answer.json()["error"]["code"], answer.json()["error"]["field"]) == (
        status,
        code,
        field,
    ), answer.text
