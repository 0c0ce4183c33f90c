"""Alerts: where unroutable alerts go, how CAP exports name their sender, webhook timeouts."""

from __future__ import annotations

from pydantic import Field

from safecity.core.config import Section, SettingsSection


class AlertSettings(Section):
    """Alert settings; SAFECITY_ + the field name in upper case sets each."""

    alert_fallback_station: str = Field(
        "command-centre", description="Where alerts go when no police station is answerable for the place."
    )
    cap_sender: str = Field("safecity@localhost", description="CAP <sender> of exported alerts.")
    cap_sender_name: str = Field("safecity", description="CAP <senderName> of exported alerts.")
    webhook_timeout_s: float = Field(5.0, gt=0, description="Timeout of one webhook delivery attempt.")


SECTION = SettingsSection("alerts", AlertSettings)

__all__ = ["SECTION", "AlertSettings"]
