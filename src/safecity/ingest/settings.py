"""Ingest: what devices may send, the memory of accepted ids, the MQTT subscription, the tracker servers."""

from __future__ import annotations

from pydantic import Field, field_validator

from safecity.core.config import Section, SettingsSection
from safecity.core.geo import BBox


class IngestSettings(Section):
    """Ingest settings; SAFECITY_ + the field name in upper case sets each."""

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
    gt06_enabled: bool = Field(False, description="Run the GT06 tracker server (TCP).")
    gt06_port: int = Field(5023, ge=1, le=65535, description="TCP port of the GT06 tracker server.")
    jt808_enabled: bool = Field(False, description="Run the JT/T 808 vehicle terminal server (TCP).")
    jt808_port: int = Field(5015, ge=1, le=65535, description="TCP port of the JT/T 808 server.")
    tracker_host: str = Field(
        "127.0.0.1", description="Address the tracker servers listen on (0.0.0.0 for terminals outside)."
    )
    tracker_idle_timeout_s: int = Field(
        600, ge=10, description="A tracker connection silent this long is closed (the terminal reconnects)."
    )
    tracker_max_buffer_bytes: int = Field(
        64 * 1024, ge=1024, description="Most unframed bytes held per tracker connection before it is closed."
    )
    tracker_batch_max_events: int = Field(
        2000,
        ge=0,
        description="Most events of many tracker connections submitted as one ingest batch; "
        "0 submits each connection's read on its own.",
    )
    tracker_batch_linger_ms: int = Field(
        5, ge=0, le=1000, description="How long a tracker report waits for others to share its ingest batch."
    )
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
    dedup_cold_mb: int = Field(
        512,
        ge=0,
        description="Memory for the ids of days over for an hour (8 bytes each); beyond it the least "
        "recently used day is dropped and reloaded from the lake when a late event needs it.",
    )

    @field_validator("city_bbox")
    @classmethod
    def _check_bbox(cls, value: str) -> str:
        if value:
            BBox.parse(value)
        return value

    @property
    def bbox(self) -> BBox | None:
        """The configured city box, if any."""
        return BBox.parse(self.city_bbox) if self.city_bbox else None


SECTION = SettingsSection("ingest", IngestSettings)

__all__ = ["SECTION", "IngestSettings"]
