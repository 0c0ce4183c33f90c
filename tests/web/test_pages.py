"""The console pages: sign-in, role-filtered navigation, landmarks, no inline script or style, real assets."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from safecity.platform import Platform
from safecity.security import accounts
from safecity.security.passwords import totp_now
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.store import transaction
from safecity.web import pages
from safecity.web.app import create_app
from safecity.web.auth import ACCESS_COOKIE, CSRF_COOKIE, ENROL_COOKIE
from tests.authn import PASSWORD, mint

ASSET_RE = re.compile(r'(?:src|href)="(/static/[^"?]+)(?:\?[^"]*)?"')
IMPORT_RE = re.compile(r"""from\s+['"]\./([\w.-]+\.js)['"]""")
HIDDEN_CSRF_RE = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')
MAIN_NAV_RE = re.compile(r'<nav class="topnav" aria-label="Main">(.*?)</nav>', re.S)
LOGIN_ERROR_RE = re.compile(r'<p class="banner banner-error" role="alert" id="login-error">([^<]*)</p>')
SIGNED_IN_PAGES = ["/", "/bikes", "/me", "/health", "/dispatch"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A fresh platform; pages need no running workers, so no lifespan is entered. Every browser of
    these tests signs in from one address, so its sign-in rate limit is out of their way."""
    platform = Platform.build(
        Settings(data_dir=tmp_path_factory.mktemp("pages"), rate_limit_login_per_min=10_000)
    )
    yield platform
    platform.engine.dispose()


@pytest.fixture(scope="module")
def client(platform: Platform) -> TestClient:
    """A browser signed in as a city-wide investigator (the access token in its cookie)."""
    client = TestClient(create_app(platform))
    client.cookies.set(ACCESS_COOKIE, _token(mint(platform.security, Role.INVESTIGATOR)))
    return client


@pytest.fixture
def anonymous(client: TestClient) -> TestClient:
    """A browser of the same app that has not signed in."""
    return TestClient(client.app)


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _as(platform: Platform, client: TestClient, role: Role) -> TestClient:
    """A browser of the same app signed in with a new account of `role`."""
    other = TestClient(client.app)
    other.cookies.set(ACCESS_COOKIE, _token(mint(platform.security, role)))
    return other


def _account(platform: Platform, username: str, role: Role, *, city_wide: bool | None = None) -> None:
    """An account that signs in with PASSWORD and no one-time code."""
    with transaction(platform.session_factory) as session:
        accounts.create_account(
            session,
            accounts.NewAccount(
                username=username,
                display_name=username.title(),
                role=role,
                unit="Wuma Station",
                password=PASSWORD,
                city_wide=city_wide,
                with_totp=False,
            ),
            by="tests",
            now=platform.clock.now(),
        )


def _login_form(client: TestClient, next_path: str = "") -> str:
    """Open the sign-in form; return the CSRF value it carries."""
    answer = client.get("/login", params={"next": next_path} if next_path else None)
    assert answer.status_code == 200
    match = HIDDEN_CSRF_RE.search(answer.text)
    assert match is not None
    return match.group(1)


def _set_cookie(answer: httpx.Response, name: str) -> str:
    """The Set-Cookie header the answer sends for `name`."""
    found = [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert len(found) == 1, found
    return found[0]


def _main_nav(html: str) -> list[str]:
    match = MAIN_NAV_RE.search(html)
    assert match is not None
    return re.findall(r"<a [^>]*>([^<]+)</a>", match.group(1))


def _assets(html: str) -> list[str]:
    return ASSET_RE.findall(html)


# --- sign-in ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "target"), [("/", "/"), ("/bikes", "/bikes"), ("/me?x=1", "/me?x=1")])
def test_anonymous_page_redirects_to_sign_in(anonymous: TestClient, path: str, target: str) -> None:
    """No page is shown without sign-in: the browser goes to /login and comes back afterwards."""
    answer = anonymous.get(path, follow_redirects=False)
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [target]


def test_login_page_renders_a_form_and_sets_the_csrf_cookie(anonymous: TestClient) -> None:
    """The form carries the CSRF value in a hidden field equal to the readable sc_csrf cookie."""
    answer = anonymous.get("/login", params={"next": "/bikes"})
    assert answer.status_code == 200
    html = answer.text
    for landmark in (
        '<form method="post" action="/login"',
        'name="username"',
        'name="password" type="password"',
        'name="totp"',
        '<input type="hidden" name="next" value="/bikes">',
    ):
        assert landmark in html, landmark
    field = HIDDEN_CSRF_RE.search(html)
    assert field is not None
    cookie = _set_cookie(answer, CSRF_COOKIE)
    assert cookie.startswith(f"{CSRF_COOKIE}={field.group(1)};")
    assert "httponly" not in cookie.lower()  # the page scripts echo it in X-CSRF-Token
    assert "samesite=strict" in cookie.lower()
    assert _main_nav(html) == []
    assert "Sign out" not in html


def test_login_with_the_right_password_goes_to_the_role_home(
    platform: Platform, anonymous: TestClient
) -> None:
    """A patrol officer lands on the console with HttpOnly session cookies."""
    _account(platform, "officer.li", Role.PATROL_OFFICER, city_wide=True)
    csrf = _login_form(anonymous)
    answer = anonymous.post(
        "/login",
        data={"username": "officer.li", "password": PASSWORD, "csrf": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/"
    for name in ("sc_access", "sc_refresh"):
        cookie = _set_cookie(answer, name).lower()
        assert "httponly" in cookie, name
        assert "samesite=strict" in cookie, name
    assert "path=/api/v1/auth" in _set_cookie(answer, "sc_refresh").lower()
    console = anonymous.get("/")
    assert console.status_code == 200
    assert 'id="alert-list"' in console.text
    assert "Officer.Li" in console.text  # who is signed in, in the top bar


def test_login_goes_back_to_the_page_asked_for(platform: Platform, anonymous: TestClient) -> None:
    """`next` is followed when it is a local path, and ignored when it points elsewhere."""
    _account(platform, "officer.wu", Role.PATROL_OFFICER, city_wide=True)
    csrf = _login_form(anonymous, "/bikes")
    body = {"username": "officer.wu", "password": PASSWORD, "csrf": csrf}
    answer = anonymous.post("/login", data={**body, "next": "/bikes"}, follow_redirects=False)
    assert answer.headers["location"] == "/bikes"
    csrf = _login_form(anonymous)
    answer = anonymous.post(
        "/login", data={**body, "csrf": csrf, "next": "//evil.example/"}, follow_redirects=False
    )
    assert answer.headers["location"] == "/"


def test_login_with_a_wrong_password_is_refused_generically(
    platform: Platform, anonymous: TestClient
) -> None:
    """401, the same words as for an unknown user, the form again with the username kept."""
    _account(platform, "officer.zhao", Role.PATROL_OFFICER, city_wide=True)
    csrf = _login_form(anonymous)
    answer = anonymous.post(
        "/login",
        data={"username": "officer.zhao", "password": "not the password at all", "csrf": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert accounts.BAD_CREDENTIALS in answer.text
    assert 'id="login-form"' in answer.text
    assert 'value="officer.zhao"' in answer.text
    assert not [c for c in answer.headers.get_list("set-cookie") if c.startswith("sc_access=")]
    again = HIDDEN_CSRF_RE.search(answer.text)
    assert again is not None
    assert again.group(1) == anonymous.cookies[CSRF_COOKIE]  # a fresh token with the form
    unknown = anonymous.post(
        "/login",
        data={"username": "nobody.here", "password": "not the password at all", "csrf": again.group(1)},
    )
    assert unknown.status_code == 401
    assert accounts.BAD_CREDENTIALS in unknown.text


def test_login_form_refusals_read_the_same_whatever_the_reason(
    platform: Platform, anonymous: TestClient
) -> None:
    """Unknown user, wrong password, disabled account, locked address: one status, one message."""
    _account(platform, "officer.off", Role.PATROL_OFFICER, city_wide=True)
    _account(platform, "officer.held", Role.PATROL_OFFICER, city_wide=True)
    with transaction(platform.session_factory) as session:
        accounts.set_disabled(
            session, accounts.find_account(session, "officer.off"), True, now=platform.clock.now()
        )
    max_failures = platform.security.policy.max_failures
    tries = [("nobody.here", "not the password at all"), ("officer.off", PASSWORD)]
    tries += [("officer.held", "not the password at all")] * max_failures + [("officer.held", PASSWORD)]
    pages = []
    for username, password in tries:
        csrf = _login_form(anonymous)
        answer = anonymous.post(
            "/login", data={"username": username, "password": password, "csrf": csrf}, follow_redirects=False
        )
        error = re.search(
            r'<p class="banner banner-error" role="alert" id="login-error">([^<]*)</p>', answer.text
        )
        assert error is not None, username
        pages.append((answer.status_code, error.group(1)))
    assert set(pages) == {(401, accounts.BAD_CREDENTIALS)}


def _staff_account(platform: Platform, username: str) -> None:
    """An investigator account that has not set up its one-time code yet."""
    with transaction(platform.session_factory) as session:
        accounts.create_account(
            session,
            accounts.NewAccount(
                username, username.title(), Role.INVESTIGATOR, "CID", PASSWORD, city_wide=True
            ),
            by="tests",
            now=platform.clock.now(),
        )


def _enrolment_page(platform: Platform, anonymous: TestClient, username: str) -> httpx.Response:
    """Sign in with the password of an account still to enrol: the enrolment page."""
    _staff_account(platform, username)
    csrf = _login_form(anonymous, "/bikes")
    answer = anonymous.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf": csrf, "next": "/bikes"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/login/enrol?next=%2Fbikes"
    assert not [c for c in answer.headers.get_list("set-cookie") if c.startswith("sc_access=")]
    cookie = _set_cookie(answer, ENROL_COOKIE).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/login/enrol" in cookie
    page = anonymous.get(answer.headers["location"])
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    return page


def test_first_sign_in_enrols_the_one_time_code_then_opens_the_console(
    platform: Platform, anonymous: TestClient
) -> None:
    """The password leads to a page with the QR code and the key; a valid code signs in."""
    page = _enrolment_page(platform, anonymous, "inv.first")
    html = page.text
    for landmark in (
        '<svg viewBox="0 0 ',
        'class="enrol-qr"',
        'id="enrol-secret"',
        'href="otpauth://totp/safecity:inv.first?secret=',
        '<form method="post" action="/login/enrol" class="form" id="enrol-form">',
        '<label for="enrol-totp">',
        '<input type="hidden" name="next" value="/bikes">',
        'href="/static/enrol.css',
    ):
        assert landmark in html, landmark
    secret = _enrolment_secret(html)
    code = totp_now(secret, platform.clock.now().timestamp())
    wrong = anonymous.post(
        "/login/enrol",
        data={"totp": "000000" if code != "000000" else "111111", "csrf": anonymous.cookies[CSRF_COOKIE]},
        follow_redirects=False,
    )
    assert wrong.status_code == 401
    assert "does not match" in wrong.text
    assert _enrolment_secret(wrong.text) == secret  # the same key, shown again
    done = anonymous.post(
        "/login/enrol",
        data={"totp": code, "csrf": anonymous.cookies[CSRF_COOKIE], "next": "/bikes"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/bikes"
    assert "httponly" in _set_cookie(done, "sc_access").lower()
    assert (
        "max-age=0" in _set_cookie(done, ENROL_COOKIE).lower()
        or "expires=" in _set_cookie(done, ENROL_COOKIE).lower()
    )
    assert anonymous.get("/bikes").status_code == 200


def test_enrolment_page_without_a_live_enrolment_sends_to_sign_in(anonymous: TestClient) -> None:
    """No (or a spent) enrolment cookie: the sign-in form, saying to start again."""
    answer = anonymous.get("/login/enrol")
    assert answer.status_code == 401
    assert 'id="login-form"' in answer.text
    assert "sign in again" in answer.text


def test_enrolment_page_runs_under_the_strict_policy(platform: Platform, anonymous: TestClient) -> None:
    """The QR code is markup of its own: no inline script, style or handler, no outside source."""
    html = _enrolment_page(platform, anonymous, "inv.csp").text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "<style" not in html
    assert re.search(r"\sstyle=", html) is None
    assert re.search(r"\son[a-z]+=", html) is None
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


def _enrolment_secret(html: str) -> str:
    match = re.search(r'<code id="enrol-secret"[^>]*>([A-Z2-7 ]+)</code>', html)
    assert match is not None
    return match.group(1).replace(" ", "")


@pytest.mark.parametrize("missing", ["cookie", "field"])
def test_login_without_the_csrf_token_is_refused(
    platform: Platform, anonymous: TestClient, missing: str
) -> None:
    """A form posted from elsewhere (no CSRF cookie, or no matching field) signs nobody in."""
    username = f"officer.csrf-{missing}"
    _account(platform, username, Role.PATROL_OFFICER, city_wide=True)
    csrf = _login_form(anonymous)
    if missing == "cookie":
        anonymous.cookies.delete(CSRF_COOKIE)
    data = {"username": username, "password": PASSWORD, "csrf": csrf if missing == "cookie" else ""}
    answer = anonymous.post("/login", data=data, follow_redirects=False)
    assert answer.status_code == 401
    assert "The form expired" in answer.text
    assert not [c for c in answer.headers.get_list("set-cookie") if c.startswith("sc_access=")]


def test_logout_ends_the_session(platform: Platform, anonymous: TestClient) -> None:
    """Signing out clears the cookies, and the old access token no longer opens any page."""
    _account(platform, "officer.sun", Role.PATROL_OFFICER, city_wide=True)
    csrf = _login_form(anonymous)
    anonymous.post("/login", data={"username": "officer.sun", "password": PASSWORD, "csrf": csrf})
    old_access = anonymous.cookies[ACCESS_COOKIE]
    page = anonymous.get("/me")
    assert page.status_code == 200
    field = HIDDEN_CSRF_RE.search(page.text)
    assert field is not None
    assert field.group(1) == anonymous.cookies[CSRF_COOKIE]

    refused = anonymous.post("/logout", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert anonymous.get("/me").status_code == 200  # still signed in

    answer = anonymous.post("/logout", data={"csrf": field.group(1)}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    assert ACCESS_COOKIE not in anonymous.cookies

    anonymous.cookies.set(ACCESS_COOKIE, old_access)
    again = anonymous.get("/", follow_redirects=False)
    assert again.status_code == 303
    assert urlsplit(again.headers["location"]).path == "/login"


# --- navigation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "links"),
    [
        (
            Role.INVESTIGATOR,
            [
                "Console",
                "Dispatch 指挥调度",
                "Workbench 研判",
                "Bikes",
                "Wanted",
                "Wearers 老人",
                "Shipments 危化品",
                "Device health",
                "My account",
            ],
        ),
        (Role.GUARD, ["Watch", "Console", "My account"]),
        (Role.CITIZEN, ["My account", "My family 家人"]),
    ],
)
def test_nav_shows_only_the_pages_the_role_may_use(
    platform: Platform, client: TestClient, role: Role, links: list[str]
) -> None:
    """The top bar lists what the role may open, and the brand leads to the role's home page."""
    browser = _as(platform, client, role)
    answer = browser.get("/me")
    assert answer.status_code == 200
    assert _main_nav(answer.text) == links
    home = {"Console": "/", "My account": "/me", "Watch": "/watch"}[links[0]]
    assert f'<a class="brand" href="{home}"' in answer.text
    assert "Sign out" in answer.text


def test_citizen_may_not_open_the_console(platform: Platform, client: TestClient) -> None:
    """A signed-in role without alerts.read is refused the console, not sent to sign in again.

    A browser (asking for HTML) gets a page saying why, with the way to the role's own start; a
    client that asks for anything gets the API's JSON refusal.
    """
    citizen = _as(platform, client, Role.CITIZEN)
    assert citizen.get("/", follow_redirects=False).json()["error"]["code"] == "forbidden"
    answer = citizen.get("/", headers={"Accept": "text/html,*/*;q=0.8"}, follow_redirects=False)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "Not allowed" in answer.text
    assert "does not allow alerts.read" in answer.text
    assert '<a href="/me">Go to your start page</a>' in answer.text
    assert _main_nav(answer.text) == ["My account", "My family 家人"]


@pytest.mark.parametrize("next_path", ["", "/", "/bikes"])
def test_sign_in_sends_a_citizen_to_my_account(
    platform: Platform, anonymous: TestClient, next_path: str
) -> None:
    """A role without the console lands on its first page, even when it asked for the console."""
    username = f"citizen.chen{len(next_path)}"
    _account(platform, username, Role.CITIZEN)
    csrf = _login_form(anonymous, next_path)
    answer = anonymous.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf": csrf, "next": next_path},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/me"


# --- page contents -------------------------------------------------------------------------------------


def test_console_page_has_its_landmarks(client: TestClient) -> None:
    """The console shell: top bar, alert list, counter, connection state, map and detail pane."""
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    for landmark in (
        '<header class="topbar',
        '<nav class="topnav" aria-label="Main"',
        '<main id="content"',
        'id="alert-list"',
        'id="open-count-value"',
        'id="connection"',
        'id="map"',
        'id="detail"',
        'href="/docs"',
        'href="/bikes"',
        'class="whoami"',
        '<form method="post" action="/logout"',
    ):
        assert landmark in html, landmark
    assert '<a href="/" aria-current="page">Console</a>' in html
    # More than three pages fold into a phone's menu, named after the current page.
    main_links = MAIN_NAV_RE.search(html)
    assert main_links is not None
    assert main_links.group(1).count("<a ") > 3  # the test account sees many pages
    assert '<header class="topbar folds">' in html and '<details class="navmenu">' in html
    assert "</span> Console</summary>" in html


def test_bikes_page_has_every_form_field_labelled(client: TestClient) -> None:
    """Each input of the registration and lookup forms has a label and an error slot next to it."""
    answer = client.get("/bikes")
    assert answer.status_code == 200
    html = answer.text
    assert '<a href="/bikes" aria-current="page">Bikes</a>' in html
    fields = ("tag_id", "frame_number", "model", "colour", "owner_id_number", "owner_name", "owner_phone")
    for name in fields:
        assert f'<label for="register-{name}"' in html, name
        assert f'id="register-{name}-error"' in html, name
    assert 'name="by"' not in html  # the actor is the signed-in account
    for name in ("tag", "case_id", "purpose"):
        assert f'<label for="lookup-{name}"' in html, name
        assert f'id="lookup-{name}-error"' in html, name
    assert 'autocomplete="off" spellcheck="false"' in html  # field attributes are markup, not text
    assert 'id="stolen-table"' in html


def test_me_page_shows_the_account(client: TestClient) -> None:
    """My account: name, role, unit, areas and the access log table."""
    html = client.get("/me").text
    assert '<a href="/me" aria-current="page">My account</a>' in html
    for landmark in (
        "investigator",
        "Test Unit",
        "the whole city",
        'id="access-table"',
        'id="access-status"',
    ):
        assert landmark in html, landmark


@pytest.mark.parametrize("path", [*SIGNED_IN_PAGES, "/login"])
def test_pages_carry_the_content_security_policy(client: TestClient, path: str) -> None:
    """The app itself sends a CSP without 'unsafe-inline', and framing is refused."""
    answer = client.get(path)
    assert answer.status_code == 200
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", [*SIGNED_IN_PAGES, "/login"])
def test_pages_have_no_inline_script_style_or_handlers(client: TestClient, path: str) -> None:
    """The pages must run under a CSP without 'unsafe-inline'."""
    html = client.get(path).text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, "inline <script>"
    assert "<style" not in html
    assert re.search(r"\sstyle=", html) is None
    assert re.search(r"\son[a-z]+=", html) is None


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
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
    """MapLibre (CSP build, its worker and its CSS) and the Chinese font are installed by `make assets`."""
    missing = pages.missing_vendor_assets()
    if missing:
        reason = f"front-end libraries missing ({', '.join(missing)}): run `make assets`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    referenced = [a for a in _assets(client.get("/").text) if a.startswith("/static/vendor/")]
    assert sorted(referenced) == [
        "/static/vendor/maplibre-gl-csp.js",
        "/static/vendor/maplibre-gl.css",
        "/static/vendor/noto-sans-sc/400.css",
        "/static/vendor/noto-sans-sc/700.css",
    ]
    for asset in [*referenced, "/static/vendor/maplibre-gl-csp-worker.js"]:
        assert client.get(asset).status_code == 200, asset
    worker_url = "/static/vendor/maplibre-gl-csp-worker.js"
    assert worker_url in (Path(pages.STATIC_DIR) / "citymap.js").read_text(encoding="utf-8")


def test_missing_vendor_assets_are_named_on_the_page(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `make assets` the page says which files are missing and how to get them."""
    monkeypatch.setattr(pages.shell, "STATIC_DIR", tmp_path)
    html = client.get("/").text
    assert "run <code>make assets</code>" in html
    assert all(name in html for name in pages.VENDOR_ASSETS)
    for name in pages.VENDOR_ASSETS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert pages.missing_vendor_assets() == []
    assert "make assets" not in client.get("/").text
