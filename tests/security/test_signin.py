"""Sign-in refusals say nothing about the account, and nobody can lock an owner out from elsewhere.

Every failure (unknown user, wrong password, missing or wrong one-time code, disabled account,
locked address, slowed account) gets the same answer and costs one password hash; the audit trail
keeps the true reason. Failures lock one (account, address) pair; failures against one account
from many addresses slow down only addresses the account has not signed in from.
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
from sqlalchemy import select

from safecity.core.clock import ManualClock
from safecity.platform import Platform
from safecity.security import accounts, passwords, signin
from safecity.security.models import SignInAttempt
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.store import transaction
from safecity.web.app import create_app
from tests.authn import PASSWORD
from tests.conftest import T0
from tests.security.test_auth_api import make, refusals

WRONG = "not the password at all"
OWNER, ELSEWHERE = "198.51.100.7", "203.0.113.66"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A fresh platform on a stopped clock: 3 failures lock an address, 8 slow the account down."""
    settings = Settings(
        data_dir=tmp_path,
        login_max_failures=3,
        login_lockout_s=60,
        login_account_max_failures=8,
        login_account_delay_s=10,
        rate_limit_login_per_min=10_000,
    )
    built = Platform.build(settings, clock=ManualClock(T0))
    yield built
    built.engine.dispose()


@pytest.fixture
def app(platform: Platform) -> Any:
    """The app over the platform (each client below comes from its own address)."""
    return create_app(platform, manage_platform=False)


def at(app: Any, address: str) -> TestClient:
    """A client of the app calling from `address`."""
    return TestClient(app, raise_server_exceptions=False, client=(address, 50_000))


def login(
    client: TestClient, username: str, password: str = PASSWORD, totp: str | None = None
) -> httpx.Response:
    """POST /api/v1/auth/login."""
    return client.post("/api/v1/auth/login", json={"username": username, "password": password, "totp": totp})


def advance(platform: Platform, seconds: float) -> None:
    """Move the platform's stopped clock on."""
    assert isinstance(platform.clock, ManualClock)
    platform.clock.advance(timedelta(seconds=seconds))


def reasons(platform: Platform) -> list[str]:
    """The true reasons the audit trail kept for refused sign-ins, oldest first."""
    return [json.loads(r.detail)["reason"] for r in reversed(refusals(platform, "auth.login"))]


def test_every_sign_in_failure_gets_the_same_answer(platform: Platform, app: Any) -> None:
    """Status, code, message and headers are one; only the audit trail says why."""
    make(platform, "disp-1", Role.DISPATCHER)
    make(platform, "gone-1", Role.DISPATCHER)
    make(platform, "held-1", Role.DISPATCHER)
    secret = make(platform, "inv-1", Role.INVESTIGATOR)
    assert secret is not None
    with transaction(platform.session_factory) as session:
        accounts.set_disabled(session, accounts.find_account(session, "gone-1"), True, now=T0)
    client = at(app, OWNER)
    code = passwords.totp_now(secret, T0.timestamp())
    answers = {
        "unknown_user": login(client, "nobody-here"),
        "wrong_password": login(client, "disp-1", WRONG),
        "totp_missing": login(client, "inv-1"),
        "totp_wrong": login(client, "inv-1", totp="000000" if code != "000000" else "111111"),
        "disabled": login(client, "gone-1"),  # the right password
    }
    for _ in range(3):
        login(client, "held-1", WRONG)
    answers["locked"] = login(client, "held-1")  # the right password, from the locked address
    first = answers["unknown_user"]
    assert (first.status_code, first.json()["error"]["code"]) == (401, "bad_credentials")
    for reason, answer in answers.items():
        assert answer.status_code == 401, reason
        assert answer.json() == first.json(), reason
        assert answer.headers["www-authenticate"] == first.headers["www-authenticate"], reason
    assert reasons(platform) == [
        "unknown_user",
        "wrong_password",
        "totp_missing",
        "totp_wrong",
        "disabled",
        "wrong_password",
        "wrong_password",
        "wrong_password",
        "locked",
    ]


def test_every_sign_in_failure_costs_one_password_hash(
    platform: Platform, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown user, a disabled or a locked account take the same Argon2 work as a wrong password."""
    make(platform, "disp-1", Role.DISPATCHER)
    checked: list[str | None] = []
    real = passwords.verify_password

    def counting(stored_hash: str | None, password: str) -> bool:
        checked.append(stored_hash)
        return real(stored_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    client = at(app, OWNER)
    for username in ("nobody-here", "disp-1", "disp-1", "disp-1", "disp-1"):  # the last one is locked
        login(client, username, WRONG)
    assert len(checked) == 5
    assert checked[0] is None  # verify_password spends a dummy hash's time on it


def test_failures_from_elsewhere_never_lock_the_owner_out(platform: Platform, app: Any) -> None:
    """What the fuzzer did to `admin`: many failures from one address lock that address only."""
    make(platform, "admin-x", Role.DISPATCHER)
    attacker = at(app, ELSEWHERE)
    for _ in range(6):
        assert login(attacker, "admin-x", WRONG).status_code == 401
    assert login(attacker, "admin-x").status_code == 401  # locked there, even with the password
    owner = login(at(app, OWNER), "admin-x")  # never signed in before, from its own address
    assert owner.status_code == 200, owner.text


def test_failures_from_many_addresses_slow_down_only_new_addresses(platform: Platform, app: Any) -> None:
    """Past the account's budget, an address it never signed in from waits a growing delay."""
    make(platform, "disp-1", Role.DISPATCHER)
    assert login(at(app, OWNER), "disp-1").status_code == 200  # the owner's own address is known
    for i in range(8):  # two tries from each of four addresses: no address is locked
        assert login(at(app, f"192.0.2.{i // 2}"), "disp-1", WRONG).status_code == 401
    newcomer = at(app, "192.0.2.200")
    assert login(newcomer, "disp-1").status_code == 401  # slowed down for 10 s
    assert login(at(app, OWNER), "disp-1").status_code == 200  # the owner is never slowed down
    for i in range(8):
        login(at(app, f"192.0.2.{100 + i // 2}"), "disp-1", WRONG)
    advance(platform, 10)
    assert login(at(app, "192.0.2.150"), "disp-1", WRONG).status_code == 401  # 9th: now 20 s
    advance(platform, 10)
    assert login(newcomer, "disp-1").status_code == 401
    advance(platform, 10)
    assert login(newcomer, "disp-1").status_code == 200
    assert reasons(platform).count("throttled") == 2


def test_an_administrator_unlock_clears_every_address(platform: Platform, app: Any) -> None:
    """`users unlock` ends the lockout of each address and the account's slow path."""
    make(platform, "disp-1", Role.DISPATCHER)
    attacker = at(app, ELSEWHERE)
    for _ in range(3):
        login(attacker, "disp-1", WRONG)
    assert login(attacker, "disp-1").status_code == 401
    with transaction(platform.session_factory) as session:
        accounts.unlock(session, accounts.find_account(session, "disp-1"))
    assert login(attacker, "disp-1").status_code == 200


def test_pair_lockout_and_slow_path_on_each_database(session_factory: Any) -> None:
    """The attempts rows are created once per pair and counted the same on SQLite and PostgreSQL."""
    policy = signin.LoginPolicy(max_failures=2, lockout_s=60, account_max_failures=3, account_delay_s=5)
    with transaction(session_factory) as session:
        accounts.create_account(
            session,
            accounts.NewAccount("disp-1", "Disp", Role.DISPATCHER, "Unit", PASSWORD, city_wide=True),
            by="tests",
            now=T0,
        )

    def attempt(client: str, password: str = WRONG) -> signin.Refusal | None:
        try:
            with session_factory.begin() as session:
                try:
                    signin.authenticate(
                        session, signin.Attempt("disp-1", password, None, client), now=T0, policy=policy
                    )
                except signin.SignInRefused:
                    session.commit()
                    raise
        except signin.SignInRefused as exc:
            return exc.reason
        return None

    assert [attempt(ELSEWHERE) for _ in range(3)] == ["wrong_password", "wrong_password", "locked"]
    assert attempt("192.0.2.1") == "wrong_password"  # the account's third failure: slowed down
    assert attempt("192.0.2.2", PASSWORD) == "throttled"
    with session_factory() as session:
        rows = session.scalars(select(SignInAttempt).order_by(SignInAttempt.client)).all()
        assert [(r.client, r.failures) for r in rows] == [("192.0.2.1", 1), ("192.0.2.2", 0), (ELSEWHERE, 2)]
