"""`wearer_sos` and `wearer_fall`: a worn locator's SOS button, or its fall sensor, raised an alarm.

One warning per wearer while it is open: further presses of the same wearer join its evidence
(the alert service merges findings of one `dedup_key`). The evidence is the alarms, each at the
fix it came with, and the wearer's fixes of the same batch: where they are now.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from pydantic import Field

from safecity.core.finding import Finding
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.tracking.rules.common import ALARM, FIX, WearerRule, by_row, evidence, matched


class SosParams(RuleParams):
    """A wearer pressed the SOS button of their locator."""

    codes: list[str] = Field(
        default_factory=lambda: ["sos"], min_length=1, description="Alarm codes that mean an SOS."
    )


class FallParams(RuleParams):
    """A wearer's locator reported a fall (the variants that have a fall sensor)."""

    codes: list[str] = Field(
        default_factory=lambda: ["fall"], min_length=1, description="Alarm codes that mean a fall."
    )


class WearerAlarmRule(WearerRule):
    """Alarms of the configured codes from worn trackers, one warning per wearer."""

    kind = "wearer_sos"
    default_title = "Elderly wearer pressed SOS"
    key = "sos"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: SosParams | FallParams = config.typed_params()

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """A warning for each wearer with an alarm of the codes in the batch."""
        rows, view = matched(batch, facts)
        if rows.is_empty():
            return []
        alarms = rows.filter((pl.col("kind") == ALARM) & pl.col("code").is_in(self.params.codes))
        if alarms.is_empty():
            return []
        fixes = by_row(rows.filter(pl.col("kind") == FIX))
        found = []
        for row, hits in by_row(alarms).items():
            items = evidence(pl.concat([hits, fixes[row]]) if row in fixes else hits)
            found.append(
                self.finding(
                    view,
                    row,
                    dedup_key=f"{self.key}:{view.wearer_ids[row]}",
                    now=now,
                    items=items,
                    facts={"alarms": hits.height, "codes": sorted(set(hits["code"].to_list()))},
                )
            )
        return found


class WearerFallRule(WearerAlarmRule):
    """A fall reported by a worn tracker."""

    kind = "wearer_fall"
    default_title = "Elderly wearer's locator reported a fall"
    key = "fall"


SOS = RuleKind(WearerAlarmRule.kind, SosParams, WearerAlarmRule)
FALL = RuleKind(WearerFallRule.kind, FallParams, WearerFallRule)

__all__ = ["FALL", "SOS", "FallParams", "SosParams", "WearerAlarmRule", "WearerFallRule"]
