"""What every housing rule shares: the enriched swipes, place references, and how a finding is made."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
