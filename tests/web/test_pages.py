"""The console pages render their landmarks, carry no inline script or style, and link only to real assets."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.settings import Settings
from safecity.web import pages
from safecity.web.app import create_app

ASSET_RE = re.compile(r'(?:src|href)="(/static/[^"?]+)(?:\?[^"]*)?"')
IMPORT_RE = re.compile(r"""from\s+['"]\./([\w.-]+\.js)['"]""")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app over a fresh platform; pages need no running workers, so the lifespan is not entered."""
    platform = Platform.build(Settings(data_dir=tmp_path_factory.mktemp("pages")))
    yield TestClient(create_app(platform))
    platform.engine.dispose()


def _assets(html: str) -> list[str]:
    return ASSET_RE.findall(html)


def test_console_page_has_its_landmarks(client: TestClient) -> None:
    """The console shell: top bar, alert list, counter, connection state, map and detail pane."""
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    for landmark in (
        '<header class="topbar"',
        '<nav class="topnav" aria-label="Main"',
        '<main id="content"',
        'id="alert-list"',
        'id="open-count-value"',
        'id="connection"',
        'id="map"',
        'id="detail"',
        'href="/docs"',
        'href="/metrics"',
        'href="/bikes"',
    ):
        assert landmark in html, landmark
    assert '<a href="/" aria-current="page">Console</a>' in html


def test_bikes_page_has_every_form_field_labelled(client: TestClient) -> None:
    """Each input of the registration and lookup forms has a label and an error slot next to it."""
    answer = client.get("/bikes")
    assert answer.status_code == 200
    html = answer.text
    assert '<a href="/bikes" aria-current="page">Bikes</a>' in html
    fields = (
        "tag_id",
        "frame_number",
        "model",
        "colour",
        "owner_id_number",
        "owner_name",
        "owner_phone",
        "by",
    )
    for name in fields:
        assert f'<label for="register-{name}"' in html, name
        assert f'id="register-{name}-error"' in html, name
    assert '<label for="lookup-tag"' in html
    assert 'autocomplete="name" data-remember="by"' in html  # field attributes are markup, not text
    assert 'id="stolen-table"' in html


@pytest.mark.parametrize("path", ["/", "/bikes"])
def test_pages_have_no_inline_script_style_or_handlers(client: TestClient, path: str) -> None:
    """The pages must run under a CSP without 'unsafe-inline'."""
    html = client.get(path).text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, "inline <script>"
    assert "<style" not in html
    assert re.search(r"\sstyle=", html) is None
    assert re.search(r"\son[a-z]+=", html) is None


@pytest.mark.parametrize("path", ["/", "/bikes"])
def test_own_static_assets_referenced_exist(client: TestClient, path: str) -> None:
    """Every non-vendor asset a page loads, and every module those scripts import, is served."""
    own = [a for a in _assets(client.get(path).text) if not a.startswith("/static/vendor/")]
    assert own
    seen: set[str] = set()
    while own:
        asset = own.pop()
        if asset in seen:
            continue
        seen.add(asset)
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        if asset.endswith(".js"):
            own += [f"/static/{name}" for name in IMPORT_RE.findall(answer.text)]
    assert "/static/common.js" in seen


def test_vendor_assets_referenced_exist(client: TestClient) -> None:
    """MapLibre (CSP build, its worker and its CSS) is installed by `make assets` and served."""
    missing = pages.missing_vendor_assets()
    if missing:
        reason = f"front-end libraries missing ({', '.join(missing)}): run `make assets`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    referenced = [a for a in _assets(client.get("/").text) if a.startswith("/static/vendor/")]
    assert sorted(referenced) == ["/static/vendor/maplibre-gl-csp.js", "/static/vendor/maplibre-gl.css"]
    for asset in [*referenced, "/static/vendor/maplibre-gl-csp-worker.js"]:
        assert client.get(asset).status_code == 200, asset
    worker_url = "/static/vendor/maplibre-gl-csp-worker.js"
    assert worker_url in (Path(pages.STATIC_DIR) / "citymap.js").read_text(encoding="utf-8")


def test_missing_vendor_assets_are_named_on_the_page(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `make assets` the page says which files are missing and how to get them."""
    monkeypatch.setattr(pages, "STATIC_DIR", tmp_path)
    html = client.get("/").text
    assert "run <code>make assets</code>" in html
    assert all(name in html for name in pages.VENDOR_ASSETS)
    (tmp_path / "vendor").mkdir()
    for name in pages.VENDOR_ASSETS:
        (tmp_path / name).write_text("x")
    assert pages.missing_vendor_assets() == []
    assert "make assets" not in client.get("/").text
