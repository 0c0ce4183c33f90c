"""`wearer_low_battery`: a wearer's locator is running out; one warning per episode.

An episode begins with a `low_battery` alarm, or a heartbeat or fix whose battery level
(`attrs.battery_pct`, as the GT06 and JT/T 808 servers report it) is under `below_percent`; it
ends when a level of `recover_percent` or more is reported (the locator was charged). Levels in
between change nothing, so a battery hovering at the threshold raises one warning, not one per
heartbeat. Per batch, each wearer's readings are reduced to their changes (low, charged) with
Polars; only those few rows are walked in Python.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from pydantic import Field, model_validator

from safecity.core.finding import Finding
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.tracking.rules.common import ALARM, FIX, HEARTBEAT, WearerRule, epoch_ms, evidence, matched
from safecity.tracking.wearer_facts import ROW

LOW, CHARGED = "low", "charged"


class LowBatteryParams(RuleParams):
    """A wearer's locator battery ran low (one warning until it is charged again)."""

    below_percent: float = Field(20, gt=0, le=100, description="A level under this is low.")
    recover_percent: float = Field(40, gt=0, le=100, description="A level of this or more ends the episode.")
    codes: list[str] = Field(
        default_factory=lambda: ["low_battery"], description="Alarm codes that mean the battery is low."
    )

    @model_validator(mode="after")
    def _ordered(self) -> LowBatteryParams:
        if self.recover_percent < self.below_percent:
            raise ValueError("recover_percent must be at least below_percent")
        return self


class LowBatteryRule(WearerRule):
    """Per wearer: in an episode or not, carried across batches."""

    kind = "wearer_low_battery"
    default_title = "Elderly wearer's locator battery is low"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: LowBatteryParams = config.typed_params()
        self._episode: dict[int, datetime] = {}  # wearer id -> when their episode began

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Walk each wearer's low/charged changes in time order; warn when an episode begins."""
        rows, view = matched(batch, facts)
        if rows.is_empty():
            return []
        p = self.params
        level = pl.col("attrs").str.json_path_match("$.battery_pct").cast(pl.Float64, strict=False)
        state = (
            pl.when((pl.col("kind") == ALARM) & pl.col("code").is_in(p.codes))
            .then(pl.lit(LOW))
            .when(pl.col("kind").is_in([HEARTBEAT, FIX]) & (level < p.below_percent))
            .then(pl.lit(LOW))
            .when(pl.col("kind").is_in([HEARTBEAT, FIX]) & (level >= p.recover_percent))
            .then(pl.lit(CHARGED))
        )
        readings = (
            rows.with_columns(state=state, battery_pct=level)
            .filter(pl.col("state").is_not_null())
            .sort(ROW, "ts")
        )
        if readings.is_empty():
            return []
        changes = readings.filter(
            (pl.col("state") != pl.col("state").shift(1).over(ROW)).fill_null(True)  # noqa: FBT003
        )
        found = []
        for i, (row, what, ts, pct) in enumerate(
            changes.select(ROW, "state", "ts", "battery_pct").iter_rows()
        ):
            wearer_id = view.wearer_ids[row]
            if what == CHARGED:
                self._episode.pop(wearer_id, None)
                continue
            if wearer_id in self._episode:
                continue
            self._episode[wearer_id] = ts
            found.append(
                self.finding(
                    view,
                    row,
                    dedup_key=f"low_battery:{wearer_id}:{epoch_ms(ts)}",
                    now=now,
                    items=evidence(changes.slice(i, 1)),
                    facts={"battery_pct": pct},
                )
            )
        return found


LOW_BATTERY = RuleKind(LowBatteryRule.kind, LowBatteryParams, LowBatteryRule)

__all__ = ["LOW_BATTERY", "LowBatteryParams", "LowBatteryRule"]
