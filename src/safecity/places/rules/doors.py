"""Bursts of swipes at doors: repeated denied attempts (`housing_denied_attempts`), and a card never
registered anywhere trying doors (`housing_unknown_card`).

Both are "at least N such swipes by one key within M minutes", counted in event time over a
window that outlives the batch (a controller's buffered reports arrive late and together).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import polars as pl
from pydantic import Field

from safecity.core.finding import Finding
from safecity.places.rules.common import CARD, HousingRule, SwipeGroup, places_of, swipe_groups
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams

_KEEP = (
    "event_id",
    "corr_id",
    "kind",
    "subject",
    "device",
    "ts",
    "lat",
    "lon",
    "area",
    "code",
    "compound_id",
    "building_id",
    "shop_id",
    "community_id",
    "door_name",
)


class BurstWindow:
    """Rows of the last `minutes` of event time, and which keys reached `count` rows within them."""

    def __init__(self, key: str, count: int, minutes: float) -> None:
        self.key = key
        self.count = count
        self.period = timedelta(minutes=minutes)
        self._rows: pl.DataFrame | None = None

    def add(self, rows: pl.DataFrame) -> dict[str, SwipeGroup]:
        """Take new rows; return, per key reaching the count with a new row, its rows in the window."""
        columns = list(dict.fromkeys([*_KEEP, self.key]))
        rows = rows.select(columns).with_columns(pl.lit(True).alias("_new"))
        window = rows if self._rows is None else pl.concat([self._rows, rows], how="vertical_relaxed")
        # A report delivered twice (a controller's retry) is one attempt.
        window = window.unique("event_id", keep="first")
        # Counted whole, then trimmed: a controller's offline backlog comes as one batch spanning hours,
        # and a burst early in it must not be cut off by the backlog's own newest swipe.
        self._rows = window.filter(pl.col("ts") > pl.col("ts").max() - self.period).with_columns(
            pl.lit(False).alias("_new")
        )
        if self.count == 1:  # every new row reaches the count: no counting to do
            fresh = window.filter(pl.col("_new"))[self.key].unique()  # a report sent twice is not new
            return swipe_groups(window.filter(pl.col(self.key).is_in(fresh.implode())).drop("_new"), self.key)
        # Only keys with enough rows in the whole window can reach the count in a sub-window:
        # the rolling count runs on those few (most batches have none).
        often = window.group_by(self.key).len().filter(pl.col("len") >= self.count)
        wanted = often.join(rows.select(self.key).unique(), on=self.key, how="semi")[self.key]
        if wanted.is_empty():
            return {}
        counted = _rolling_counts(
            window.filter(pl.col(self.key).is_in(wanted.implode())), self.key, self.period
        )
        hit_keys = counted.filter(pl.col("_new") & (pl.col("_n") >= self.count))[self.key].unique()
        if hit_keys.is_empty():
            return {}
        hits = counted.filter(pl.col(self.key).is_in(hit_keys.implode())).drop("_new", "_n")
        return swipe_groups(hits, self.key)


def _rolling_counts(window: pl.DataFrame, key: str, period: timedelta) -> pl.DataFrame:
    """Each row with `_n`: the rows of its key in the `period` ending at it (both ends inside)."""
    ordered = window.sort(key, "ts")
    counts = ordered.rolling(index_column="ts", period=period, group_by=key, closed="right").agg(
        pl.len().alias("_n")
    )
    return ordered.with_columns(counts["_n"])


class DeniedAttemptsParams(RuleParams):
    """Repeated denied swipes at one door (someone trying cards, or a card that no longer opens it)."""

    attempts: int = Field(5, ge=2, le=1000, description="Denied swipes that make a warning.")
    minutes: float = Field(10, gt=0, le=24 * 60, description="Within how many minutes of event time.")
    per: Literal["door", "card_at_door"] = Field(
        "door", description="Count all cards at the door together, or each card at each door."
    )


class DeniedAttemptsRule(HousingRule):
    """N denied swipes at a door within M minutes; later ones extend the open warning."""

    kind = "housing_denied_attempts"
    default_title = "Repeated denied attempts at a door"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: DeniedAttemptsParams = config.typed_params()
        key = "device" if self.params.per == "door" else "_door_card"
        self._window = BurstWindow(key, self.params.attempts, self.params.minutes)

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Count the batch's denied swipes into the window; warn for each door over the count."""
        if batch.is_empty():
            return []
        denied = places_of(facts).swipes(batch).select(*_KEEP, "granted").filter(~pl.col("granted"))
        if denied.is_empty():
            return []
        if self.params.per == "card_at_door":
            denied = denied.with_columns((pl.col("device") + "|" + pl.col("subject")).alias("_door_card"))
        hits = self._window.add(denied)
        findings = []
        for key, rows in hits.items():
            device = str(rows.first("device"))
            findings.append(
                self.finding(
                    subject_kind="device",
                    subject=device,
                    dedup_key=f"denied:{key}",
                    now=now,
                    items=rows.evidence(),
                    facts={
                        "door": device,
                        "door_name": rows.first("door_name"),
                        "compound_id": rows.first("compound_id"),
                        "building_id": rows.first("building_id"),
                        "denied_swipes": rows.height,
                        "distinct_cards": len(rows.values("subject")),
                        "window_minutes": self.params.minutes,
                    },
                    refs=rows.refs(),
                )
            )
        return findings


class UnknownCardParams(RuleParams):
    """A card that no tenancy, visitor pass, landlord or shop ever registered, trying doors."""

    attempts: int = Field(1, ge=1, le=1000, description="Swipes of the card that make a warning.")
    minutes: float = Field(60, gt=0, le=7 * 24 * 60, description="Within how many minutes of event time.")


class UnknownCardRule(HousingRule):
    """Swipes by cards the places registry has never seen; one warning per card, extended."""

    kind = "housing_unknown_card"
    default_title = "Unregistered identity card trying doors"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: UnknownCardParams = config.typed_params()
        self._window = BurstWindow("subject", self.params.attempts, self.params.minutes)

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Pick swipes of unknown cards; warn for each card reaching the count."""
        if batch.is_empty():
            return []
        swipes = places_of(facts).swipes(batch).select(*_KEEP, "known")
        unknown = swipes.filter(~pl.col("known") & pl.col("subject").is_not_null())
        if unknown.is_empty():
            return []
        findings = []
        for card, rows in self._window.add(unknown).items():
            findings.append(
                self.finding(
                    subject_kind=CARD,
                    subject=card,
                    dedup_key=f"unknown:{card}",
                    now=now,
                    items=rows.evidence(),
                    facts={
                        "card": card,
                        "swipes": rows.height,
                        "doors": rows.values("device"),
                        "compounds": rows.values("compound_id"),
                        "registered_anywhere": False,
                    },
                    refs=rows.refs(),
                )
            )
        return findings


DENIED_ATTEMPTS = RuleKind(DeniedAttemptsRule.kind, DeniedAttemptsParams, DeniedAttemptsRule)
UNKNOWN_CARD = RuleKind(UnknownCardRule.kind, UnknownCardParams, UnknownCardRule)
