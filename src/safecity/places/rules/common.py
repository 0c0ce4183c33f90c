"""What every housing rule shares: the enriched swipes, place references, and how a finding is made."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

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


_PLACE_COLUMNS = (
    ("device", DOOR),
    ("compound_id", COMPOUND),
    ("building_id", BUILDING),
    ("shop_id", SHOP),
    ("flat_id", FLAT),
)


def place_refs(rows: pl.DataFrame) -> tuple[Ref, ...]:
    """References to every door, compound, building, shop and flat the rows name (sorted, unique)."""
    refs: set[Ref] = set()
    for column, entity in _PLACE_COLUMNS:
        if column in rows.columns:
            refs.update(Ref(entity, str(v)) for v in rows[column].unique().drop_nulls().to_list())
    return tuple(sorted(refs))


@dataclass(frozen=True, slots=True)
class SwipeGroup:
    """One key's swipe rows as plain tuples, oldest first (see `swipe_groups`)."""

    rows: list[tuple[Any, ...]]
    index: dict[str, int]  # column name -> position in each row

    @property
    def height(self) -> int:
        return len(self.rows)

    def evidence(self, limit: int = MAX_EVIDENCE) -> tuple[Evidence, ...]:
        """The latest `limit` rows as evidence, oldest first."""
        at = [self.index[c] for c in EVIDENCE_COLUMNS]
        return tuple(Evidence(*(row[i] for i in at)) for row in self.rows[-limit:])

    def first(self, column: str) -> Any:
        """The first non-null value of a column."""
        at = self.index[column]
        return next((row[at] for row in self.rows if row[at] is not None), None)

    def values(self, column: str) -> list[Any]:
        """The column's distinct non-null values, sorted."""
        at = self.index[column]
        return sorted({row[at] for row in self.rows if row[at] is not None})

    def refs(self) -> tuple[Ref, ...]:
        """References to every door, compound, building, shop and flat the rows name (sorted, unique)."""
        return tuple(
            sorted(
                Ref(entity, str(value))
                for column, entity in _PLACE_COLUMNS
                if column in self.index
                for value in self.values(column)
            )
        )


def swipe_groups(rows: pl.DataFrame, key: str) -> dict[Any, SwipeGroup]:
    """Rows grouped by `key` in one pass over plain tuples, each group oldest first.

    A warning per group built from Polars slices cost tens of Polars calls each (about 40 us per
    group: 20 ms a batch when 500 unknown cards each bring a swipe); tuples cost a few us.
    """
    ordered = rows.sort(key, "ts")
    index = {c: i for i, c in enumerate(ordered.columns)}
    at = index[key]
    grouped: dict[Any, list[tuple[Any, ...]]] = {}
    for row in ordered.iter_rows():
        grouped.setdefault(row[at], []).append(row)
    return {k: SwipeGroup(v, index) for k, v in grouped.items()}


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


_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


def local_clock(ts: pl.Series, timezone: str) -> tuple[pl.Series, pl.Series]:
    """Local date and hour of each time.

    A batch spans seconds, so its zone offset is almost always one: then the local clock is integer
    arithmetic on epoch milliseconds (a tenth of the cost of converting time zones per row);
    a batch across a daylight-saving change is converted row by row.
    """
    if ts.is_empty():
        return pl.Series("day", [], pl.Date), pl.Series("hour", [], pl.Int64)
    zone = ZoneInfo(timezone)
    low, high = ts.min(), ts.max()
    offsets = {t.astimezone(zone).utcoffset() for t in (low, high) if isinstance(t, datetime)}
    if len(offsets) == 1:
        [offset] = offsets
        ms = ts.dt.epoch("ms") + int(offset.total_seconds() * 1000) if offset else ts.dt.epoch("ms")
        day = (ms // _DAY_MS).cast(pl.Int32).cast(pl.Date).alias("day")
        return day, ((ms % _DAY_MS) // _HOUR_MS).alias("hour")
    local = ts.dt.convert_time_zone(timezone)
    return local.dt.date().alias("day"), local.dt.hour().cast(pl.Int64).alias("hour")
