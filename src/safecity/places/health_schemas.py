"""API response models of device health: the three rates per place, and the doors dragging them down."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

TARGET = 0.9  # the seed's figure: online, usage and swipe rates all kept above 90 %


class Level(StrEnum):
    """What the figures are grouped by."""

    COMPOUND = "compound"
    COMMUNITY = "community"
    STATION = "station"
    DISTRICT = "district"


class HealthRowOut(BaseModel):
    """The door controllers of one place and how well they work."""

    key: str = Field(description="The compound or area id (`-` for doors of no compound/area).")
    name: str = Field(description="Its name.")
    doors: int = Field(description="Active door controllers registered there.")
    online: int = Field(description="Of them, heard from (any record) within the online window.")
    used: int = Field(description="Of them, with at least one swipe (granted or denied) that day.")
    openings: int = Field(
        description="Door openings that day: granted swipes plus opened-without-swipe and forced."
    )
    by_swipe: int = Field(description="Openings by a granted swipe.")
    online_rate: float | None = Field(description="online / doors (null: no doors).")
    usage_rate: float | None = Field(description="used / doors (null: no doors).")
    swipe_rate: float | None = Field(description="by_swipe / openings (null: no openings that day).")


class DraggingDoorOut(BaseModel):
    """A door controller pulling one of the figures down, and why."""

    device: str = Field(description="The door controller's device id.")
    key: str = Field(description="The compound or area of the row it counts in.")
    name: str = Field(description="That row's name.")
    reason: str = Field(description="`offline`, `unused`, `unswiped` or `out_of_step` (its whitelist).")
    openings: int = Field(description="Its openings that day.")
    by_swipe: int = Field(description="Of them, by a granted swipe.")
    last_seen: datetime | None = Field(
        description="Its newest record's arrival in the last two hours (offline ones)."
    )


class HealthOut(BaseModel):
    """Online, usage and swipe rates per place, with the doors dragging each down."""

    level: Level = Field(description="What the rows are grouped by.")
    day: date = Field(description="The local day usage and swipe rates are of.")
    at: datetime = Field(description="When the online rate was measured.")
    online_minutes: float = Field(description="A door heard from within this many minutes counts as online.")
    target: float = Field(description="The rate every figure should stay above (0.9).")
    total: HealthRowOut = Field(description="All doors in the answer together.")
    rows: list[HealthRowOut] = Field(description="One row per place, worst lowest rate first.")
    dragging: list[DraggingDoorOut] = Field(
        description="Doors pulling a figure down (offline, unused, openings without a swipe); at most 200."
    )
    dragging_total: int = Field(description="How many doors drag some figure down, listed or not.")


__all__ = ["TARGET", "DraggingDoorOut", "HealthOut", "HealthRowOut", "Level"]
