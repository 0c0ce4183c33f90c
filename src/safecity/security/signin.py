"""Checking a sign-in: one answer for every failure, lockout per account and address, a slow path.

Whatever went wrong (no such user, a wrong password or one-time code, a disabled account, a
locked address), the caller hears the same `SignInRefused`, after the same work: one Argon2
verification and one write of the attempt's row. Only the audit trail learns the true reason
(`SignInRefused.reason`).

Failures are counted per (username, client address): `max_failures` of them lock that pair for
`lockout_s`, doubling with each further failure, so that guessing from one address is stopped
without locking the account's owner out from theirs. Failures against one account from every
address are counted too: past `account_max_failures` the account is on a slow path, on which an
address it has never signed in from must wait `account_delay_s` (doubling with each further
failure, at most `lockout_s`) before its next try is checked. An address where the owner signed
in within `KNOWN_ADDRESS_DAYS` is never held back by it, and a success resets the account's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from safecity.security import passwords
from safecity.security.errors import NotAuthenticated
from safecity.security.models import Account, SignInAttempt
from safecity.security.roles import TOTP_REQUIRED, Role

BAD_CREDENTIALS = (
    "invalid username, password or one-time code, or too many failed sign-ins from here; "
    "wait a few minutes and try again"
)
# An address where the owner signed in this recently is theirs: the slow path never holds it back.
KNOWN_ADDRESS_DAYS = 90


class Refusal(StrEnum):
    """Why a sign-in failed: recorded in the audit trail, never told to the caller."""

    UNKNOWN_USER = "unknown_user"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a reason, not a secret)
    TOTP_MISSING = "totp_missing"
    TOTP_WRONG = "totp_wrong"
    DISABLED = "disabled"
    LOCKED = "locked"  # too many failures from this address against this username
    THROTTLED = "throttled"  # the account is on its slow path and this address is new to it


# Refusals that did not check the credentials: they neither count nor extend a lockout.
_UNCHECKED = frozenset({Refusal.LOCKED, Refusal.THROTTLED})


class SignInRefused(NotAuthenticated):
    """A failed sign-in: the same code and message whatever the reason, which only the audit keeps."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__("bad_credentials", BAD_CREDENTIALS)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How many failures lock an address out of an account, and when an account slows down."""

    max_failures: int = 5
    lockout_s: int = 900
    account_max_failures: int = 20
    account_delay_s: int = 30

    def pair_lock(self, failures: int) -> timedelta | None:
        """How long an address is locked out after this many consecutive failures (None: not)."""
        over = failures - self.max_failures
        return None if over < 0 else timedelta(seconds=self.lockout_s * 2 ** min(over, 10))

    def account_delay(self, failures: int) -> timedelta | None:
        """How long new addresses wait after this many failures against the account (None: not)."""
        over = failures - self.account_max_failures
        if over < 0:
            return None
        return timedelta(seconds=min(self.account_delay_s * 2 ** min(over, 20), max(self.lockout_s, 1)))


@dataclass(frozen=True, slots=True)
class Attempt:
    """What a caller typed, and where from."""

    username: str
    password: str
    totp_code: str | None
    client: str


def normalised(username: str) -> str:
    """A username as accounts store it."""
    return username.strip().lower()[:64]


def authenticate(session: Session, attempt: Attempt, *, now: datetime, policy: LoginPolicy) -> Account:
    """The account the attempt proves, or SignInRefused (with its reason) after counting the failure.

    An account that must still set up its one-time code is returned on its password alone
    (`needs_enrolment`): the caller starts the enrolment, and the sign-in counts as a success only
    once that is complete. The caller commits the session whatever the outcome, so that failures
    are counted.
    """
    name = normalised(attempt.username)
    account = session.scalars(select(Account).where(Account.username == name)).first()
    # Always one hash, whatever is wrong, so that the time taken tells nothing.
    password_ok = passwords.verify_password(account.password_hash if account else None, attempt.password)
    pair = _pair(session, name, attempt.client)
    refusal, step = _check(account, pair, attempt, password_ok, now=now)
    if refusal is None:
        assert account is not None
        if needs_enrolment(account):
            return account
        record_success(session, account, attempt.client, now=now, step=step)
        if passwords.needs_rehash(account.password_hash):
            account.password_hash = passwords.hash_password(attempt.password)
        return account
    pair.last_failure_at = now  # written for every failure, known user or not: the same work
    if refusal not in _UNCHECKED:
        pair.failures += 1
        lock = policy.pair_lock(pair.failures)
        pair.locked_until = now + lock if lock else None
        if account is not None:
            account.failed_logins += 1
            delay = policy.account_delay(account.failed_logins)
            account.locked_until = now + delay if delay else None
    session.flush()
    raise SignInRefused(refusal)


def _check(
    account: Account | None, pair: SignInAttempt, attempt: Attempt, password_ok: bool, *, now: datetime
) -> tuple[Refusal | None, int | None]:
    """The first reason to refuse (None: accepted), and the one-time code's step if one was used."""
    if pair.locked_until is not None and pair.locked_until > now:
        return Refusal.LOCKED, None
    if account is None:
        return Refusal.UNKNOWN_USER, None
    known = pair.last_success_at is not None and pair.last_success_at > now - timedelta(
        days=KNOWN_ADDRESS_DAYS
    )
    if not known and account.locked_until is not None and account.locked_until > now:
        return Refusal.THROTTLED, None
    if account.disabled:
        return Refusal.DISABLED, None
    if not password_ok:
        return Refusal.WRONG_PASSWORD, None
    if account.totp_secret is None:
        return None, None
    if not attempt.totp_code:
        return Refusal.TOTP_MISSING, None
    step = passwords.verify_totp(
        account.totp_secret, attempt.totp_code, at=now.timestamp(), last_step=account.totp_last_step
    )
    return (Refusal.TOTP_WRONG, None) if step is None else (None, step)


def needs_enrolment(account: Account) -> bool:
    """Whether the account must set up its one-time code before it gets a session."""
    return account.totp_secret is None and (account.uses_totp or Role(account.role) in TOTP_REQUIRED)


def record_success(
    session: Session, account: Account, client: str, *, now: datetime, step: int | None = None
) -> None:
    """A completed sign-in: the address becomes a known one, and the failure counts start again."""
    pair = _pair(session, account.username, client)
    pair.failures = 0
    pair.locked_until = None
    pair.last_success_at = now
    account.failed_logins = 0
    account.locked_until = None
    account.last_login_at = now
    if step is not None:
        account.totp_last_step = step
    session.flush()


def clear_lockouts(session: Session, account: Account) -> None:
    """Forget the account's failures and every address's lockout (an administrator's unlock)."""
    account.failed_logins = 0
    account.locked_until = None
    session.execute(
        delete(SignInAttempt).where(
            SignInAttempt.username == account.username, SignInAttempt.last_success_at.is_(None)
        )
    )
    for pair in session.scalars(select(SignInAttempt).where(SignInAttempt.username == account.username)):
        pair.failures = 0
        pair.locked_until = None


def _pair(session: Session, username: str, client: str) -> SignInAttempt:
    """The attempts row of this username from this address, created if new and locked for update.

    Two tries of one pair at once must not both insert it (one would fail with a 500), so the row
    is inserted ignoring a conflict and then read under a row lock.
    """
    key = (username, client[:64])
    pair = session.get(SignInAttempt, key, with_for_update=True)
    if pair is not None:
        return pair
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(SignInAttempt)
        .values(username=key[0], client=key[1], failures=0)
        .on_conflict_do_nothing(index_elements=["username", "client"])
    )
    pair = session.get(SignInAttempt, key, with_for_update=True, populate_existing=True)
    assert pair is not None
    return pair


__all__ = [
    "BAD_CREDENTIALS",
    "KNOWN_ADDRESS_DAYS",
    "Attempt",
    "LoginPolicy",
    "Refusal",
    "SignInRefused",
    "authenticate",
    "clear_lockouts",
    "needs_enrolment",
    "normalised",
    "record_success",
]
