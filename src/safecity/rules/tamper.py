"""`tag_tamper`: a tag read carrying a tamper code (the tag was prised off or opened)."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from pydantic import Field

from safecity.core.finding import Finding
from safecity.rules.base import ConfiguredRule, Facts, evidence_by
from safecity.rules.config import RuleConfig, RuleParams
from safecity.rules.kinds import RuleKind


class TagTamperParams(RuleParams):
    """A tag reporting that it was prised off or opened."""

    codes: list[str] = Field(
        default_factory=lambda: ["tamper"], min_length=1, description="Read codes that mean tampering."
    )
    record_kinds: list[str] = Field(default_factory=lambda: ["rfid_read"], min_length=1)


class TagTamperRule(ConfiguredRule):
    """One finding per tampered tag; further tamper reads extend the open warning."""

    kind = "tag_tamper"

    default_title = "Tag reports tampering"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: TagTamperParams = config.typed_params()

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Pick reads whose code is a tamper code."""
        hits = batch.filter(
            pl.col("kind").is_in(self.params.record_kinds) & pl.col("code").is_in(self.params.codes)
        )
        if hits.is_empty():
            return []
        kinds = dict(hits.select("subject", "subject_kind").unique("subject").iter_rows())
        params = self.params_dict
        return [
            Finding(
                rule=self.name,
                rule_kind=self.kind,
                severity=self.severity,
                title=self.title,
                subject_kind=kinds[subject],
                subject=str(subject),
                dedup_key=f"tamper:{subject}",
                at=now,
                evidence=items,
                facts={"tag_id": subject},
                params=params,
            )
            for subject, items in evidence_by(hits, "subject").items()
        ]


KIND = RuleKind("tag_tamper", TagTamperParams, TagTamperRule)
