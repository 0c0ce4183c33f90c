"""Users set up their own one-time code: an enrolment at sign-in, confirmed by a valid code.

An account that signs in with a one-time code but has no secret yet (a new account of a role in
`TOTP_REQUIRED`, one given a second factor, or one whose code an administrator reset) gets no
session for its password. Instead `start` makes a new secret and a short-lived enrolment token
(`<enrolment id>.<random>`, only its SHA-256 stored), shown to the user alone; `complete` takes
the token and a code from the authenticator app, makes the secret the account's, and the caller
opens the session. The token is good for nothing else, is spent by completing, replaced by the
next sign-in and void after `MAX_WRONG_CODES` wrong codes. Nobody else ever sees the secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from safecity.core.record import new_id
from safecity.security import passwords, tokens
from safecity.security.errors import NotAuthenticated
from safecity.security.models import Account, TotpEnrolment

MAX_WRONG_CODES = 5


class EnrolmentRefused(NotAuthenticated):
    """An enrolment token that is unknown, spent or expired, or a code that does not match."""

    def __init__(self, code: str, message: str, *, username: str | None = None, field: str | None = None):
        super().__init__(code, message, field=field)
        self.username = username  # who it was, when the token named a live enrolment


@dataclass(frozen=True, slots=True)
class Enrolment:
    """An enrolment in progress as its user sees it: the token, and the secret to add to an app."""

    token: str
    username: str
    secret: str
    expires_at: datetime

    @property
    def uri(self) -> str:
        """The otpauth:// URI an authenticator app scans."""
        return passwords.totp_uri(self.secret, self.username)

    def expires_in(self, now: datetime) -> int:
        """Seconds left to complete it."""
        return max(0, int((self.expires_at - now).total_seconds()))


def start(session: Session, account: Account, *, now: datetime, ttl_s: int) -> Enrolment:
    """A new secret and token for the account, replacing any unfinished enrolment of it."""
    session.execute(delete(TotpEnrolment).where(TotpEnrolment.account_id == account.id))
    secret = tokens.new_refresh_secret()
    row = TotpEnrolment(
        id=new_id(),
        account_id=account.id,
        token_hash=tokens.digest(secret),
        secret=passwords.new_totp_secret(),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        failures=0,
    )
    session.add(row)
    session.flush()
    return Enrolment(f"{row.id}.{secret}", account.username, row.secret, row.expires_at)


def current(session: Session, token: str, *, now: datetime) -> Enrolment:
    """The live enrolment a token names (to show its secret again), or EnrolmentRefused."""
    row = _live(session, token, now=now)
    return Enrolment(token, row.account.username, row.secret, row.expires_at)


def complete(session: Session, token: str, code: str, *, now: datetime) -> tuple[Account, int]:
    """Confirm the enrolment with a valid code: the secret becomes the account's. Returns the
    account and the code's step (so that the same code cannot then sign in again).

    A wrong code is counted (the caller commits the session whatever the outcome); the last
    allowed one ends the enrolment.
    """
    row = _live(session, token, now=now)
    account = row.account
    step = passwords.verify_totp(row.secret, code, at=now.timestamp(), last_step=None)
    if step is None:
        row.failures += 1
        last = row.failures >= MAX_WRONG_CODES
        if last:
            session.delete(row)
        session.flush()
        raise EnrolmentRefused(
            "enrolment_code_wrong",
            "the code does not match the new key: check that the authenticator app shows the key "
            "above and that the device's clock is right"
            + ("; that was the last try, sign in again to start over" if last else ""),
            username=account.username,
            field="totp",
        )
    account.totp_secret = row.secret
    account.totp_last_step = step
    account.uses_totp = True
    session.delete(row)
    session.flush()
    return account, step


def discard(session: Session, account: Account) -> None:
    """End any unfinished enrolment of the account (its code was reset, or it was disabled)."""
    session.execute(delete(TotpEnrolment).where(TotpEnrolment.account_id == account.id))


def _live(session: Session, token: str, *, now: datetime) -> TotpEnrolment:
    parts = tokens.split_token(token)
    row = session.get(TotpEnrolment, parts[0]) if parts else None
    if row is None or parts is None or not tokens.secret_matches(row.token_hash, parts[1]):
        raise EnrolmentRefused(
            "enrolment_invalid", "this one-time-code set-up is unknown or finished; sign in again"
        )
    username = row.account.username
    if row.expires_at <= now or row.account.disabled or row.account.totp_secret is not None:
        raise EnrolmentRefused(
            "enrolment_invalid",
            "this one-time-code set-up has expired or no longer applies; sign in again",
            username=username,
        )
    return row


__all__ = ["MAX_WRONG_CODES", "Enrolment", "EnrolmentRefused", "complete", "current", "discard", "start"]
