"""`hotlist`: a listed subject (a stolen bike's tag) seen anywhere raises or extends a warning."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from safecity.core.finding import Finding
from safecity.rules.base import Facts, evidence_from
from safecity.rules.config import HotlistParams, RuleConfig


class HotlistRule:
    """Join each batch against the watchlist; one finding per listed entry seen."""

    kind = "hotlist"

    def __init__(self, config: RuleConfig) -> None:
        self.name = config.name
        self.severity = config.severity
        self.title = config.title or "Listed subject seen"
        self.params: HotlistParams = config.typed_params()

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Match sightings against entries in force at the sighting's own time."""
        watch = facts.watchlist(now)
        if watch.is_empty() or batch.is_empty():
            return []
        watch = watch.filter(pl.col("list_kind").is_in(self.params.lists))
        candidates = batch.filter(
            pl.col("kind").is_in(self.params.record_kinds)
            & pl.col("subject").is_in(watch["subject"].implode())
        )
        if candidates.is_empty():
            return []
        # A read from before the theft was reported is not an alarm (a late upload, say).
        hits = candidates.join(watch, on=["subject_kind", "subject"]).filter(
            (pl.col("ts") >= pl.col("valid_from")) & (pl.col("ts") < pl.col("valid_until"))
        )
        if hits.is_empty():
            return []
        entry_ids = hits["entry_id"].unique().to_list()
        registry_facts = facts.entry_facts(entry_ids)
        findings = []
        for (entry_id,), rows in hits.group_by("entry_id", maintain_order=True):
            first = rows.sort("ts").row(0, named=True)
            findings.append(
                Finding(
                    rule=self.name,
                    rule_kind=self.kind,
                    severity=self.severity,
                    title=self.title,
                    subject_kind=first["subject_kind"],
                    subject=first["subject"],
                    dedup_key=f"{first['list_kind']}:{entry_id}",
                    at=now,
                    evidence=evidence_from(rows),
                    facts=registry_facts.get(int(entry_id), {}),
                    params=self.params.model_dump(),
                )
            )
        return findings

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Nothing time-based."""
        return []
