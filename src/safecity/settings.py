"""The one validated configuration tree, read from SAFECITY_* environment variables.

The core fields below are the platform's own (where data lives, the bus, the web server, keys
folder, logs). Each capability adds its own section (`core.config.Section`, registered as a
`SettingsSection` extension in its `capability.py`): ingest limits and MQTT, rules, alerts,
security. Every field, core or section, is set by SAFECITY_ + its name in upper case and has a
default that runs the embedded platform (SQLite, local Parquet lake, in-process bus) and a
description that the README's configuration table repeats. Code reads a section by its type:
`settings.section(IngestSettings)`; a new capability's settings never edit this file.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, PrivateAttr
from pydantic_settings import BaseSettings, SettingsConfigDict

from safecity.core.capabilities import extensions
from safecity.core.config import ENV_PREFIX, Section, SettingsSection
from safecity.security.settings import SecuritySettings

S = TypeVar("S", bound=Section)


class BusBackend(StrEnum):
    """Which event backbone carries validated batches to the rule workers."""

    MEMORY = "memory"
    NATS = "nats"


class SettingsError(ValueError):
    """Settings given that no core field or installed section has (a typo, or a capability missing)."""


@cache
def sections() -> tuple[SettingsSection, ...]:
    """The installed capabilities' sections; two fields of one name anywhere is a programming error."""
    found = tuple(extensions(SettingsSection))
    seen: dict[str, str] = dict.fromkeys(Settings.model_fields, "core")
    for section in found:
        for name in section.model.model_fields:
            if name in seen:
                raise SettingsError(
                    f"setting {ENV_PREFIX}{name.upper()} is declared twice: "
                    f"by {seen[name]} and {section.name}"
                )
            seen[name] = section.name
    return found


class Settings(BaseSettings):
    """Platform settings; environment variable = SAFECITY_ + the field name in upper case.

    Keyword arguments may name any field of the core or of an installed section (tests and
    embedding code pass them flat, exactly as the variables are named).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(Path("var"), description="Folder for the SQLite file, lake and demo city.")
    database_url: str = Field(
        "", description="SQLAlchemy URL of the registry; empty means sqlite:///<data_dir>/safecity.db."
    )
    lake_dir: Path | None = Field(None, description="Parquet lake root; empty means <data_dir>/lake.")
    bus: BusBackend = Field(BusBackend.MEMORY, description="Event backbone: memory or nats.")
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server when bus=nats.")
    nats_stream: str = Field(
        "SAFECITY",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="JetStream stream name when bus=nats; its subjects are '<name in lower case>.>'.",
    )
    host: str = Field("127.0.0.1", description="Address the web server binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port the web server listens on.")
    public_url: str = Field("", description="Base URL people reach the console at (for CAP and webhooks).")
    compact_interval_s: int = Field(60, ge=1, description="How often the lake compacts small files.")
    secrets_dir: Path | None = Field(
        None,
        description="Folder of the key files below when they are not set; empty means <data_dir>/secrets.",
    )
    auto_generate_keys: bool = Field(
        True, description="Create missing key files on start (development); off in production."
    )
    rate_limit_login_per_min: int = Field(
        20, ge=1, description="Login attempts per client address per minute."
    )
    rate_limit_public_per_min: int = Field(
        120, ge=1, description="Requests per client address per minute to unauthenticated endpoints."
    )
    rate_limit_refused_per_min: int = Field(
        120,
        ge=1,
        description="Refused requests (401, 403) per client address per minute before it gets 429 instead.",
    )
    max_request_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body outside ingest.")
    behind_tls: bool = Field(False, description="The console is served over HTTPS: secure cookies and HSTS.")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool = Field(False, description="Write logs as JSON lines instead of console text.")
    _sections: dict[type[Section], Section] = PrivateAttr(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        given = dict(values)
        own = {k: given.pop(k) for k in list(given) if k in type(self).model_fields or k.startswith("_")}
        built: dict[type[Section], Section] = {}
        for section in sections():
            mine = {k: given.pop(k) for k in list(given) if k in section.model.model_fields}
            built[section.model] = section.model(**mine)
        if given:
            raise SettingsError(f"unknown settings: {', '.join(sorted(given))}")
        super().__init__(**own)
        self._sections = built

    def section(self, model: type[S]) -> S:
        """One capability's settings, by its section type."""
        found = self._sections.get(model)
        if found is None:
            raise SettingsError(f"no installed capability declares the settings section {model.__name__}")
        assert isinstance(found, model)
        return found

    @classmethod
    def all_fields(cls) -> dict[str, Any]:
        """Every setting (core and installed sections) by field name, with its pydantic field info."""
        fields: dict[str, Any] = dict(cls.model_fields)
        for section in sections():
            fields.update(section.model.model_fields)
        return fields

    @property
    def resolved_database_url(self) -> str:
        """The registry URL, defaulting to a SQLite file under the data folder."""
        return self.database_url or f"sqlite:///{self.data_dir / 'safecity.db'}"

    @property
    def resolved_lake_dir(self) -> Path:
        """The lake root."""
        return self.lake_dir or self.data_dir / "lake"

    @property
    def resolved_secrets_dir(self) -> Path:
        """Where key files live unless each is set on its own."""
        return self.secrets_dir or self.data_dir / "secrets"

    @property
    def resolved_token_key_file(self) -> Path:
        """The access-token signing key file."""
        return self.section(SecuritySettings).token_key_file or self.resolved_secrets_dir / "token.key"

    @property
    def resolved_pseudonym_key_file(self) -> Path:
        """The pseudonym key file."""
        chosen = self.section(SecuritySettings).pseudonym_key_file
        return chosen or self.resolved_secrets_dir / "pseudonym.keys"

    @property
    def resolved_audit_key_file(self) -> Path:
        """The audit signing key file (its public half sits beside it as .pub)."""
        chosen = self.section(SecuritySettings).audit_key_file
        return chosen or self.resolved_secrets_dir / "audit-signing.key"

    @property
    def resolved_seal_journal(self) -> Path:
        """The audit seal journal: every seal, kept beside the signing key, outside the database."""
        return self.resolved_audit_key_file.with_name("audit-seals.jsonl")

    @property
    def key_files(self) -> dict[str, Path]:
        """Each key file by the setting that names it (SAFECITY_SECRETS_DIR when none is set)."""
        return {
            "SAFECITY_TOKEN_KEY_FILE": self.resolved_token_key_file,
            "SAFECITY_PSEUDONYM_KEY_FILE": self.resolved_pseudonym_key_file,
            "SAFECITY_AUDIT_KEY_FILE": self.resolved_audit_key_file,
        }

    @property
    def city_dir(self) -> Path:
        """Where the generated demo city lives."""
        return self.data_dir / "city"


__all__ = ["BusBackend", "Settings", "SettingsError", "sections"]
