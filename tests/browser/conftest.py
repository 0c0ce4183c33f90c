"""A live safecity on a free port with a tiny city, and headless Chromium driving it.

The server runs the whole embedded platform (SQLite, lake, in-process bus, rules, alerts) under
uvicorn in a background thread. The app sends its own strict Content-Security-Policy (no inline
script or style), and every test fails on a CSP violation or an uncaught page error. Every page
needs sign-in: tests create accounts and sign in through the real form.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import expect

from safecity.platform import Platform
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.web.app import create_app
from tests.authn import mint
from tests.browser.livecity import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Credentials,
    LiveCity,
    city_geojson,
    require_chromium,
    seed_registry,
    watched_page,
)

# The assertions wait up to 15 s, not Playwright's 5: on a CI machine shared with other jobs a lookup
# took longer than 5 s to draw (a bike card, once) though nothing was wrong. What is asserted is
# unchanged; only how long a slow machine is given to show it.
expect.set_options(timeout=15_000)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCity]:
    """The platform behind uvicorn in a thread, answering /healthz before the tests start."""
    require_chromium()
    data_dir = tmp_path_factory.mktemp("safecity")
    # Every browser of the tests comes from 127.0.0.1: it signs in, renews and is refused far more
    # often in a minute than one person would.
    settings = Settings(
        data_dir=data_dir,
        rate_limit_refused_per_min=100_000,
        rate_limit_login_per_min=100_000,
        rate_limit_public_per_min=100_000,
    )
    settings.city_dir.mkdir(parents=True)
    (settings.city_dir / "city.geojson").write_text(json.dumps(city_geojson()), encoding="utf-8")
    platform = Platform.build(settings)
    secrets = seed_registry(platform)
    bearer = mint(platform.security, Role.INVESTIGATOR, unit="Wuma Station Desk")
    port = _free_port()
    config = uvicorn.Config(
        create_app(platform),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200 and server.started:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail("the test server did not answer /healthz within 20 s")
        time.sleep(0.05)
    yield LiveCity(base_url=base_url, platform=platform, secrets=secrets, bearer=bearer)
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser(live: LiveCity) -> Iterator[Any]:
    """Headless system Chromium (closed before the server stops, so no stream holds it open)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live: LiveCity) -> Iterator[Any]:
    """A fresh 1280x800 page; the test fails on any uncaught error or CSP violation in it."""
    with watched_page(browser, live.base_url) as fresh:
        yield fresh


@pytest.fixture
def investigator(live: LiveCity) -> Credentials:
    """A new investigator of the test city's district (signs in with a one-time code)."""
    account = live.account(Role.INVESTIGATOR, areas=("D01",))
    assert account.totp_secret is not None  # investigators must use a second factor
    return account
