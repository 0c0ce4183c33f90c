"""`housing_dormant_tenant`: a registered tenant whose card has opened no door for N days.

The usual reason is a tenant who moved out without being checked out, so the warning names the
tenancy and its landlord (who is prompted to check them out or say why) as well as the flat. A
swipe anywhere counts as alive (a tenant may use a compound gate only). Silence is counted from
the last swipe, or from the tenancy's start or the rule's start, whichever is later, so a
restart does not make every tenant dormant at once. Like `device_offline` the batches only
remember each card's latest swipe; `tick` compares, at most every `check_every_minutes`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from pydantic import Field

from safecity.core.finding import Evidence, Finding, Ref
from safecity.places.facts import BUILDING, card_hashes
from safecity.places.models import COMPOUND, FLAT, TENANCY
from safecity.places.rules.common import HousingRule, evidence, places_of
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.rules.base import EVIDENCE_COLUMNS

PERSON = "person"
FOLD_ROWS = 1_000_000


class DormantTenantParams(RuleParams):
    """A tenant with an open tenancy and no swipe for too long."""

    days: float = Field(7, gt=0, le=365, description="Days without a swipe that make a tenant dormant.")
    check_every_minutes: float = Field(60, gt=0, le=24 * 60, description="How often tenants are checked.")


class DormantTenantRule(HousingRule):
    """Remembers each card's latest swipe; `tick` reports open tenancies silent too long, once each."""

    kind = "housing_dormant_tenant"
    default_title = "Tenant has not swiped for days"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: DormantTenantParams = config.typed_params()
        self._silence = timedelta(days=self.params.days)
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
        self._last: pl.DataFrame | None = None  # card_h -> the card's latest swipe
        self._started: datetime | None = None
        self._checked: datetime | None = None
        self._reported: dict[int, datetime] = {}  # tenancy -> the last swipe when it was reported

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Remember each card's latest swipe of the batch (granted or not: the card is in use)."""
        self._started = self._started or now
        if batch.is_empty():
            return []
        swipes = places_of(facts).swipes(batch)
        if not swipes.is_empty():
            # Folded (sorted, one row per card) only every million swipes: per batch it is a copy.
            self._pending.append(swipes.select("card_h", *EVIDENCE_COLUMNS))
            self._pending_rows += swipes.height
        if self._pending_rows >= FOLD_ROWS:
            self._fold()
        return []

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Report each open tenancy whose card has been silent longer than the limit."""
        self._started = self._started or now
        if self._checked is not None and now - self._checked < timedelta(
            minutes=self.params.check_every_minutes
        ):
            return []
        self._checked = now
        self._fold()
        tenants = places_of(facts).view().tenants
        if tenants.is_empty():
            return []
        tenants = tenants.with_columns(pl.Series("card_h", card_hashes(tenants["card"]), dtype=pl.UInt64))
        last = (
            self._last
            if self._last is not None
            else pl.DataFrame(schema={"card_h": pl.UInt64, "ts": pl.Datetime("ms", "UTC")})
        )
        joined = tenants.join(
            last.rename({c: f"last_{c}" for c in last.columns if c != "card_h"}), on="card_h", how="left"
        )
        since = pl.max_horizontal(
            pl.col("last_ts").cast(pl.Datetime("us", "UTC")), pl.col("starts_at"), pl.lit(self._started)
        )
        silent = joined.with_columns(since.alias("since")).filter(pl.col("since") <= now - self._silence)
        findings = []
        for row in silent.iter_rows(named=True):
            tenancy = row["tenancy_id"]
            if tenancy in self._reported and self._reported[tenancy] == row["since"]:
                continue
            self._reported[tenancy] = row["since"]
            findings.append(self._finding(row, now))
        return findings

    def _finding(self, row: dict, now: datetime) -> Finding:
        """The warning for one silent tenancy: its last swipe (or its registration) as evidence."""
        if row.get("last_event_id") is not None:
            last = pl.DataFrame([{c: row[f"last_{c}"] for c in EVIDENCE_COLUMNS}])
            items = evidence(last)
        else:
            items = (
                Evidence(
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
                ),
            )
        return self.finding(
            subject_kind=TENANCY,
            subject=str(row["tenancy_id"]),
            dedup_key=f"dormant:{row['tenancy_id']}",
            now=now,
            items=items,
            facts={
                "tenancy_id": row["tenancy_id"],
                "flat_id": row["flat_id"],
                "building_id": row["building_id"],
                "compound_id": row["compound_id"],
                "landlord_id": row["landlord_id"],
                "last_swipe": row["last_ts"].isoformat() if row.get("last_ts") is not None else None,
                "silent_days": round((now - row["since"]).total_seconds() / 86400, 1),
            },
            refs=(
                Ref(TENANCY, str(row["tenancy_id"])),
                Ref(FLAT, str(row["flat_id"])),
                Ref(BUILDING, str(row["building_id"])),
                Ref(COMPOUND, str(row["compound_id"])),
                Ref(PERSON, str(row["person_id"])),
            ),
        )

    def _fold(self) -> None:
        if not self._pending:
            return
        frames = self._pending if self._last is None else [self._last, *self._pending]
        self._pending, self._pending_rows = [], 0
        self._last = pl.concat(frames, how="vertical_relaxed").sort("ts").unique("card_h", keep="last")


DORMANT_TENANT = RuleKind(DormantTenantRule.kind, DormantTenantParams, DormantTenantRule)
