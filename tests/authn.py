"""Accounts and tokens for tests: sign someone in with a role and areas, without the sign-in form.

Tokens are minted by the platform's own token service over a real session row, so every check
the API makes (signature, expiry, revocation, role, area) applies exactly as in production.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from safecity.security import Enrolment, EnrolmentRefused, accounts
from safecity.security.passwords import totp_now
from safecity.security.roles import Role
from safecity.security.service import Security
from safecity.store import transaction

PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)


def mint(
    security: Security,
    role: Role | str,
    *,
    areas: Sequence[str] = (),
    city_wide: bool | None = None,
    username: str | None = None,
    person_id: int | None = None,
    unit: str = "Test Unit",
) -> dict[str, str]:
    """Create an account and return Authorization headers carrying a fresh access token for it."""
    role = Role(role)
    if (
        not areas
        and city_wide is None
        and role not in (Role.CITIZEN, Role.LANDLORD, Role.LIAISON, Role.SHOP_OWNER)
    ):
        city_wide = True
    name = username or f"{role.value.replace('_', '-')}-{next(_serial)}"
    now = security.now()
    with transaction(security.session_factory) as session:
        account = accounts.create_account(
            session,
            accounts.NewAccount(
                username=name,
                display_name=name,
                role=role,
                unit=unit,
                password=PASSWORD,
                areas=tuple(areas),
                city_wide=city_wide,
                person_id=person_id,
                with_totp=False,
            ),
            by="tests",
            now=now,
        )
        auth, _refresh = accounts.start_session(session, account, now=now, ttl_s=12 * 3600)
        token = security.tokens.issue(account_id=account.id, session_id=auth.id, role=role.value, now=now)
    return {"Authorization": f"Bearer {token}"}


def enrol(security: Security, username: str, *, password: str = PASSWORD, client: str = "tests") -> str:
    """Set up an account's one-time code through the real sign-in and enrolment; returns its key.

    The confirming code is the previous 30 s step's (accepted as clock drift), so that the present
    step's code still signs in right afterwards, as it would from a second device.
    """
    for _ in range(2):
        started = security.login(username=username, password=password, totp=None, client=client)
        assert isinstance(started, Enrolment), f"{username} has nothing to enrol"
        try:
            security.enrol(
                token=started.token,
                code=totp_now(started.secret, security.now().timestamp() - 30),
                client=client,
            )
        except EnrolmentRefused:
            continue  # the 30 s step turned between reading the clock and checking the code
        return started.secret
    raise AssertionError(f"could not enrol {username}")
