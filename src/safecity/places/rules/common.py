"""What every housing rule shares: the enriched swipes, place references, and how a finding is made."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from safecity.core.finding import Evidence, Finding, Ref
from safecity.core.kinds import SubjectKind
from safecity.places.facts import BUILDING, DOOR, NAME, PlaceFacts
from safecity.places.models import COMPOUND, FLAT, SHOP
from safecity.rules import ConfiguredRule, Facts
from safecity.rules.base import EVIDENCE_COLUMNS

CARD = SubjectKind.ID_CARD.value
MAX_EVIDENCE = 50  # a warning shows its latest swipes; the count is in its facts


def places_of(facts: Facts) -> PlaceFacts:
    """The places fact source (places/facts.py)."""
    source: PlaceFacts = facts.source(NAME)
    return source


def evidence(rows: pl.DataFrame, limit: int = MAX_EVIDENCE) -> tuple[Evidence, ...]:
    """Swipe rows as evidence, oldest first, the latest `limit` of them."""
    rows = rows.sort("ts").tail(limit)
    return tuple(Evidence(*r) for r in rows.select(*EVIDENCE_COLUMNS).iter_rows())


def place_refs(rows: pl.DataFrame) -> tuple[Ref, ...]:
    """References to every door, compound, building, shop and flat the rows name (sorted, unique)."""
    refs: set[Ref] = set()
    for column, entity in (
        ("device", DOOR),
        ("compound_id", COMPOUND),
        ("building_id", BUILDING),
        ("shop_id", SHOP),
        ("flat_id", FLAT),
    ):
        if column in rows.columns:
            refs.update(Ref(entity, str(v)) for v in rows[column].unique().drop_nulls().to_list())
    return tuple(sorted(refs))


def first(rows: pl.DataFrame, column: str) -> Any:
    """The first non-null value of a column (the place a group of swipes shares)."""
    values = rows[column].drop_nulls()
    return values[0] if values.len() else None


class HousingRule(ConfiguredRule):
    """A housing rule: builds its findings with the shared shape (refs, subject kind, params)."""

    def finding(
        self,
        *,
        subject_kind: str,
        subject: str,
        dedup_key: str,
        now: datetime,
        items: Sequence[Evidence],
        facts: dict[str, Any],
        refs: Iterable[Ref],
    ) -> Finding:
        """One finding of this rule."""
        return Finding(
            rule=self.name,
            rule_kind=self.kind,
            severity=self.severity,
            title=self.title,
            subject_kind=subject_kind,
            subject=subject,
            dedup_key=dedup_key,
            at=now,
            evidence=tuple(items),
            facts=facts,
            params=self.params_dict,
            refs=tuple(sorted(set(refs))),
        )
