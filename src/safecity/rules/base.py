"""What every rule evaluator implements, and the registry view rules read facts from."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import polars as pl

from safecity.core.finding import Evidence, Finding, SubjectFacts
from safecity.rules.config import RuleConfig

EVIDENCE_COLUMNS = ("event_id", "corr_id", "kind", "subject", "device", "ts", "lat", "lon", "area", "code")


class Facts(Protocol):
    """Registry facts a rule may use; live implementations cache, backtests pin a period."""

    def watchlist(self, now: datetime) -> pl.DataFrame:
        """Watchlist entries in force.

        Columns: subject_kind, subject, entry_id, list_kind, ebike_id, valid_from, valid_until.
        """
        ...

    def entry_facts(self, entry_ids: list[int]) -> dict[int, SubjectFacts]:
        """What the registry says about listed entries."""
        ...

    def devices(self) -> pl.DataFrame:
        """Registered devices: device, device_kind, area, active."""
        ...

    def source(self, name: str) -> Any:
        """Facts a capability contributed (rules.facts.FactSource), by name."""
        ...


class Rule(Protocol):
    """A stateful, vectorised evaluator."""

    name: str
    kind: str

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Look at one micro-batch of records; return what it found."""
        ...

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Called periodically even when no records arrive (time-based rules)."""
        ...


def evidence_by(rows: pl.DataFrame, key: str) -> dict[Any, tuple[Evidence, ...]]:
    """Group record rows by `key` into evidence, oldest first, in one pass (hits are few rows)."""
    grouped: dict[Any, list[Evidence]] = {}
    for k, *values in rows.sort(key, "ts").select(pl.col(key).alias("_key"), *EVIDENCE_COLUMNS).iter_rows():
        grouped.setdefault(k, []).append(Evidence(*values))
    return {k: tuple(v) for k, v in grouped.items()}


class ConfiguredRule:
    """What every evaluator takes from its configuration; time-based rules override `tick`."""

    kind = ""
    default_title = ""

    def __init__(self, config: RuleConfig) -> None:
        self.name = config.name
        self.severity = config.severity
        self.title = config.title or self.default_title
        self.params_dict: dict[str, Any] = config.typed_params().model_dump()

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Nothing time-based by default."""
        return []
