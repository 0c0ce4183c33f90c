"""What every wearer rule shares: the matched records, evidence routed to the wearer's station, the finding.

A warning's subject is the wearer (`subject_kind` "wearer", the wearer's id); its refs name the
wearer and their registry person, so that the guardians' follower (tracking/guardians.py) finds
whom to tell. Evidence rows carry the wearer's area in place of the record's own, so the alert
service routes the warning to the station answerable for the wearer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from safecity.core.finding import Evidence, Finding, Ref
from safecity.rules import ConfiguredRule, Facts
from safecity.rules.base import EVIDENCE_COLUMNS
from safecity.tracking.models import WEARER
from safecity.tracking.wearer_facts import NAME, ROW, WearerFacts, WearerView

PERSON = "person"
DEVICE = "device"
FIX, ALARM, HEARTBEAT = "tracker_fix", "alarm", "heartbeat"
MAX_EVIDENCE = 20  # a warning shows the latest records; how many there were is in its facts


def wearers_of(facts: Facts) -> WearerFacts:
    """The wearers fact source (tracking/wearer_facts.py)."""
    source: WearerFacts = facts.source(NAME)
    return source


def matched(batch: pl.DataFrame, facts: Facts) -> tuple[pl.DataFrame, WearerView]:
    """The batch's records of worn trackers (empty when none), and the view they were matched on."""
    if batch.is_empty():
        return batch.clear(), wearers_of(facts).view()
    return wearers_of(facts).matched(batch)


def evidence(rows: pl.DataFrame, limit: int = MAX_EVIDENCE) -> tuple[Evidence, ...]:
    """Record rows as evidence, oldest first, the latest `limit` of them."""
    rows = rows.sort("ts").tail(limit)
    return tuple(Evidence(*r) for r in rows.select(*EVIDENCE_COLUMNS).iter_rows())


def rows_of_frame(rows: pl.DataFrame, at: Sequence[int] | NDArray[np.int64]) -> list[tuple[Any, ...]]:
    """The evidence columns of these rows as tuples, in the order given (one gather per batch)."""
    return rows[np.asarray(at, dtype=np.int64)].select(*EVIDENCE_COLUMNS).rows()


def by_row(rows: pl.DataFrame) -> dict[int, pl.DataFrame]:
    """Rows grouped by wearer row, each oldest first."""
    if rows.is_empty():
        return {}
    return {int(k[0]): g.sort("ts") for k, g in rows.group_by(ROW, maintain_order=True)}


class WearerRule(ConfiguredRule):
    """A wearer rule: builds its findings with the shared shape."""

    def finding(
        self,
        view: WearerView,
        row: int,
        *,
        dedup_key: str,
        now: datetime,
        items: Sequence[Evidence],
        facts: dict[str, Any] | None = None,
    ) -> Finding:
        """One warning about the wearer at `row` of the view."""
        devices = sorted({e.device for e in items if e.device})
        return Finding(
            rule=self.name,
            rule_kind=self.kind,
            severity=self.severity,
            title=self.title,
            subject_kind=WEARER,
            subject=str(view.wearer_ids[row]),
            dedup_key=dedup_key,
            at=now,
            evidence=tuple(items),
            facts={**view.facts(row), **(facts or {})},
            params=self.params_dict,
            refs=tuple(
                sorted(
                    {
                        Ref(WEARER, str(view.wearer_ids[row])),
                        Ref(PERSON, str(view.person_ids[row])),
                        *(Ref(DEVICE, d) for d in devices),
                    }
                )
            ),
        )


def epoch_ms(ts: datetime) -> int:
    """Milliseconds since the epoch of an aware time."""
    return int(ts.timestamp() * 1000)


__all__ = [
    "ALARM",
    "FIX",
    "HEARTBEAT",
    "WearerRule",
    "by_row",
    "epoch_ms",
    "evidence",
    "matched",
    "wearers_of",
]
