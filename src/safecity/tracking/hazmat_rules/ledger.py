"""`hazmat_silent_terminal`, `hazmat_quantity_mismatch` and `hazmat_stock_unreconciled`: the warnings
that come from time passing or from the registry, checked on the engine's tick.

* A shipment in transit whose tracker has sent no fix for `silent_min` (counted from its latest fix,
  or from its departure when it has sent none): one warning per silence, its last fix as evidence.
  The batches only remember each shipment's latest fix.
* A delivery whose quantity differs from the quantity loaded by more than the tolerance (the
  larger of `tolerance_kg` and `tolerance_pct` of the load): one warning per shipment.
* A stock count that differs from the site's ledger by more than the tolerance: one open warning
  per site and product, extended by each later count that still differs.
The registry's own record (the delivery, the count) is the evidence of the last two, placed in the
area of the site concerned so the warning goes to its station.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from pydantic import Field

from safecity.core.finding import Evidence, Finding, Ref
from safecity.rules import Facts, RuleConfig, RuleKind, RuleParams
from safecity.tracking.hazmat_facts import epoch_ms, fix_evidence, record_evidence
from safecity.tracking.hazmat_models import PRODUCT, SITE, ShipmentStatus
from safecity.tracking.hazmat_rules.common import HazmatRule, forget_unwatched, hazmat_of

_MIN_MS = 60_000


class SilentParams(RuleParams):
    """A tracker silent mid-trip."""

    silent_min: float = Field(10, gt=0, le=24 * 60, description="Minutes without a fix during a trip.")


class ToleranceParams(RuleParams):
    """How far two quantities may differ before it is a warning."""

    tolerance_kg: float = Field(1.0, ge=0, le=1e6, description="Allowed difference in kg.")
    tolerance_pct: float = Field(0.5, ge=0, le=100, description="Or this percentage of the reference.")

    def exceeded(self, measured: float, reference: float) -> bool:
        """Whether the quantities differ by more than the larger allowance."""
        allowed = max(self.tolerance_kg, abs(reference) * self.tolerance_pct / 100)
        return abs(measured - reference) > allowed


class SilentTerminalRule(HazmatRule):
    """Remembers each shipment's latest fix; `tick` warns of trips whose tracker fell silent."""

    kind = "hazmat_silent_terminal"
    default_title = "危化品车辆途中定位中断 (hazmat vehicle's terminal silent mid-trip)"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: SilentParams = config.typed_params()
        self._last: dict[int, tuple[int, Evidence]] = {}  # shipment id -> (time in ms, its latest fix)
        self._reported: dict[int, int] = {}  # shipment id -> the silence start it was warned of

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Keep each watched shipment's latest fix (never moving back in time for a late upload)."""
        fixes, view = hazmat_of(facts).fixes(batch)
        if fixes.is_empty():
            return []
        for fix in fixes.group_by("row").agg(pl.all().sort_by("ts").last()).iter_rows(named=True):
            shipment = view.shipments[fix["row"]]
            sid = shipment["shipment_id"]
            if sid not in self._last or self._last[sid][0] < fix["ts_ms"]:
                self._last[sid] = (fix["ts_ms"], fix_evidence(fix, view, shipment))
        return []

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Warn once for each trip in transit silent longer than `silent_min`."""
        view = hazmat_of(facts).view()
        forget_unwatched(self._last, view)
        forget_unwatched(self._reported, view)
        now_ms = epoch_ms(now) or 0
        found = []
        for shipment in view.shipments:
            if shipment["status"] != ShipmentStatus.IN_TRANSIT:
                continue
            sid = shipment["shipment_id"]
            last = self._last.get(sid)
            began = epoch_ms(shipment["departed_at"]) or 0
            since = max(last[0], began) if last else began
            if now_ms - since <= self.params.silent_min * _MIN_MS or self._reported.get(sid) == since:
                continue
            self._reported[sid] = since
            item = (
                last[1]
                if last
                else record_evidence(
                    f"hazmat-departure-{sid}",
                    str(sid),
                    shipment["departed_at"],
                    shipment["area_id"],
                    "departed",
                )
            )
            found.append(
                self.finding(
                    shipment=shipment,
                    dedup_key=f"silent:{sid}:{since}",
                    now=now,
                    items=[item],
                    facts={
                        "silent_min": round((now_ms - since) / _MIN_MS, 1),
                        "last_fix": last[1].ts.isoformat() if last else None,
                    },
                )
            )
        return found


class QuantityMismatchRule(HazmatRule):
    """`tick`: deliveries whose quantity differs from the load beyond the tolerance, once each."""

    kind = "hazmat_quantity_mismatch"
    default_title = "危化品交付数量与装载数量不符 (delivered quantity does not match the load)"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: ToleranceParams = config.typed_params()
        self._reported: set[int] = set()

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Nothing in the records: the registry's facts are compared on the tick."""
        return []

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Compare each delivery with its load."""
        found = []
        for d in hazmat_of(facts).view().deliveries:
            sid = d["shipment_id"]
            if sid in self._reported or not self.params.exceeded(d["delivered_kg"], d["loaded_kg"]):
                continue
            self._reported.add(sid)
            at = d["delivered_at"] or now
            found.append(
                self.finding(
                    shipment=d,
                    dedup_key=f"quantity:{sid}",
                    now=now,
                    items=[
                        record_evidence(
                            f"hazmat-delivery-{sid}",
                            str(sid),
                            _aware(at),
                            d["consignee_area_id"],
                            "delivered",
                        )
                    ],
                    facts={
                        "delivered_kg": d["delivered_kg"],
                        "difference_kg": round(d["delivered_kg"] - d["loaded_kg"], 3),
                    },
                )
            )
        return found


class StockUnreconciledRule(HazmatRule):
    """`tick`: the latest count of a site's product that differs from its ledger beyond the tolerance."""

    kind = "hazmat_stock_unreconciled"
    default_title = "危化品库存账实不符 (stock count does not match the ledger)"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: ToleranceParams = config.typed_params()
        self._reported: set[int] = set()  # count ids

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Nothing in the records: the registry's facts are compared on the tick."""
        return []

    def tick(self, facts: Facts, now: datetime) -> list[Finding]:
        """Compare each site's latest count of each product with what its ledger said then."""
        found = []
        for c in hazmat_of(facts).view().counts:
            if c["count_id"] in self._reported or not self.params.exceeded(c["declared_kg"], c["ledger_kg"]):
                continue
            self._reported.add(c["count_id"])
            key = f"hazmat-count-{c['count_id']}"
            found.append(
                self.finding(
                    shipment=None,
                    subject_kind=SITE,
                    subject=str(c["site_id"]),
                    dedup_key=f"stock:{c['site_id']}:{c['product_id']}",
                    now=now,
                    items=[
                        record_evidence(
                            key, str(c["site_id"]), _aware(c["counted_at"]), c["area_id"], "counted"
                        )
                    ],
                    facts={
                        "site_id": c["site_id"],
                        "site": c["site"],
                        "un_number": c["un_number"],
                        "declared_kg": c["declared_kg"],
                        "ledger_kg": round(c["ledger_kg"], 3),
                        "difference_kg": round(c["declared_kg"] - c["ledger_kg"], 3),
                    },
                    refs=(Ref(SITE, str(c["site_id"])), Ref(PRODUCT, str(c["product_id"]))),
                )
            )
        return found


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


SILENT_TERMINAL = RuleKind(SilentTerminalRule.kind, SilentParams, SilentTerminalRule)
QUANTITY_MISMATCH = RuleKind(QuantityMismatchRule.kind, ToleranceParams, QuantityMismatchRule)
STOCK_UNRECONCILED = RuleKind(StockUnreconciledRule.kind, ToleranceParams, StockUnreconciledRule)

__all__ = [
    "QUANTITY_MISMATCH",
    "SILENT_TERMINAL",
    "STOCK_UNRECONCILED",
    "QuantityMismatchRule",
    "SilentTerminalRule",
    "StockUnreconciledRule",
]
