"""A second factor is enrolled by its user at first sign-in; an administrator never sees the secret.

An account of a role that needs a one-time code is created without one. Its first password
sign-in answers 202 with a short-lived, single-purpose enrolment token and the new secret (shown
to the user alone); a valid code confirms it, and only then is a session issued.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from safecity.core.clock import ManualClock
from safecity.platform import Platform
from safecity.security import audit, enrolment
from safecity.security.audit import AuditFilter
from safecity.security.passwords import totp_now
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.store import transaction
from safecity.web.app import create_app
from tests.authn import PASSWORD, mint
from tests.conftest import T0

SECRET_WORDS = ("secret", "otpauth")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A fresh platform on a stopped clock."""
    built = Platform.build(
        Settings(data_dir=tmp_path, rate_limit_login_per_min=10_000, totp_enrolment_ttl_s=300),
        clock=ManualClock(T0),
    )
    yield built
    built.engine.dispose()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    """The app, anonymous."""
    with TestClient(create_app(platform, manage_platform=False), raise_server_exceptions=False) as test:
        yield test


@pytest.fixture
def admin(platform: Platform) -> dict[str, str]:
    """An administrator's headers."""
    return mint(platform.security, Role.ADMINISTRATOR)


def create(client: TestClient, admin: dict[str, str], username: str, role: str = "investigator") -> Any:
    """POST /api/v1/users as the administrator; the answer's JSON."""
    answer = client.post(
        "/api/v1/users",
        json={
            "username": username,
            "display_name": username.title(),
            "role": role,
            "unit": "CID",
            "password": PASSWORD,
            "city_wide": True,
        },
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def login(
    client: TestClient, username: str, password: str = PASSWORD, totp: str | None = None
) -> httpx.Response:
    """POST /api/v1/auth/login."""
    return client.post("/api/v1/auth/login", json={"username": username, "password": password, "totp": totp})


def enrol(client: TestClient, token: str, code: str) -> httpx.Response:
    """POST /api/v1/auth/enrol."""
    return client.post("/api/v1/auth/enrol", json={"enrolment_token": token, "totp": code})


def advance(platform: Platform, seconds: float) -> None:
    """Move the stopped clock on."""
    assert isinstance(platform.clock, ManualClock)
    platform.clock.advance(timedelta(seconds=seconds))


def now_code(platform: Platform, secret: str) -> str:
    """The one-time code of the platform's present moment."""
    return totp_now(secret, platform.clock.now().timestamp())


def actions(platform: Platform, prefix: str = "auth.enrol") -> list[tuple[str, str]]:
    """(action, outcome) of the audit records whose action starts with prefix, oldest first."""
    with platform.session_factory() as session:
        records = audit.search(session, AuditFilter())
    return [(r.action, r.outcome) for r in reversed(records) if r.action.startswith(prefix)]


def test_an_administrator_never_sees_a_new_accounts_secret(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    """The create and reset answers and the account list carry no secret, only that one is due."""
    created = create(client, admin, "inv-1")
    assert not any(w in json.dumps(created).lower() for w in SECRET_WORDS)
    assert created["user"]["has_totp"] is False
    assert created["user"]["totp_enrolment_due"] is True
    reset = client.post("/api/v1/users/inv-1/totp", headers=admin)
    assert reset.status_code == 200, reset.text
    assert not any(w in reset.text.lower() for w in SECRET_WORDS)
    assert reset.json()["totp_enrolment_due"] is True
    listed = client.get("/api/v1/users", headers=admin)
    assert not any(w in listed.text.lower() for w in SECRET_WORDS)


def test_first_sign_in_enrols_the_second_factor_before_any_session(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    """Password -> 202 enrolment (no tokens); a valid code confirms it and opens the session."""
    create(client, admin, "inv-1")
    started = login(client, "inv-1")
    assert started.status_code == 202, started.text
    body = started.json()
    assert "access_token" not in body and "refresh_token" not in body
    assert body["expires_in"] == 300 and body["username"] == "inv-1"
    secret = body["totp_secret"]
    assert body["totp_uri"].startswith("otpauth://totp/safecity:inv-1?secret=" + secret)
    token = body["enrolment_token"]
    as_bearer = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401  # single-purpose: it opens nothing else

    code = now_code(platform, secret)
    wrong = enrol(client, token, "000000" if code != "000000" else "111111")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "enrolment_code_wrong")
    assert wrong.json()["error"]["field"] == "totp"
    done = enrol(client, token, code)
    assert done.status_code == 200, done.text
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {done.json()['access_token']}"})
    assert me.json()["username"] == "inv-1"
    again = enrol(client, token, code)  # used: the token is spent
    assert (again.status_code, again.json()["error"]["code"]) == (401, "enrolment_invalid")

    assert login(client, "inv-1").json()["error"]["code"] == "bad_credentials"  # the code is now needed
    assert login(client, "inv-1", totp=code).status_code == 401  # the enrolment's code works once
    advance(platform, 30)
    assert login(client, "inv-1", totp=now_code(platform, secret)).status_code == 200
    assert actions(platform) == [
        ("auth.enrol_start", "allowed"),
        ("auth.enrol_fail", "refused"),
        ("auth.enrol_complete", "allowed"),
        ("auth.enrol_fail", "refused"),
    ]


def test_an_enrolment_expires_and_ends_after_five_wrong_codes(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    """A token lives minutes and survives a few typing mistakes, not a guessing run."""
    create(client, admin, "inv-1")
    token = login(client, "inv-1").json()["enrolment_token"]
    advance(platform, 301)
    late = enrol(client, token, "123456")
    assert (late.status_code, late.json()["error"]["code"]) == (401, "enrolment_invalid")
    started = login(client, "inv-1").json()
    code = now_code(platform, started["totp_secret"])
    wrong = "000000" if code != "000000" else "111111"
    answers = [enrol(client, started["enrolment_token"], wrong).json()["error"]["code"] for _ in range(6)]
    assert answers == ["enrolment_code_wrong"] * 5 + ["enrolment_invalid"]
    assert enrol(client, started["enrolment_token"], code).status_code == 401
    fresh = login(client, "inv-1").json()  # a new sign-in starts over with a new secret
    assert fresh["totp_secret"] != started["totp_secret"]


def test_a_new_sign_in_replaces_an_unfinished_enrolment(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    """Only the latest enrolment counts: an earlier token (and its secret) no longer works."""
    create(client, admin, "inv-1")
    first = login(client, "inv-1").json()
    second = login(client, "inv-1").json()
    old = enrol(client, first["enrolment_token"], now_code(platform, first["totp_secret"]))
    assert old.json()["error"]["code"] == "enrolment_invalid"
    assert (
        enrol(client, second["enrolment_token"], now_code(platform, second["totp_secret"])).status_code == 200
    )


def test_only_the_right_password_of_a_live_account_starts_an_enrolment(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    """A wrong password or a disabled account get the one refusal, not an enrolment."""
    create(client, admin, "inv-1")
    create(client, admin, "inv-2")
    assert client.post("/api/v1/users/inv-2/disable", headers=admin).status_code == 200
    unknown = login(client, "nobody-here")
    for answer in (login(client, "inv-1", "not the password at all"), login(client, "inv-2")):
        assert answer.status_code == 401
        assert answer.json() == unknown.json()
    assert actions(platform) == []


def test_reset_totp_makes_the_user_enrol_again(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    """After a reset the old secret opens nothing; the next sign-in is an enrolment."""
    create(client, admin, "inv-1")
    started = login(client, "inv-1").json()
    old_secret = started["totp_secret"]
    assert enrol(client, started["enrolment_token"], now_code(platform, old_secret)).status_code == 200
    assert client.post("/api/v1/users/inv-1/totp", headers=admin).status_code == 200
    advance(platform, 30)
    again = login(client, "inv-1", totp=now_code(platform, old_secret))
    assert again.status_code == 202
    assert again.json()["totp_secret"] != old_secret


def test_an_optional_second_factor_is_enrolled_the_same_way(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    """A dispatcher given a second factor (`totp: true`) enrols it; one without signs in at once."""
    answer = client.post(
        "/api/v1/users",
        json={
            "username": "disp-2fa",
            "display_name": "Disp",
            "role": "dispatcher",
            "unit": "CC",
            "password": PASSWORD,
            "city_wide": True,
            "totp": True,
        },
        headers=admin,
    )
    assert answer.json()["user"]["totp_enrolment_due"] is True
    assert login(client, "disp-2fa").status_code == 202
    create(client, admin, "disp-plain", role="dispatcher")
    assert login(client, "disp-plain").status_code == 200


def test_the_enrolment_flow_is_in_the_openapi_schema(client: TestClient) -> None:
    """Clients find the 202 answer of sign-in and the enrolment call in the API's schema."""
    schema = client.get("/openapi.json").json()
    login_answers = schema["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert login_answers["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/EnrolmentOut")
    assert "/api/v1/auth/enrol" in schema["paths"]
    assert "totp_secret" not in json.dumps(schema["components"]["schemas"]["UserCreatedOut"])


def test_enrolment_rows_on_each_database(session_factory: Any) -> None:
    """Start, replace and complete an enrolment on SQLite and PostgreSQL."""
    from safecity.security import accounts

    with transaction(session_factory) as session:
        account = accounts.create_account(
            session,
            accounts.NewAccount("inv-1", "Inv", Role.INVESTIGATOR, "CID", PASSWORD, city_wide=True),
            by="tests",
            now=T0,
        )
        assert account.totp_secret is None
        enrolment.start(session, account, now=T0, ttl_s=60)
        started = enrolment.start(session, account, now=T0, ttl_s=60)
    with transaction(session_factory) as session:
        done, step = enrolment.complete(
            session, started.token, totp_now(started.secret, T0.timestamp()), now=T0
        )
        assert (done.username, done.totp_secret, step) == ("inv-1", started.secret, int(T0.timestamp() // 30))
