"""The data catalogue: every record kind and registry table is a source; a new one registers
itself as not described; a source that stops arriving is flagged; the operator extends the
taxonomy; only the roles that may read it do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from safecity.core.clock import ManualClock
from safecity.platform import Platform
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.web.app import create_app
from safecity.workbench.catalogue import Catalogue, CatalogueError, load_taxonomy
from tests.authn import mint
from tests.workbench.data import frame

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def _records(kind: str, subject_kind: str, at: datetime, n: int = 3) -> object:
    records = frame(
        {
            "event_id": [f"{kind}-{i}" for i in range(n)],
            "subject_kind": [subject_kind] * n,
            "subject": [f"S{i}" for i in range(n)],
            "device": ["D1"] * n,
            "ts": [at - timedelta(minutes=i) for i in range(n)],
            "lat": [30.0] * n,
            "lon": [120.0] * n,
            "area": ["A1"] * n,
        }
    )
    return records.with_columns(kind=records["kind"].replace({"rfid_read": kind}))  # type: ignore[attr-defined]


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    extra = tmp_path / "catalogue.yaml"
    extra.write_text(
        "version: 1\n"
        "categories:\n  sightings: {name: 'Sightings 感知数据', subcategories: {wifi: 'Wi-Fi probes 探针'}}\n"
        "sources:\n  wifi_probe: {category: sightings, subcategory: wifi, owner: Technical investigation,"
        " sensitivity: restricted, expected_every_minutes: 30}\n",
        encoding="utf-8",
    )
    built = Platform.build(Settings(data_dir=tmp_path, catalogue_file=extra), clock=ManualClock(NOW))  # type: ignore[call-arg]
    built.lake.append(_records("rfid_read", "tag", NOW - timedelta(minutes=5)))
    built.lake.append(_records("plate_read", "plate", NOW - timedelta(hours=5)))  # expected every 2 h
    built.lake.append(_records("ufo_sighting", "tag", NOW - timedelta(minutes=1)))  # a kind nobody described
    yield built
    built.engine.dispose()


def test_every_source_is_listed_with_its_figures_and_freshness(platform: Platform) -> None:
    sources = {s.id: s for s in platform.service(Catalogue).sources()}
    tag = sources["records:rfid_read"]
    assert (tag.category, tag.subcategory, tag.records, tag.status, tag.retention_days) == (
        "sightings",
        "ebikes",
        3,
        "fresh",
        30,
    )
    assert tag.last_record == NOW - timedelta(minutes=5)
    assert ("subject", "String") in tag.schema
    assert sources["records:plate_read"].status == "stale"  # five hours silent, expected every two
    assert sources["records:face_match"].status == "empty"
    new = sources["records:ufo_sighting"]
    assert (new.described, new.status, new.category, new.records) == (
        False,
        "not_described",
        "undescribed",
        3,
    )
    people = sources["table:people"]
    assert (people.kind, people.sensitivity, people.status) == ("table", "personal", "registry")
    assert sources["table:case_queries"].category == "police"  # a capability's table is a source too
    assert all(s.described for s in sources.values() if s.kind == "table")


def test_the_operator_extends_the_taxonomy_and_a_wrong_file_is_refused_naming_it(tmp_path: Path) -> None:
    extra = tmp_path / "c.yaml"
    extra.write_text("sources:\n  wifi_probe: {category: nowhere, subcategory: x}\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="wifi_probe"):
        load_taxonomy(extra)
    extra.write_text("sources: [oops\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=str(extra)):
        load_taxonomy(extra)


def test_the_catalogue_over_http_for_the_roles_that_may_read_it(platform: Platform) -> None:
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        listed = client.get("/api/v1/catalogue", headers=mint(platform.security, Role.INVESTIGATOR))
        assert listed.status_code == 200, listed.text
        by_id = {s["id"]: s for s in listed.json()}
        assert by_id["records:plate_read"]["status"] == "stale"
        assert by_id["records:rfid_read"]["category_name"] == "Sightings 感知数据"
        auditor = client.get("/api/v1/catalogue", headers=mint(platform.security, Role.AUDITOR))
        assert auditor.status_code == 200
        patrol = client.get("/api/v1/catalogue", headers=mint(platform.security, Role.PATROL_OFFICER))
        assert patrol.status_code == 403


def test_the_catalogue_page_shows_the_sources_and_their_status(platform: Platform) -> None:
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        page = client.get("/catalogue", headers=mint(platform.security, Role.AUDITOR))
        assert page.status_code == 200, page.text
        assert 'data-source="records:plate_read" data-status="stale"' in page.text
        assert 'data-source="records:ufo_sighting" data-status="not_described"' in page.text
        assert "stopped arriving 中断" in page.text
