"""Accounts and their sessions: create, change, open, rotate and revoke (checking a sign-in: signin.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from safecity import registry
from safecity.core.record import new_id
from safecity.security import enrolment, passwords, signin, tokens
from safecity.security.errors import AccountError, NotAuthenticated
from safecity.security.models import Account, AuthSession
from safecity.security.roles import CITY_WIDE, ROLE_KIND, TOTP_REQUIRED, Role

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
BAD_CREDENTIALS = signin.BAD_CREDENTIALS  # what every failed sign-in hears


@dataclass(frozen=True, slots=True)
class NewAccount:
    """What an administrator gives to create an account."""

    username: str
    display_name: str
    role: Role
    unit: str
    password: str
    areas: tuple[str, ...] = ()
    city_wide: bool | None = None  # None: the role's default
    person_id: int | None = None
    with_totp: bool | None = None  # None: required roles use one, others do not; set up at first sign-in


def create_account(session: Session, new: NewAccount, *, by: str, now: datetime) -> Account:
    """Create an account. One that uses a one-time code gets no secret here: its user sets the
    code up at the first sign-in (security/enrolment.py), so nobody else ever sees it."""
    username = new.username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError(
            "a username is 3-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
            field="username",
        )
    try:
        role = Role(new.role)
    except ValueError:
        raise AccountError(
            f"unknown role {new.role!r}; roles: {', '.join(r.value for r in Role)}", field="role"
        ) from None
    try:
        passwords.check_policy(new.password, username=username)
    except passwords.WeakPassword as exc:
        raise AccountError(str(exc), field="password") from None
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise AccountError(f"username {username!r} is taken", field="username", status=409)
    for area_id in new.areas:
        if registry.get_area(session, area_id=area_id) is None:
            raise AccountError(f"unknown area {area_id!r}", field="areas")
    if new.person_id is not None and registry.get_person(session, person_id=new.person_id) is None:
        raise AccountError(f"unknown person {new.person_id}", field="person_id")
    city_wide = role in CITY_WIDE if new.city_wide is None else new.city_wide
    if not city_wide and not new.areas and role not in (Role.CITIZEN, Role.LANDLORD, Role.LIAISON):
        raise AccountError(
            f"a {role.value} account needs at least one area (district, station or community) or city_wide",
            field="areas",
        )
    with_totp = role in TOTP_REQUIRED if new.with_totp is None else new.with_totp or role in TOTP_REQUIRED
    account = Account(
        username=username,
        display_name=new.display_name.strip() or username,
        kind=ROLE_KIND[role].value,
        role=role.value,
        unit=new.unit.strip(),
        areas=list(new.areas),
        city_wide=city_wide,
        person_id=new.person_id,
        password_hash=passwords.hash_password(new.password),
        uses_totp=with_totp,
        totp_secret=None,
        failed_logins=0,
        disabled=False,
        created_at=now,
        created_by=by,
    )
    session.add(account)
    session.flush()
    return account


def start_session(
    session: Session, account: Account, *, now: datetime, ttl_s: int, client: str = ""
) -> tuple[AuthSession, str]:
    """Open a sign-in session; returns it and the refresh token to hand out."""
    secret = tokens.new_refresh_secret()
    auth = AuthSession(
        id=new_id(),
        account_id=account.id,
        refresh_hash=tokens.digest(secret),
        created_at=now,
        refreshed_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        client=client[:128],
    )
    session.add(auth)
    session.flush()
    return auth, f"{auth.id}.{secret}"


def refresh_session(session: Session, refresh_token: str, *, now: datetime) -> tuple[AuthSession, str]:
    """Rotate a refresh token. A stale one (already rotated) revokes the session: it was copied."""
    session_id, secret = tokens.split_refresh(refresh_token)
    auth = session.get(AuthSession, session_id)
    if auth is None:
        raise NotAuthenticated("refresh_invalid", "unknown sign-in session; sign in again")
    if auth.revoked_at is not None:
        raise NotAuthenticated("session_revoked", "this sign-in session was ended; sign in again")
    if auth.expires_at <= now:
        raise NotAuthenticated("session_expired", "this sign-in session has expired; sign in again")
    if not tokens.secret_matches(auth.refresh_hash, secret):
        auth.revoked_at, auth.revoked_reason = now, "refresh token reused"
        raise NotAuthenticated(
            "refresh_reused", "this refresh token was already used; the session is ended for safety"
        )
    if auth.account.disabled:
        raise NotAuthenticated("account_disabled", "this account is disabled; ask an administrator")
    new_secret = tokens.new_refresh_secret()
    auth.refresh_hash = tokens.digest(new_secret)
    auth.refreshed_at = now
    return auth, f"{auth.id}.{new_secret}"


def revoke_session(session: Session, session_id: str, *, reason: str, now: datetime) -> bool:
    """End one sign-in session; False if it was already ended."""
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    return bool(getattr(result, "rowcount", 0))


def revoke_all(session: Session, account_id: int, *, reason: str, now: datetime) -> int:
    """End every open session of an account (disable, password reset, suspected theft)."""
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.account_id == account_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    return int(getattr(result, "rowcount", 0))


def count_accounts(session: Session) -> int:
    """How many accounts exist (the demo seeds its own only into an empty platform)."""
    return int(session.scalar(select(func.count()).select_from(Account)) or 0)


def require_account(session: Session, account_id: int) -> Account:
    """An account by id, or AccountError 404."""
    account = session.get(Account, account_id)
    if account is None:
        raise AccountError(f"unknown account {account_id}", field="account_id", status=404)
    return account


def find_account(session: Session, username: str) -> Account:
    """An account by username, or AccountError 404."""
    account = session.scalars(select(Account).where(Account.username == username.strip().lower())).first()
    if account is None:
        raise AccountError(f"unknown user {username!r}", field="username", status=404)
    return account


def set_disabled(session: Session, account: Account, disabled: bool, *, now: datetime) -> None:
    """Disable (ending every session at once) or re-enable an account."""
    account.disabled = disabled
    if disabled:
        revoke_all(session, account.id, reason="account disabled", now=now)


def unlock(session: Session, account: Account) -> None:
    """Clear the account's slow path and the lockout of every address."""
    signin.clear_lockouts(session, account)


def set_password(session: Session, account: Account, password: str, *, now: datetime) -> None:
    """Replace the password and end every session."""
    try:
        passwords.check_policy(password, username=account.username)
    except passwords.WeakPassword as exc:
        raise AccountError(str(exc), field="password") from None
    account.password_hash = passwords.hash_password(password)
    revoke_all(session, account.id, reason="password changed", now=now)


def reset_totp(session: Session, account: Account) -> None:
    """Forget the one-time-code secret: its user sets up a new one at the next sign-in."""
    account.uses_totp = True
    account.totp_secret = None
    account.totp_last_step = None
    enrolment.discard(session, account)
