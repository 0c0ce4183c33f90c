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
    def city_dir(self) -> Path:
        """Where the generated demo city lives."""
        return self.data_dir / "city"

    @property
    def bbox(self) -> BBox | None:
        """The configured city box, if any."""
        return BBox.parse(self.city_bbox) if self.city_bbox else None
