"""Password hashing (Argon2id) and time-based one-time passwords (RFC 6238) for sign-in."""

from __future__ import annotations

import time

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12

# OWASP's second Argon2id profile (19 MiB, 2 passes): about 20 ms here, cheap for sign-ins,
# costly for anyone holding a stolen hash table.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)

# Verifying an unknown username still costs one hash, so response times do not reveal accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password-but-same-cost")


class WeakPassword(ValueError):
    """A new password does not meet the policy; the message says how."""


def check_policy(password: str, *, username: str = "") -> None:
    """Refuse short passwords and ones that contain the username."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise WeakPassword("a password must not contain the username")


def hash_password(password: str) -> str:
    """The Argon2id hash to store."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether the password matches; always spends one hash's time."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)


def new_totp_secret() -> str:
    """A base32 secret for an authenticator app."""
    return pyotp.random_base32()


def totp_uri(secret: str, username: str, issuer: str = "safecity") -> str:
    """The otpauth:// URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def totp_now(secret: str, at: float | None = None) -> str:
    """The current code (for tests, the demo and the CLI)."""
    return pyotp.TOTP(secret).at(at if at is not None else time.time())


def verify_totp(secret: str, code: str, *, at: float, last_step: int | None) -> int | None:
    """The 30 s step the code belongs to (one step of clock drift allowed), or None.

    A step at or before `last_step` is refused: a code can be used once.
    """
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step_now = int(at // 30)
    for step in (step_now, step_now - 1, step_now + 1):
        if (last_step is None or step > last_step) and totp.at(step * 30) == code:
            return step
    return None
