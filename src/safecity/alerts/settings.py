"""Alerts: where unroutable alerts go, how CAP exports name their sender, webhook timeouts."""

from __future__ import annotations

from pydantic import Field, field_validator

from safecity.alerts.target import TargetPolicy, parse_networks
from safecity.core.config import Section, SettingsSection


class AlertSettings(Section):
    """Alert settings; SAFECITY_ + the field name in upper case sets each."""

    alert_fallback_station: str = Field(
        "command-centre", description="Where alerts go when no police station is answerable for the place."
    )
    cap_sender: str = Field("safecity@localhost", description="CAP <sender> of exported alerts.")
    cap_sender_name: str = Field("safecity", description="CAP <senderName> of exported alerts.")
    webhook_timeout_s: float = Field(5.0, gt=0, description="Timeout of one webhook delivery attempt.")
    webhook_allowed_networks: str = Field(
        "",
        description="Private networks webhooks may point into, as comma-separated CIDRs "
        "(10.0.0.0/8,127.0.0.1/32); by default only public addresses receive alerts.",
    )

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # a bad entry is refused at start, naming it
        return value

    @property
    def webhook_targets(self) -> TargetPolicy:
        """Where webhooks may point."""
        return TargetPolicy(parse_networks(self.webhook_allowed_networks))


SECTION = SettingsSection("alerts", AlertSettings)

__all__ = ["SECTION", "AlertSettings"]
