"""Sign-in, second factor, lockout, tokens (expiry, forgery, refresh, revocation), CSRF and rate limits.

Every refusal must answer with the right status and a clear message, and be in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from safecity.core.clock import ManualClock
from safecity.platform import Platform
from safecity.security import accounts, audit
from safecity.security.audit import AuditFilter
from safecity.security.passwords import totp_now
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.store import transaction
from safecity.web.app import create_app
from tests.authn import PASSWORD, enrol
from tests.conftest import T0


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A fresh platform on a stopped clock, with strict sign-in limits."""
    settings = Settings(
        data_dir=tmp_path, login_max_failures=3, login_lockout_s=60, rate_limit_login_per_min=50
    )
    built = Platform.build(settings, clock=ManualClock(T0))
    yield built
    built.engine.dispose()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    """The app, anonymous."""
    with TestClient(
        create_app(platform, manage_platform=False), raise_server_exceptions=False
    ) as test_client:
        yield test_client


def make(platform: Platform, username: str, role: Role, **kw: object) -> str | None:
    """Create an account with the test password; returns its TOTP secret if it has one (enrolled)."""
    areas = kw.pop("areas", ()) or (() if role in (Role.CITIZEN,) else ())
    with transaction(platform.session_factory) as session:
        account = accounts.create_account(
            session,
            accounts.NewAccount(
                username=username,
                display_name=username,
                role=role,
                unit="Unit 1",
                password=PASSWORD,
                areas=tuple(areas),
                city_wide=kw.pop("city_wide", True if role is not Role.CITIZEN else None),  # type: ignore[arg-type]
            ),
            by="tests",
            now=platform.clock.now(),
        )
        uses_totp = account.uses_totp
    return enrol(platform.security, username) if uses_totp else None


def refusals(platform: Platform, action: str) -> list[audit.AuditRecord]:
    """Refused audit records of an action."""
    with platform.session_factory() as session:
        return audit.search(session, AuditFilter(action=action, outcome="refused"))


def login(client: TestClient, username: str, password: str = PASSWORD, totp: str | None = None) -> object:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password, "totp": totp})


def test_sign_in_gives_tokens_that_open_the_api(client: TestClient, platform: Platform) -> None:
    make(platform, "disp-1", Role.DISPATCHER)
    answer = login(client, "disp-1")
    assert answer.status_code == 200, answer.text  # type: ignore[attr-defined]
    body = answer.json()  # type: ignore[attr-defined]
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["user"]["role"] == "dispatcher" and "alerts.read" in body["user"]["permissions"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["username"] == "disp-1"
    with platform.session_factory() as session:
        assert [
            r.actor for r in audit.search(session, AuditFilter(action="auth.login", outcome="allowed"))
        ] == ["disp-1"]


def test_wrong_password_and_unknown_user_get_the_same_answer(client: TestClient, platform: Platform) -> None:
    make(platform, "disp-1", Role.DISPATCHER)
    wrong = login(client, "disp-1", "not the password at all")
    unknown = login(client, "nobody-here", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401  # type: ignore[attr-defined]
    assert wrong.json() == unknown.json()  # type: ignore[attr-defined]
    assert wrong.headers["www-authenticate"].startswith("Bearer")  # type: ignore[attr-defined]
    assert [r.actor for r in refusals(platform, "auth.login")] == ["nobody-here", "disp-1"]


def test_repeated_failures_lock_the_address_out_with_growing_back_off(
    client: TestClient, platform: Platform
) -> None:
    make(platform, "disp-1", Role.DISPATCHER)
    for _ in range(3):
        assert login(client, "disp-1", "wrong password!!").status_code == 401  # type: ignore[attr-defined]
    locked = login(client, "disp-1")  # even the right password is refused while locked
    assert locked.status_code == 401  # type: ignore[attr-defined]
    assert locked.json()["error"]["message"] == accounts.BAD_CREDENTIALS  # type: ignore[attr-defined]
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(seconds=61))
    assert login(client, "disp-1", "wrong password!!").status_code == 401  # type: ignore[attr-defined]
    clock.advance(timedelta(seconds=61))  # the 4th failure doubled the lockout to 120 s
    assert login(client, "disp-1").status_code == 401  # type: ignore[attr-defined]
    clock.advance(timedelta(seconds=60))
    assert login(client, "disp-1").status_code == 200  # type: ignore[attr-defined]


def test_investigators_need_their_one_time_code_and_each_code_works_once(
    client: TestClient, platform: Platform
) -> None:
    secret = make(platform, "inv-1", Role.INVESTIGATOR)
    assert secret is not None
    missing = login(client, "inv-1")
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "bad_credentials")  # type: ignore[attr-defined]
    code = totp_now(secret, platform.clock.now().timestamp())
    assert login(client, "inv-1", totp="000000" if code != "000000" else "111111").status_code == 401  # type: ignore[attr-defined]
    assert login(client, "inv-1", totp=code).status_code == 200  # type: ignore[attr-defined]
    replay = login(client, "inv-1", totp=code)
    assert replay.status_code == 401  # type: ignore[attr-defined]


def test_an_expired_token_is_refused_and_refresh_rotates(client: TestClient, platform: Platform) -> None:
    make(platform, "disp-1", Role.DISPATCHER)
    body = login(client, "disp-1").json()  # type: ignore[attr-defined]
    assert isinstance(platform.clock, ManualClock)
    platform.clock.advance(timedelta(seconds=901))
    expired = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert (expired.status_code, expired.json()["error"]["code"]) == (401, "token_expired")
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}).json()
    assert renewed["refresh_token"] != body["refresh_token"]
    ok = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {renewed['access_token']}"})
    assert ok.status_code == 200
    # The first refresh token was used; using it again means it was copied: the session ends.
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert (reused.status_code, reused.json()["error"]["code"]) == (401, "refresh_reused")
    dead = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {renewed['access_token']}"})
    assert (dead.status_code, dead.json()["error"]["code"]) == (401, "token_revoked")


@pytest.mark.parametrize("mangle", ["resign", "alg_none", "garbage", "wrong_scheme"])
def test_forged_tokens_are_refused_and_audited(client: TestClient, platform: Platform, mangle: str) -> None:
    make(platform, "disp-1", Role.DISPATCHER)
    token = login(client, "disp-1").json()["access_token"]  # type: ignore[attr-defined]
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["role"] = "administrator"
    header = {
        "resign": f"Bearer {jwt.encode(claims, 'guessed-key-guessed-key-guessed!', algorithm='HS256')}",
        "alg_none": f"Bearer {jwt.encode(claims, None, algorithm='none')}",
        "garbage": "Bearer not.a.token",
        "wrong_scheme": f"Basic {token}",
    }[mangle]
    answer = client.get("/api/v1/users", headers={"Authorization": header})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] in ("token_invalid", "not_authenticated")
    assert refusals(platform, "users.manage")[0].status == 401


def test_sign_out_revokes_the_token_at_once(client: TestClient, platform: Platform) -> None:
    make(platform, "disp-1", Role.DISPATCHER)
    body = login(client, "disp-1").json()  # type: ignore[attr-defined]
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204
    assert client.get("/api/v1/auth/me", headers=auth).json()["error"]["code"] == "token_revoked"
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refresh.json()["error"]["code"] == "session_revoked"


def test_disabling_an_account_ends_its_sessions(client: TestClient, platform: Platform) -> None:
    make(platform, "disp-1", Role.DISPATCHER)
    secret = make(platform, "admin-1", Role.ADMINISTRATOR)
    assert secret is not None
    admin = login(client, "admin-1", totp=totp_now(secret, platform.clock.now().timestamp())).json()  # type: ignore[attr-defined]
    user = login(client, "disp-1").json()  # type: ignore[attr-defined]
    off = client.post(
        "/api/v1/users/disp-1/disable", headers={"Authorization": f"Bearer {admin['access_token']}"}
    )
    assert (off.status_code, off.json()["disabled"]) == (200, True)
    answer = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {user['access_token']}"})
    assert answer.status_code == 401
    assert login(client, "disp-1").json()["error"]["code"] == "bad_credentials"  # type: ignore[attr-defined]


def test_the_wrong_role_is_403_naming_the_permission_and_audited(
    client: TestClient, platform: Platform
) -> None:
    make(platform, "disp-1", Role.DISPATCHER)
    token = login(client, "disp-1").json()["access_token"]  # type: ignore[attr-defined]
    answer = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    assert "audit.read" in answer.json()["error"]["message"]
    refused = refusals(platform, "audit.read")
    assert [(r.actor, r.role, r.status) for r in refused] == [("disp-1", "dispatcher", 403)]


def test_cookie_sessions_need_the_csrf_header_on_writes(client: TestClient, platform: Platform) -> None:
    make(platform, "disp-1", Role.DISPATCHER)
    token = login(client, "disp-1").json()["access_token"]  # type: ignore[attr-defined]
    client.cookies.set("sc_access", token)
    client.cookies.set("sc_csrf", "abc123")
    assert client.get("/api/v1/auth/me").status_code == 200  # reads need no CSRF token
    refused = client.post("/api/v1/auth/logout")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "csrf_failed")
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "abc123"}).status_code == 204


def test_sign_in_is_rate_limited_per_address(tmp_path: Path) -> None:
    platform = Platform.build(Settings(data_dir=tmp_path, rate_limit_login_per_min=3), clock=ManualClock(T0))
    with TestClient(create_app(platform, manage_platform=False)) as client:
        answers = [login(client, "x-user", "password guess 1").status_code for _ in range(5)]  # type: ignore[attr-defined]
        assert answers == [401, 401, 401, 429, 429]
        limited = login(client, "x-user", "password guess 1")
        assert int(limited.headers["retry-after"]) >= 1  # type: ignore[attr-defined]
    platform.engine.dispose()


def test_bad_sign_in_bodies_are_422_naming_the_field(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/auth/login", json={"username": "a", "password": "b", "role": "administrator"}
    )
    assert answer.status_code == 422
    assert "role" in answer.json()["error"]["field"]
    assert client.post("/api/v1/auth/login", content=b"{nope").status_code == 422
