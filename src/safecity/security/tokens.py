"""Short-lived signed access tokens and rotating refresh tokens.

An access token is a JWT (HS256, key from a file outside the database) naming the account, its
role and its sign-in session; it lives minutes. Each request also checks that the session is not
revoked, so signing out, disabling an account or detecting a replayed refresh token take effect
at once. A refresh token is `<session id>.<random secret>`; only its SHA-256 is stored, and every
use replaces it, so a stolen refresh token used twice revokes the whole session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import jwt

from safecity.security.errors import NotAuthenticated

ISSUER = "safecity"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a valid access token says."""

    account_id: int
    session_id: str
    role: str
    expires_at: int


class TokenService:
    """Issues and checks access tokens with one key and lifetime."""

    def __init__(self, key: bytes, *, ttl_s: int) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, *, account_id: int, session_id: str, role: str, now: datetime) -> str:
        """A new access token valid for ttl_s from now."""
        iat = int(now.timestamp())
        claims = {
            "iss": ISSUER,
            "typ": "access",
            "sub": str(account_id),
            "sid": session_id,
            "role": role,
            "iat": iat,
            "exp": iat + self.ttl_s,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def decode(self, token: str, *, now: datetime) -> AccessClaims:
        """Check signature, issuer, type and expiry (against our clock); raise NotAuthenticated."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=ISSUER,
                # Expiry is checked against the platform's clock below, not PyJWT's.
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub", "sid", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise NotAuthenticated("token_invalid", f"the access token is not valid: {exc}") from exc
        if claims.get("typ") != "access":
            raise NotAuthenticated("token_invalid", "the token is not an access token")
        exp = int(claims["exp"])
        if exp <= int(now.timestamp()):
            raise NotAuthenticated(
                "token_expired", "the access token has expired; refresh it or sign in again"
            )
        try:
            return AccessClaims(int(claims["sub"]), str(claims["sid"]), str(claims.get("role", "")), exp)
        except (TypeError, ValueError) as exc:
            raise NotAuthenticated("token_invalid", "the access token's claims are malformed") from exc


def new_refresh_secret() -> str:
    """A random refresh secret (the part after the session id)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a refresh secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """`<row id>.<secret>` (a refresh or enrolment token) -> its parts, or None if malformed."""
    row_id, dot, secret = token.partition(".")
    if not dot or not row_id or not secret or len(token) > 200:
        return None
    return row_id, secret


def split_refresh(token: str) -> tuple[str, str]:
    """`<session id>.<secret>` -> parts; NotAuthenticated if malformed."""
    parts = split_token(token)
    if parts is None:
        raise NotAuthenticated("refresh_invalid", "the refresh token is malformed")
    return parts


def secret_matches(stored_digest: str, secret: str) -> bool:
    """Constant-time comparison of a presented refresh secret with the stored digest."""
    return hmac.compare_digest(stored_digest, digest(secret))
