"""The one validated configuration tree, read from SAFECITY_* environment variables.

Every field has a default that runs the embedded platform (SQLite, local Parquet lake,
in-process bus) and a description that the README's configuration table repeats.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from safecity.core.geo import BBox


class BusBackend(StrEnum):
    """Which event backbone carries validated batches to the rule workers."""

    MEMORY = "memory"
    NATS = "nats"


class Settings(BaseSettings):
    """Platform settings; environment variable = SAFECITY_ + the field name in upper case."""

    model_config = SettingsConfigDict(env_prefix="SAFECITY_", extra="forbid", frozen=True)

    data_dir: Path = Field(Path("var"), description="Folder for the SQLite file, lake and demo city.")
    database_url: str = Field(
        "", description="SQLAlchemy URL of the registry; empty means sqlite:///<data_dir>/safecity.db."
    )
    lake_dir: Path | None = Field(None, description="Parquet lake root; empty means <data_dir>/lake.")
    rules_file: Path | None = Field(
        None, description="Rules YAML; empty means <data_dir>/rules.yaml, else the packaged defaults."
    )
    bus: BusBackend = Field(BusBackend.MEMORY, description="Event backbone: memory or nats.")
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server when bus=nats.")
    nats_stream: str = Field(
        "SAFECITY",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="JetStream stream name when bus=nats; its subjects are '<name in lower case>.>'.",
    )
    mqtt_url: str = Field(
        "", description="MQTT broker to subscribe to, e.g. mqtt://127.0.0.1:1883; empty = off."
    )
    mqtt_topic_prefix: str = Field("safecity/v1", description="Topic prefix devices publish under.")
    mqtt_linger_ms: int = Field(
        20, ge=0, le=1000, description="How long MQTT messages are collected into one ingest batch."
    )
    mqtt_client_id: str = Field(
        "safecity-ingest", description="MQTT client id; its persistent session keeps unacknowledged messages."
    )
    host: str = Field("127.0.0.1", description="Address the web server binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port the web server listens on.")
    public_url: str = Field("", description="Base URL people reach the console at (for CAP and webhooks).")
    h3_resolution: int = Field(9, ge=0, le=15, description="H3 resolution of the cell kept on each record.")
    city_bbox: str = Field(
        "", description="'south,west,north,east'; records outside are rejected. Empty = from the city."
    )
    max_event_age_s: int = Field(
        7 * 86400, ge=60, description="Oldest accepted event timestamp, seconds ago."
    )
    max_future_skew_s: int = Field(300, ge=0, description="How far ahead of our clock a timestamp may be.")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Largest ingest request body.")
    max_batch_events: int = Field(100_000, ge=1, description="Most events in one ingest batch.")
    dedup_window_s: int = Field(
        86400, ge=60, description="How long event ids are remembered for idempotency."
    )
    rules_flush_ms: int = Field(
        50, ge=1, le=1000, description="Longest wait before a micro-batch is evaluated."
    )
    rules_flush_rows: int = Field(
        50_000, ge=1, description="Micro-batch size that triggers evaluation at once."
    )
    compact_interval_s: int = Field(60, ge=1, description="How often the lake compacts small files.")
    alert_fallback_station: str = Field(
        "command-centre", description="Where alerts go when no police station is answerable for the place."
    )
    cap_sender: str = Field("safecity@localhost", description="CAP <sender> of exported alerts.")
    cap_sender_name: str = Field("safecity", description="CAP <senderName> of exported alerts.")
    webhook_timeout_s: float = Field(5.0, gt=0, description="Timeout of one webhook delivery attempt.")
    secrets_dir: Path | None = Field(
        None,
        description="Folder of the key files below when they are not set; empty means <data_dir>/secrets.",
    )
    token_key_file: Path | None = Field(None, description="HMAC key signing access tokens.")
    pseudonym_key_file: Path | None = Field(
        None, description="Versioned HMAC keys turning identity and phone numbers into pseudonyms."
    )
    audit_key_file: Path | None = Field(None, description="Ed25519 key signing audit chain heads.")
    auto_generate_keys: bool = Field(
        True, description="Create missing key files on start (development); off in production."
    )
    access_token_ttl_s: int = Field(900, ge=30, le=3600, description="Lifetime of an access token.")
    refresh_token_ttl_s: int = Field(
        12 * 3600, ge=300, description="Lifetime of a sign-in session (refresh token)."
    )
    login_max_failures: int = Field(5, ge=1, description="Failed logins before an account is locked.")
    login_lockout_s: int = Field(
        900, ge=1, description="First lockout; it doubles with every further failure."
    )
    rate_limit_login_per_min: int = Field(
        20, ge=1, description="Login attempts per client address per minute."
    )
    rate_limit_public_per_min: int = Field(
        120, ge=1, description="Requests per client address per minute to unauthenticated endpoints."
    )
    max_request_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body outside ingest.")
    behind_tls: bool = Field(False, description="The console is served over HTTPS: secure cookies and HSTS.")
    audit_seal_interval_s: int = Field(300, ge=1, description="How often the audit chain head is signed.")
    retention_file: Path | None = Field(
        None,
        description="Retention policy YAML; empty means <data_dir>/retention.yaml, else the packaged one.",
    )
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool = Field(False, description="Write logs as JSON lines instead of console text.")

    @field_validator("city_bbox")
    @classmethod
    def _check_bbox(cls, value: str) -> str:
        if value:
            BBox.parse(value)
        return value

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
        return self.token_key_file or self.resolved_secrets_dir / "token.key"

    @property
    def resolved_pseudonym_key_file(self) -> Path:
        """The pseudonym key file."""
        return self.pseudonym_key_file or self.resolved_secrets_dir / "pseudonym.keys"

    @property
    def resolved_audit_key_file(self) -> Path:
        """The audit signing key file (its public half sits beside it as .pub)."""
        return self.audit_key_file or self.resolved_secrets_dir / "audit-signing.key"

    @property
    def city_dir(self) -> Path:
        """Where the generated demo city lives."""
        return self.data_dir / "city"

    @property
    def bbox(self) -> BBox | None:
        """The configured city box, if any."""
        return BBox.parse(self.city_bbox) if self.city_bbox else None
