"""`community_intrusion`: an intrusion alarm from a compound's zone while the zone is armed.

The panel names the zone in the alarm's `attrs.zone`; the zone (places.zones) says which compound
it guards and when it is armed (local weekly hours; none: always). One warning per zone while it
is open: further alarms of the same zone add to its evidence. Shops' zones are the shop rules';
alarms from a zone nobody registered are left to the device rules.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from pydantic import Field

from safecity.core.finding import Finding, Ref
from safecity.places.models import COMPOUND
from safecity.places.zones import ZoneFacts
from safecity.rules.base import ConfiguredRule, Facts, evidence_by
from safecity.rules.config import RuleConfig, RuleParams
from safecity.rules.kinds import RuleKind

ZONES = "zones"  # the fact source's name
ZONE = "alarm_zone"  # entity of a zone's Ref


class IntrusionParams(RuleParams):
    """An intrusion alarm from an armed zone of a compound."""

    codes: list[str] = Field(
        default_factory=lambda: ["intrusion"],
        min_length=1,
        description="Alarm codes that mean someone got in.",
    )


class IntrusionRule(ConfiguredRule):
    """Alarms joined to their zones, kept where the zone was armed at the alarm's own time."""

    kind = "community_intrusion"

    default_title = "Intrusion alarm in an armed zone"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: IntrusionParams = config.typed_params()

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Pick intrusion alarms of registered compound zones that were armed."""
        alarms = batch.filter((pl.col("kind") == "alarm") & pl.col("code").is_in(self.params.codes))
        if alarms.is_empty():
            return []
        zones: ZoneFacts = facts.source(ZONES)
        known = zones.frame().filter(pl.col("compound_id").is_not_null())
        hits = alarms.with_columns(zone=pl.col("attrs").str.json_path_match("$.zone")).join(
            known, on=["device", "zone"], how="inner"
        )
        if hits.is_empty():
            return []
        armed = [
            zones.armed(z, ts) for z, ts in zip(hits["zone_id"].to_list(), hits["ts"].to_list(), strict=True)
        ]
        hits = hits.filter(pl.Series(armed, dtype=pl.Boolean))
        places = {r["zone_id"]: r for r in hits.unique("zone_id").iter_rows(named=True)}
        return [
            Finding(
                rule=self.name,
                rule_kind=self.kind,
                severity=self.severity,
                title=self.title,
                subject_kind="alarm_zone",
                subject=str(zone_id),
                dedup_key=f"intrusion:{zone_id}",
                at=now,
                evidence=items,
                facts={
                    "compound": places[zone_id]["compound_name"],
                    "zone": places[zone_id]["zone_name"],
                    "panel_input": places[zone_id]["zone"],
                    "alarms": len(items),
                },
                params=self.params_dict,
                refs=(Ref(COMPOUND, str(places[zone_id]["compound_id"])), Ref(ZONE, str(zone_id))),
            )
            for zone_id, items in evidence_by(hits, "zone_id").items()
        ]


KIND = RuleKind("community_intrusion", IntrusionParams, IntrusionRule)

__all__ = ["KIND", "ZONES", "IntrusionParams", "IntrusionRule"]
