"""`wearer_left_safe_zone`: a wearer's fixes left every safe zone in force at that time of day.

The geometry and the edge hysteresis are the kernels' (tracking.geofence `SafeZoneWatch`): a
wearer goes out on a fix more than `exit_margin_m` outside, or on the `exit_after_fixes`-th
outside fix in a row, and comes back only on a fix more than `enter_margin_m` inside; a track
jittering on the edge changes nothing. So one departure raises one warning, and a return then a
second departure raises a second one (each exit its own `dedup_key`). The in/out state of each
wearer is carried across batches, and across reloads of the wearers' facts for every wearer whose
zones did not change (a wearer given new zones starts afresh, inside). Fixes the terminal marks
invalid (no satellite lock: the position is an old one) are left out unless told otherwise.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
from pydantic import Field

from safecity.core.finding import Evidence, Finding
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.tracking.geofence import SafeZoneWatch
from safecity.tracking.hysteresis import Ints
from safecity.tracking.rules.common import FIX, MAX_EVIDENCE, WearerRule, matched, rows_of_frame
from safecity.tracking.wearer_facts import ROW, WearerView

EXACT_WITHIN_M = 100.0  # the kernels' exact band; the margins must stay inside it


class LeftSafeZoneParams(RuleParams):
    """A wearer left their safe zones (with hysteresis at the edge)."""

    exit_margin_m: float = Field(
        50, ge=0, lt=EXACT_WITHIN_M, description="A fix this far outside is a departure."
    )
    enter_margin_m: float = Field(
        20, ge=0, lt=EXACT_WITHIN_M, description="A fix this far inside is a return."
    )
    exit_after_fixes: int | None = Field(
        3, ge=1, le=100, description="Outside fixes in a row that make a departure even within the margin."
    )
    valid_fixes_only: bool = Field(
        True, description="Leave out fixes the terminal marks invalid (no GNSS lock)."
    )


class LeftSafeZoneRule(WearerRule):
    """Fixes of worn trackers through each wearer's SafeZoneWatch; a warning per departure."""

    kind = "wearer_left_safe_zone"
    default_title = "Elderly wearer left their safe zone"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: LeftSafeZoneParams = config.typed_params()
        self._view: WearerView | None = None
        self._watch: SafeZoneWatch | None = None

    def _follow(self, view: WearerView) -> SafeZoneWatch:
        """The watch of this view's wearers, carrying the edge state of those whose zones are unchanged."""
        if self._watch is not None and self._view is not None and view.version == self._view.version:
            return self._watch
        p = self.params
        watch = SafeZoneWatch(
            view.safe_zones(exact_within_m=EXACT_WITHIN_M),
            exit_margin_m=p.exit_margin_m,
            enter_margin_m=p.enter_margin_m,
            exit_after_fixes=p.exit_after_fixes,
        )
        old, old_watch = self._view, self._watch
        if old is not None and old_watch is not None:
            for row, wearer_id in enumerate(view.wearer_ids):
                was = old.row_of.get(wearer_id)
                if was is not None and old.zones[was] == view.zones[row]:
                    watch.hysteresis.state[row] = old_watch.hysteresis.state[was]
                    watch.hysteresis.run[row] = old_watch.hysteresis.run[was]
        self._view, self._watch = view, watch
        return watch

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Step the wearers' watches over the batch's fixes; warn of each departure."""
        rows, view = matched(batch, facts)
        watch = self._follow(view)
        fixes = rows.filter(pl.col("kind") == FIX)
        if self.params.valid_fixes_only and fixes.height:
            valid = pl.col("attrs").str.json_path_match("$.valid").fill_null("true") != "false"
            fixes = fixes.filter(valid)
        if fixes.is_empty():
            return []
        subject = fixes[ROW].to_numpy().astype(np.int64)
        ts_ms = fixes["ts"].dt.epoch("ms").to_numpy().astype(np.int64)
        lat, lon = fixes["lat"].to_numpy(), fixes["lon"].to_numpy()
        moves = watch.step(subject, ts_ms, lat, lon)
        exits = moves.fix[moves.went_out]
        if not len(exits):
            return []
        distance = watch.zones.distances(subject[exits], ts_ms[exits], lat[exits], lon[exits]).distance_m
        tracks = tracks_up_to(subject, ts_ms, exits)
        table = rows_of_frame(fixes, np.concatenate(tracks))
        found, used = [], 0
        for k, fix in enumerate(exits.tolist()):
            row, at, n = int(subject[fix]), int(ts_ms[fix]), len(tracks[k])
            items = tuple(Evidence(*t) for t in table[used : used + n])
            used += n
            found.append(
                self.finding(
                    view,
                    row,
                    dedup_key=f"left_zone:{view.wearer_ids[row]}:{at}",
                    now=now,
                    items=items,
                    facts={
                        "zones": list(view.zone_names[row]),
                        "distance_m": round(float(distance[k]), 1),
                        "left_at": items[-1].ts.isoformat(),
                    },
                )
            )
        return found


def tracks_up_to(subject: Ints, ts_ms: Ints, fixes: Ints, limit: int = MAX_EVIDENCE) -> list[Ints]:
    """For each given fix, the batch rows of its wearer up to it, oldest first (at most `limit`).

    One sort of the batch, then a slice per fix: a filter of the whole batch per departure cost
    0.3 ms each, seconds for a batch with thousands of them.
    """
    order = np.lexsort((ts_ms, subject))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    first = np.searchsorted(subject[order], subject[fixes], side="left")
    end = rank[fixes] + 1
    return [
        order[max(int(f), int(e) - limit) : int(e)] for f, e in zip(first.tolist(), end.tolist(), strict=True)
    ]


LEFT_SAFE_ZONE = RuleKind(LeftSafeZoneRule.kind, LeftSafeZoneParams, LeftSafeZoneRule)

__all__ = ["LEFT_SAFE_ZONE", "LeftSafeZoneParams", "LeftSafeZoneRule"]
