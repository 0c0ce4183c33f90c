"""Backtests: run a rule over a past period of the lake and count what it would have raised.

Nothing is raised or stored. Records are replayed in event-time order in steps (one minute by
default) with the clock set to the end of each step, so time-based rules behave as they would
have live, and the watchlist is the one in force at each sighting's time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from safecity.core.finding import Finding
from safecity.rules.base import Facts, Rule


@dataclass(slots=True)
class BacktestReport:
    """What a rule would have done over a period."""

    rule: str
    start: datetime
    end: datetime
    records: int = 0
    findings: int = 0
    warnings: int = 0  # distinct situations (dedup keys): the alerts it would have opened
    by_day: dict[str, int] = field(default_factory=dict)  # new warnings per UTC day
    examples: list[dict[str, object]] = field(default_factory=list)


def backtest(
    rule: Rule,
    *,
    scan: Callable[[datetime, datetime], pl.LazyFrame],
    facts: Facts,
    start: datetime,
    end: datetime,
    step: timedelta = timedelta(minutes=1),
    progress: Callable[[int], None] | None = None,
    max_examples: int = 10,
) -> BacktestReport:
    """Replay [start, end) day by day through `rule`; count findings and distinct warnings."""
    report = BacktestReport(rule=rule.name, start=start, end=end)
    seen: set[str] = set()
    per_day: Counter[str] = Counter()
    day = start
    while day < end:
        day_end = min(end, datetime.combine(day.date() + timedelta(days=1), datetime.min.time(), day.tzinfo))
        frame = (
            scan(day, day_end).filter((pl.col("ts") >= day) & (pl.col("ts") < day_end)).sort("ts").collect()
        )
        report.records += frame.height
        step_ms = int(step.total_seconds() * 1000)
        frame = frame.with_columns(
            ((pl.col("ts") - pl.lit(day)).dt.total_milliseconds() // step_ms).alias("_w")
        )
        windows = {int(k[0]): part.drop("_w") for k, part in frame.partition_by("_w", as_dict=True).items()}
        n_steps = max(1, -(-int((day_end - day).total_seconds() * 1000) // step_ms))
        for i in range(n_steps):
            now = min(day + step * (i + 1), day_end)
            batch = windows.get(i)
            found: list[Finding] = []
            if batch is not None:
                found += rule.evaluate(batch, facts, now)
            found += rule.tick(facts, now)
            for f in found:
                report.findings += 1
                if f.dedup_key not in seen:
                    seen.add(f.dedup_key)
                    per_day[now.date().isoformat()] += 1
                    if len(report.examples) < max_examples:
                        report.examples.append(
                            {
                                "at": now.isoformat(),
                                "subject": f.subject,
                                "dedup_key": f.dedup_key,
                                "evidence": len(f.evidence),
                            }
                        )
        if progress is not None:
            progress(frame.height)
        day = day_end
    report.warnings = len(seen)
    report.by_day = dict(sorted(per_day.items()))
    return report
