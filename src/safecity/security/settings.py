"""Security: key files, token lifetimes, sign-in lockout, audit seals and the retention policy."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from safecity.core.config import Section, SettingsSection


class SecuritySettings(Section):
    """Security settings; SAFECITY_ + the field name in upper case sets each."""

    token_key_file: Path | None = Field(None, description="HMAC key signing access tokens.")
    pseudonym_key_file: Path | None = Field(
        None, description="Versioned HMAC keys turning identity and phone numbers into pseudonyms."
    )
    audit_key_file: Path | None = Field(None, description="Ed25519 key signing audit chain heads.")
    access_token_ttl_s: int = Field(900, ge=30, le=3600, description="Lifetime of an access token.")
    refresh_token_ttl_s: int = Field(
        12 * 3600, ge=300, description="Lifetime of a sign-in session (refresh token)."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failed sign-ins from one address before it is locked out of that account."
    )
    login_lockout_s: int = Field(
        900, ge=1, description="First lockout of an address; it doubles with every further failure."
    )
    login_account_max_failures: int = Field(
        20,
        ge=1,
        description="Failed sign-ins against one account, from any address, before it is slowed down "
        "for addresses it has never signed in from.",
    )
    login_account_delay_s: int = Field(
        30,
        ge=1,
        description="Wait between tries of a slowed-down account from a new address; it doubles with "
        "every further failure, up to login_lockout_s.",
    )
    totp_enrolment_ttl_s: int = Field(
        600,
        ge=60,
        le=3600,
        description="How long a user has to confirm a new one-time code after signing in with the password.",
    )
    audit_seal_interval_s: int = Field(300, ge=1, description="How often the audit chain head is signed.")

    @property
    def audit_max_unsealed_s(self) -> float:
        """How old a record may be and still not be sealed: two sealing intervals (one may be under way)."""
        return 2.0 * self.audit_seal_interval_s

    retention_file: Path | None = Field(
        None,
        description="Retention policy YAML; empty means <data_dir>/retention.yaml, else the packaged one.",
    )


SECTION = SettingsSection("security", SecuritySettings)

__all__ = ["SECTION", "SecuritySettings"]
