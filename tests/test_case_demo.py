"""The demo's burglary series on the tiny city is solved as the README says: three theft reports
taken as windows, the collision names one phone, its companion is the accomplice's car, and the
car's path follows; the series is planted once. Its checkpoints' cars are in the vehicle registry,
but for one forged plate and one unregistered one, which the search and the rules find."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.driver import ensure_loaded
from safecity.driver.casedemo import (
    ACCOMPLICE,
    ACCOMPLICE_PLATE,
    CLONED_PLATE,
    FORGED_PLATE,
    THIEF,
    THIEF_PHONE,
    UNREGISTERED_PLATE,
    plant_burglary_series,
)
from safecity.platform import Platform
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.web.app import create_app
from tests.authn import mint

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
PURPOSE = {"purpose": "shop burglary series, three reports"}


async def test_the_burglary_series_leads_from_the_reports_to_the_car(tmp_path: Path) -> None:
    platform = Platform.build(Settings(data_dir=tmp_path), clock=ManualClock(NOW))
    ensure_loaded(platform, seed=7, scale="tiny")
    series = await plant_burglary_series(platform, seed=7)
    assert series is not None
    assert await plant_burglary_series(platform, seed=7) is None  # a restarted demo plants nothing twice
    with platform.session_factory() as session:
        station = dict(registry.area_parents(session))[series.places[0][2]]
    me = mint(platform.security, Role.INVESTIGATOR, username="inv-demo")
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        opened = client.post(
            "/api/v1/cases",
            json={
                "title": "商铺盗窃系列案",
                "basis": "theft reports " + ", ".join(map(str, series.incidents)),
                "area_id": station,
                "window_start": (NOW - timedelta(days=3)).isoformat(),
                "window_end": NOW.isoformat(),
            },
            headers=me,
        )
        assert opened.status_code == 201, opened.text
        case = {"case_id": opened.json()["id"], **PURPOSE}
        listed = client.get("/api/v1/incidents", params={"live": "false"}, headers=me)
        assert listed.status_code == 200, listed.text
        reports = [i for i in listed.json() if i["id"] in series.incidents]
        assert len(reports) == 3
        windows = [
            {
                "start": (datetime.fromisoformat(r["reported_at"]) - timedelta(hours=2)).isoformat(),
                "end": datetime.fromisoformat(r["reported_at"]).isoformat(),
                "center": [r["lat"], r["lon"]],
                "radius_m": 300,
            }
            for r in reports
        ]
        found = client.post(
            "/api/v1/workbench/collision", json={"windows": windows, "k": 3, **case}, headers=me
        )
        assert found.status_code == 200, found.text
        thief = platform.pseudonyms.pseudonym(THIEF_PHONE)
        assert [(h["subject_kind"], h["subject"]) for h in found.json()["hits"]] == [("phone", thief)]

        mates = client.post(
            "/api/v1/workbench/companions",
            json={
                "subject_kind": "phone",
                "subject": thief,  # as the collision named it: a pseudonym
                "start": (NOW - timedelta(days=2)).isoformat(),
                "end": NOW.isoformat(),
                **case,
            },
            headers=me,
        )
        assert mates.status_code == 200, mates.text
        top = mates.json()["companions"][0]
        assert (top["subject_kind"], top["subject"]) == ("plate", ACCOMPLICE_PLATE)

        path = client.get(
            f"/api/v1/subjects/plate/{ACCOMPLICE_PLATE}/path",
            params={"start": (NOW - timedelta(days=2)).isoformat(), "end": NOW.isoformat(), **case},
            headers=me,
        )
        assert path.status_code == 200, path.text
        assert path.json()["count"] == 8  # four trips past two junctions each

        # Search finds the phone's registered holder by a fragment; his links lead, through the
        # companions question just asked, to the car and its registered keeper.
        holder = client.post("/api/v1/workbench/search", json={"q": THIEF_PHONE[3:9], **case}, headers=me)
        assert holder.status_code == 200, holder.text
        person = holder.json()["groups"]["person"][0]
        shops = client.post("/api/v1/workbench/search", json={"q": "商铺 theft", **case}, headers=me)
        assert sorted(h["key"] for h in shops.json()["groups"]["incident"]) == sorted(
            map(str, series.incidents)
        )
        assert person["title"] == THIEF[0]
        chain = client.post(
            "/api/v1/workbench/connection",
            json={"a": person["node"], "b": f"plate:{ACCOMPLICE_PLATE}", **case},
            headers=me,
        )
        assert chain.status_code == 200, chain.text
        assert [e["source"].split(" (")[0] for e in chain.json()["path"]] == ["people", "lake: companions"]
        keeper = client.post(
            "/api/v1/workbench/links", json={"node": f"plate:{ACCOMPLICE_PLATE}", **case}, headers=me
        ).json()
        assert ACCOMPLICE[0] in {n["label"] for n in keeper["nodes"]}

        # The plate read at a checkpoint and across the district minutes later: a case over the
        # district finds it.
        district = client.post(
            "/api/v1/cases",
            json={
                "title": "套牌车",
                "basis": "warning cloned-plate",
                "area_id": _district_of(platform, station),
                "window_start": (NOW - timedelta(days=1)).isoformat(),
                "window_end": NOW.isoformat(),
            },
            headers=me,
        ).json()["id"]
        clones = client.post(
            "/api/v1/workbench/cloned-plates",
            json={
                "start": (NOW - timedelta(hours=3)).isoformat(),
                "end": NOW.isoformat(),
                "max_kmh": 120,
                "min_distance_m": 1_000,  # the tiny city's districts are a few kilometres across
                "case_id": district,
                **PURPOSE,
            },
            headers=me,
        )
        assert clones.status_code == 200, clones.text
        pairs = clones.json()["pairs"]
        assert [p["plate"] for p in pairs] == [CLONED_PLATE]
        assert pairs[0]["first"]["device"] == "CK-1" and pairs[0]["kmh"] > 120

        # The checkpoints' cars are registered; one plate is on the wrong car, one on none.
        forged = client.post(
            "/api/v1/workbench/forged-plates",
            json={
                "start": (NOW - timedelta(days=2)).isoformat(),
                "end": NOW.isoformat(),
                "provinces": ["浙"],
                **case,
            },
            headers=me,
        )
        assert forged.status_code == 200, forged.text
        found = {p["plate"]: p for p in forged.json()["plates"]}
        assert sorted(found) == sorted([FORGED_PLATE, UNREGISTERED_PLATE])
        assert found[FORGED_PLATE]["differs"] == ["vehicle_colour"]
        assert found[UNREGISTERED_PLATE]["unregistered"]
    # ... and the packaged rules warn of both as the reads arrive.
    records = platform.lake.scan(start=NOW - timedelta(days=2), end=NOW, kinds=["plate_read"]).collect()
    warned = {
        (f.rule, f.subject) for f in platform.rules.evaluate(records, NOW) if f.rule.startswith("forged")
    }
    assert warned == {
        ("forged-plate-mismatch", FORGED_PLATE),
        ("forged-plate-unregistered", UNREGISTERED_PLATE),
    }
    platform.engine.dispose()


def _district_of(platform: Platform, area: str) -> str:
    with platform.session_factory() as session:
        parents = dict(registry.area_parents(session))
    while parents.get(area) is not None:
        area = parents[area]  # type: ignore[assignment]
    return area
