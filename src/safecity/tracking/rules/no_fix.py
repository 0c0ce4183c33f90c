"""`wearer_no_fix`: no position from a wearer's trackers for N hours.

A locator that stops reporting has a flat battery, was taken off, or is somewhere without
signal: the guardian should look. Batches only remember each wearer's latest fix; `tick` (at
most every `check_every_minutes`, like the places rules' dormant tenants) reports each watched
wearer silent too long, once per silence. Silence is counted from the latest fix, or from the
wearer's enrolment or the rule's start, whichever is later, so a restart does not warn of every
wearer at once. A fix older than the one remembered (a backlog) never moves a wearer back in time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from pydantic import Field

from safecity.core.finding import Evidence, Finding
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.rules.base import EVIDENCE_COLUMNS
from safecity.tracking.rules.common import FIX, WearerRule, matched, wearers_of
from safecity.tracking.wearer_facts import ROW, WearerView

WEARER_ID = "wearer_id"


class NoFixParams(RuleParams):
    """No fix from a wearer's trackers for too long."""

    hours: float = Field(6, gt=0, le=14 * 24, description="Hours without a fix that raise a warning.")
    check_every_minutes: float = Field(10, gt=0, le=24 * 60, description="How often wearers are checked.")


class NoFixRule(WearerRule):
    """Remembers each wearer's latest fix (by wearer id); `tick` warns of those silent too long."""

    kind = "wearer_no_fix"
    default_title = "No position from an elderly wearer's locator"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: NoFixParams = config.typed_params()
        self._silence = timedelta(hours=self.params.hours)
        self._latest: dict[int, Evidence] = {}  # wearer id -> their latest fix, as of the last fold
        # Each batch's latest fix per wearer, folded into `_latest` only when `tick` looks: Evidence
        # objects for every wearer of every batch cost 30 ms per 50,000 fixes of 5,000 wearers.
        self._pending: list[pl.DataFrame] = []
        self._reported: dict[int, datetime] = {}  # wearer id -> the silence start when reported
        self._started: datetime | None = None
        self._checked: datetime | None = None

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Remember each wearer's latest fix of the batch."""
        self._started = self._started or now
        rows, view = matched(batch, facts)
        fixes = rows.filter(pl.col("kind") == FIX)
        if fixes.is_empty():
            return []
        ids = pl.Series(WEARER_ID, view.wearer_ids, dtype=pl.Int64)
        latest = fixes.sort("ts").unique(ROW, keep="last", maintain_order=False)
        self._pending.append(latest.select(ids.gather(latest[ROW]), *EVIDENCE_COLUMNS))
        if len(self._pending) >= 64:  # keep memory flat between ticks
            self._pending = [_newest(self._pending)]
        return []

    def _fold(self) -> None:
        """Move the pending latest fixes into `_latest`; an older one never replaces a newer."""
        if not self._pending:
            return
        newest = _newest(self._pending)
        self._pending = []
        for wearer_id, *values in newest.iter_rows():
            item = Evidence(*values)
            known = self._latest.get(wearer_id)
            if known is None or item.ts > known.ts:
                self._latest[wearer_id] = item

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Warn of each watched wearer with no fix for longer than the limit, once per silence."""
        self._started = self._started or now
        if self._checked is not None and now - self._checked < timedelta(
            minutes=self.params.check_every_minutes
        ):
            return []
        self._checked = now
        self._fold()
        view = wearers_of(facts).view()
        found = []
        for row, wearer_id in enumerate(view.wearer_ids):
            last = self._latest.get(wearer_id)
            since = max(t for t in (self._started, view.enrolled_at[row], last.ts if last else None) if t)
            if now - since < self._silence or self._reported.get(wearer_id) == since:
                continue
            self._reported[wearer_id] = since
            found.append(self._warning(view, row, last, since, now))
        return found

    def _warning(
        self, view: WearerView, row: int, last: Evidence | None, since: datetime, now: datetime
    ) -> Finding:
        """The warning for one silent wearer: their latest fix, or a note of the silence's start."""
        wearer_id = view.wearer_ids[row]
        item = last or Evidence(
            event_id=f"no-fix-{wearer_id}-{int(since.timestamp())}",
            corr_id=f"wearer-{wearer_id}",
            kind="report",
            subject=str(wearer_id),
            device="registration",
            ts=since,
            lat=None,
            lon=None,
            area=view.areas[row],
            code="no_fix",
        )
        silent_h = round((now - since).total_seconds() / 3600, 1)
        return self.finding(
            view,
            row,
            dedup_key=f"no_fix:{wearer_id}:{int(since.timestamp())}",
            now=now,
            items=(item,),
            facts={
                "last_fix": last.ts.astimezone(UTC).isoformat() if last else None,
                "silent_hours": silent_h,
            },
        )


def _newest(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Each wearer's newest fix among these frames."""
    return pl.concat(frames).sort("ts").unique(WEARER_ID, keep="last", maintain_order=False)


NO_FIX = RuleKind(NoFixRule.kind, NoFixParams, NoFixRule)

__all__ = ["NO_FIX", "NoFixParams", "NoFixRule"]
