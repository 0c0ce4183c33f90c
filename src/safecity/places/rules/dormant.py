"""`housing_dormant_tenant`: a registered tenant whose card has opened no door for N days.

The usual reason is a tenant who moved out without being checked out, so the warning names the
tenancy and its landlord (who is prompted to check them out or say why) as well as the flat. A
swipe anywhere counts as alive (a tenant may use a compound gate only). Silence is counted from
the last swipe, or from the tenancy's start or the rule's start, whichever is later, so a
restart does not make every tenant dormant at once. Like `device_offline` the batches only
remember each card's latest swipe; `tick` compares, at most every `check_every_minutes`.
A report older than what is remembered (a controller's backlog) never moves a card back in time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from safecity.core.finding import Evidence, Finding, Ref
from safecity.places.facts import BUILDING, DOOR, PlaceView, card_hashes
from safecity.places.models import COMPOUND, FLAT, TENANCY
from safecity.places.rules.common import HousingRule, places_of
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams

PERSON = "person"
# Kept rows (some no longer a card's latest) beyond COMPACT_PER_CARD a card plus COMPACT_ROWS
# make a compaction (`_compact`).
COMPACT_PER_CARD = 2
COMPACT_ROWS = 1_000_000
_KEPT = ("event_id", "corr_id", "device", "granted")


class DormantTenantParams(RuleParams):
    """A tenant with an open tenancy and no swipe for too long."""

    days: float = Field(7, gt=0, le=365, description="Days without a swipe that make a tenant dormant.")
    check_every_minutes: float = Field(60, gt=0, le=24 * 60, description="How often tenants are checked.")


class DormantTenantRule(HousingRule):
    """Remembers each registered card's latest swipe; `tick` reports tenancies silent too long, once each.

    The state is arrays indexed by the card's row in the places view (`card_row`): the time of
    its latest swipe, updated with one vectorised maximum per batch, and where that swipe's row is
    kept (a generation, a row in it). The generations are the batches' own id columns (Arrow, no
    Python objects), compacted to the live rows now and then. A per-card table folded from the
    batches cost 1.1 s per million swipes at Wenzhou scale, ids written into object arrays 16 ms
    a batch; this costs about 2 ms a batch. State is carried over by card hash when the view reloads.
    """

    kind = "housing_dormant_tenant"
    default_title = "Tenant has not swiped for days"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: DormantTenantParams = config.typed_params()
        self._silence = timedelta(days=self.params.days)
        self._view: PlaceView | None = None
        self._last = np.zeros(0, dtype=np.int64)  # epoch ms of the card's latest swipe, -1: none
        self._gen = np.zeros(0, dtype=np.int64)  # the generation keeping that swipe's row, -1: none
        self._pos = np.zeros(0, dtype=np.int64)  # its row in the generation
        self._generations: dict[int, pl.DataFrame] = {}  # event_id, corr_id, device, granted
        self._next_gen = 0
        self._kept_rows = 0
        self._tenant_rows: np.ndarray | None = None
        self._started: datetime | None = None
        self._checked: datetime | None = None
        self._reported: dict[int, datetime] = {}  # tenancy -> the silence start when it was reported

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Remember the latest swipe of each registered card in the batch (granted or not: it is in use)."""
        self._started = self._started or now
        if batch.is_empty():
            return []
        places = places_of(facts)
        swipes, view = places.enriched(batch)
        self._follow(view)
        rows = swipes["card_row"].to_numpy()
        seen = np.flatnonzero(rows >= 0)
        if not seen.size:
            return []
        cards, ts = rows[seen], swipes["ts"].dt.epoch("ms").to_numpy()[seen]
        np.maximum.at(self._last, cards, ts)
        # The batch holds a card's latest swipe where its time is the card's latest; of several at
        # that millisecond any is its latest, so numpy's unspecified winner among repeats is right.
        latest = ts == self._last[cards]
        if not latest.any():
            return []
        gen = self._next_gen
        self._next_gen += 1
        self._generations[gen] = swipes.select(*_KEPT)
        self._kept_rows += swipes.height
        self._gen[cards[latest]] = gen
        self._pos[cards[latest]] = seen[latest]
        if self._kept_rows > COMPACT_PER_CARD * self._last.size + COMPACT_ROWS:
            self._compact()
        return []

    def _compact(self) -> None:
        """Drop generations no card's latest swipe is in; merge the live rows of those mostly dead.

        Like a generational collector: dense generations stay where they are, so each compaction
        copies less than it frees (a full copy of 1.3 M rows cost 340 ms at Wenzhou scale).
        """
        counts = np.bincount(self._gen[self._gen >= 0], minlength=self._next_gen)
        sparse = [g for g, rows in self._generations.items() if counts[g] * 2 < rows.height]
        if not sparse:
            return
        cards = np.flatnonzero(np.isin(self._gen, sparse))
        order = cards[np.argsort(self._gen[cards], kind="stable")]
        parts = [
            self._generations[int(self._gen[chunk[0]])][self._pos[chunk]]
            for chunk in np.split(order, np.flatnonzero(np.diff(self._gen[order])) + 1)
            if chunk.size
        ]
        for g in sparse:
            del self._generations[g]
        if parts:
            gen = self._next_gen
            self._next_gen += 1
            self._generations[gen] = pl.concat(parts)
            self._gen[order] = gen
            self._pos[order] = np.arange(order.size)
        self._kept_rows = sum(rows.height for rows in self._generations.values())

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Report each open tenancy whose card has been silent longer than the limit."""
        self._started = self._started or now
        if self._checked is not None and now - self._checked < timedelta(
            minutes=self.params.check_every_minutes
        ):
            return []
        self._checked = now
        view = places_of(facts).view()
        self._follow(view)
        tenants = view.tenants
        if tenants.is_empty():
            return []
        if self._tenant_rows is None:
            self._tenant_rows = view.card_index.find(card_hashes(tenants["card"]))
        rows = self._tenant_rows
        last = np.where(rows >= 0, self._last[np.maximum(rows, 0)], -1)
        began = np.maximum(
            tenants["starts_at"].dt.epoch("ms").to_numpy(), int(self._started.timestamp() * 1000)
        )
        since = np.maximum(last, began)
        silent = np.flatnonzero(since <= int((now - self._silence).timestamp() * 1000))
        findings = []
        # The doors' areas once per tick: a lookup per silent tenant filtered every door each time.
        areas = (
            dict(zip(view.doors["device"], view.doors["community_id"], strict=True)) if silent.size else {}
        )
        for i in silent.tolist():
            row = tenants.row(i, named=True)
            start = datetime.fromtimestamp(since[i] / 1000, tz=UTC)
            if self._reported.get(row["tenancy_id"]) == start:
                continue
            self._reported[row["tenancy_id"]] = start
            event = self._evidence(areas, int(rows[i]), row["card"], int(last[i])) if last[i] >= 0 else None
            findings.append(self._finding(row, event, start, now))
        return findings

    def _evidence(self, areas: dict[str, str | None], row: int, card: str, last_ms: int) -> Evidence | None:
        """The card's latest swipe as evidence (its door's position is the alert's to look up)."""
        gen = int(self._gen[row])
        if gen < 0:
            return None
        event_id, corr_id, device, granted = self._generations[gen].row(int(self._pos[row]))
        return Evidence(
            event_id=str(event_id),
            corr_id=str(corr_id),
            kind="door_swipe",
            subject=card,
            device=str(device),
            ts=datetime.fromtimestamp(last_ms / 1000, tz=UTC),
            lat=None,
            lon=None,
            area=areas.get(device),
            code="granted" if granted else "denied",
        )

    def _follow(self, view: PlaceView) -> None:
        """Carry the state over to a reloaded view (card rows are renumbered; hashes are not)."""
        if view is self._view:
            return
        size = len(view.card_index)
        last = np.full(size, -1, dtype=np.int64)
        gen, pos = np.full(size, -1, dtype=np.int64), np.zeros(size, dtype=np.int64)
        if self._view is not None and self._last.size:
            moved = view.card_index.find(self._view.card_index.keys())
            kept, into = moved >= 0, moved[moved >= 0]
            last[into], gen[into], pos[into] = self._last[kept], self._gen[kept], self._pos[kept]
        self._view, self._last, self._gen, self._pos, self._tenant_rows = view, last, gen, pos, None

    def _finding(self, row: dict[str, Any], last: Evidence | None, since: datetime, now: datetime) -> Finding:
        """The warning for one silent tenancy: its last swipe (or its registration) as evidence."""
        item = last or Evidence(
            event_id=f"tenancy-{row['tenancy_id']}",
            corr_id=f"tenancy-{row['tenancy_id']}",
            kind="report",
            subject=row["card"],
            device="registration",
            ts=row["starts_at"],
            lat=None,
            lon=None,
            area=None,
            code="no_swipe",
        )
        return self.finding(
            subject_kind=TENANCY,
            subject=str(row["tenancy_id"]),
            dedup_key=f"dormant:{row['tenancy_id']}",
            now=now,
            items=(item,),
            facts={
                "tenancy_id": row["tenancy_id"],
                "flat_id": row["flat_id"],
                "building_id": row["building_id"],
                "compound_id": row["compound_id"],
                "landlord_id": row["landlord_id"],
                "last_swipe": last.ts.isoformat() if last is not None else None,
                "silent_days": round((now - since).total_seconds() / 86400, 1),
            },
            refs=(
                Ref(TENANCY, str(row["tenancy_id"])),
                Ref(FLAT, str(row["flat_id"])),
                Ref(BUILDING, str(row["building_id"])),
                Ref(COMPOUND, str(row["compound_id"])),
                Ref(PERSON, str(row["person_id"])),
                *([Ref(DOOR, last.device)] if last is not None and last.device else []),
            ),
        )


DORMANT_TENANT = RuleKind(DormantTenantRule.kind, DormantTenantParams, DormantTenantRule)
