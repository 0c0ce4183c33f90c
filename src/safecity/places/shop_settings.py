"""Settings of shops and device health: the schedule's pace, and what counts as online.

Local time (business hours, a health report's day) is the city's, as places.schedule keeps it.
"""

from __future__ import annotations

from pydantic import Field

from safecity.core.config import Section, SettingsSection


class ShopSettings(Section):
    """Shops and device health; SAFECITY_ + the field name in upper case sets each."""

    shop_schedule_interval_s: float = Field(
        30, gt=0, le=3600, description="How often shops are armed and disarmed by their business hours."
    )
    device_online_minutes: float = Field(
        15, gt=0, le=24 * 60, description="A device heard from within this many minutes counts as online."
    )


SECTION = SettingsSection("shops", ShopSettings)

__all__ = ["SECTION", "ShopSettings"]
