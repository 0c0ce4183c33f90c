"""Settings of shops and device health: the city's local time, the schedule's pace, what counts as online."""

from __future__ import annotations

from zoneinfo import ZoneInfo, available_timezones

from pydantic import Field, field_validator

from safecity.core.config import Section, SettingsSection

CITY_TIMEZONE = "Asia/Shanghai"  # China Standard Time, no daylight saving (the seeds' cities)


class ShopSettings(Section):
    """Shops and device health; SAFECITY_ + the field name in upper case sets each."""

    places_timezone: str = Field(
        CITY_TIMEZONE,
        description="IANA time zone of business hours, armed schedules and a health report's day.",
    )
    shop_schedule_interval_s: float = Field(
        30, gt=0, le=3600, description="How often shops are armed and disarmed by their business hours."
    )
    device_online_minutes: float = Field(
        15, gt=0, le=24 * 60, description="A device heard from within this many minutes counts as online."
    )

    @field_validator("places_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        if name not in available_timezones():
            raise ValueError(f"{name!r} is not an IANA time zone (such as Asia/Shanghai)")
        return name

    @property
    def zone(self) -> ZoneInfo:
        """The configured zone."""
        return ZoneInfo(self.places_timezone)


SECTION = SettingsSection("shops", ShopSettings)

__all__ = ["CITY_TIMEZONE", "SECTION", "ShopSettings"]
