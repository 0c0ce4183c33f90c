"""One position as a simulated terminal reports it, whatever its protocol."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Reading:
    """One position as a terminal reports it (UTC time; speed km/h; course degrees from north)."""

    ts: datetime
    lat: float
    lon: float
    speed_kmh: float = 0.0
    course: float = 0.0
    satellites: int = 9
    altitude_m: float = 0.0
    valid: bool = True


__all__ = ["Reading"]
