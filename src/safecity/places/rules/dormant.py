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
SETTLE_ROWS = 1_000_000


class DormantTenantParams(RuleParams):
    """A tenant with an open tenancy and no swipe for too long."""

    days: float = Field(7, gt=0, le=365, description="Days without a swipe that make a tenant dormant.")
    check_every_minutes: float = Field(60, gt=0, le=24 * 60, description="How often tenants are checked.")


class DormantTenantRule(HousingRule):
    """Remembers each registered card's latest swipe; `tick` reports tenancies silent too long, once each.

    The state is arrays indexed by the card's row in the places view (`card_row`), updated with
    one vectorised maximum per batch and carried over by card hash when the view reloads: a
    per-card table folded from the batches cost 1.1 s per million swipes at Wenzhou scale.
    """

    kind = "housing_dormant_tenant"
    default_title = "Tenant has not swiped for days"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: DormantTenantParams = config.typed_params()
        self._silence = timedelta(days=self.params.days)
        self._view: PlaceView | None = None
        self._last = np.zeros(0, dtype=np.int64)  # epoch ms of the card's latest swipe, -1: none
        # The latest swipe's ids and door, one array each: writing a batch's rows costs a few ms,
        # where a tuple per row cost 60 ms and a table folded per million swipes 1.1 s.
        self._event_id = np.zeros(0, dtype=object)
        self._corr_id = np.zeros(0, dtype=object)
        self._door = np.zeros(0, dtype=np.int64)  # row in the view's doors, -1: none
        self._granted = np.zeros(0, dtype=bool)
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
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
        seen = rows >= 0
        if not seen.any():
            return []
        np.maximum.at(self._last, rows[seen], swipes["ts"].dt.epoch("ms").to_numpy()[seen])
        # Which swipe was a card's latest is settled in bulk (`_settle`): writing ids per batch
        # cost 30 ms of object arrays at Wenzhou scale; once per million swipes, 7 ms a batch.
        self._pending.append(swipes.select("card_row", "ts", "event_id", "corr_id", "door_row", "granted"))
        self._pending_rows += swipes.height
        if self._pending_rows >= SETTLE_ROWS:
            self._settle()
        return []

    def _settle(self) -> None:
        """Write the ids and door of each card's latest swipe among those waiting."""
        if not self._pending:
            return
        waiting = pl.concat(self._pending).filter(pl.col("card_row") >= 0)
        self._pending, self._pending_rows = [], 0
        rows = waiting["card_row"].to_numpy()
        picked = np.flatnonzero(waiting["ts"].dt.epoch("ms").to_numpy() == self._last[rows])
        # A card may have several swipes at its latest millisecond; any of them is its latest, so
        # numpy's unspecified winner among repeated indices is right.
        into = rows[picked]
        self._event_id[into] = waiting["event_id"].to_numpy()[picked]
        self._corr_id[into] = waiting["corr_id"].to_numpy()[picked]
        self._door[into] = waiting["door_row"].fill_null(-1).to_numpy()[picked]
        self._granted[into] = waiting["granted"].to_numpy()[picked]

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
        self._settle()
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
        for i in silent.tolist():
            row = tenants.row(i, named=True)
            start = datetime.fromtimestamp(since[i] / 1000, tz=UTC)
            if self._reported.get(row["tenancy_id"]) == start:
                continue
            self._reported[row["tenancy_id"]] = start
            event = self._evidence(view, int(rows[i]), row["card"], int(last[i])) if last[i] >= 0 else None
            findings.append(self._finding(row, event, start, now))
        return findings

    def _evidence(self, view: PlaceView, row: int, card: str, last_ms: int) -> Evidence:
        """The card's latest swipe as evidence (its door's position is the alert's to look up)."""
        door = int(self._door[row])
        device, area = (
            (view.doors["device"][door], view.doors["community_id"][door]) if door >= 0 else ("", None)
        )
        return Evidence(
            event_id=str(self._event_id[row]),
            corr_id=str(self._corr_id[row]),
            kind="door_swipe",
            subject=card,
            device=str(device),
            ts=datetime.fromtimestamp(last_ms / 1000, tz=UTC),
            lat=None,
            lon=None,
            area=area,
            code="granted" if self._granted[row] else "denied",
        )

    def _follow(self, view: PlaceView) -> None:
        """Carry the state over to a reloaded view (card and door rows are renumbered; hashes are not)."""
        if view is self._view:
            return
        self._settle()  # waiting rows are numbered by the old view
        size = len(view.card_index)
        last = np.full(size, -1, dtype=np.int64)
        event_id, corr_id = np.full(size, None, dtype=object), np.full(size, None, dtype=object)
        door, granted = np.full(size, -1, dtype=np.int64), np.zeros(size, dtype=bool)
        if self._view is not None and self._last.size:
            moved = view.card_index.find(self._view.card_index.keys())
            kept, into = moved >= 0, moved[moved >= 0]
            place = {d: i for i, d in enumerate(view.doors["device"].to_list())}
            doors = np.array([place.get(d, -1) for d in self._view.doors["device"].to_list()] + [-1])
            last[into], event_id[into], corr_id[into] = (
                self._last[kept],
                self._event_id[kept],
                self._corr_id[kept],
            )
            door[into], granted[into] = doors[self._door[kept]], self._granted[kept]
        self._view, self._last, self._tenant_rows = view, last, None
        self._event_id, self._corr_id, self._door, self._granted = event_id, corr_id, door, granted

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
