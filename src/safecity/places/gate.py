"""`community_unregistered_vehicle`: a vehicle no compound of the community has registered keeps
entering its gates: on `days` different local days within `window_days` (someone living there
unregistered, or a vehicle using the compound as a base). The community officer visits.

Reads are `plate_read` from the community's `plate_camera` devices (the record's area is the
camera's community); residents' vehicles come from `facts.source("vehicles")`. The rule remembers,
per community and unregistered plate, the local days it was seen within `window_days` of event
time (back from the newest read, so late uploads count); a plate registered since is left out
at its next read. One open warning per community and plate.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import polars as pl
from pydantic import Field

from safecity.core.finding import Finding, Ref
from safecity.places.vehicles import VehicleFacts
from safecity.rules.base import ConfiguredRule, Facts, evidence_by
from safecity.rules.config import RuleConfig, RuleParams
from safecity.rules.kinds import RuleKind

VEHICLES = "vehicles"  # the fact source's name


class UnregisteredVehicleParams(RuleParams):
    """An unregistered vehicle entering a community's gates on many days."""

    days: int = Field(4, ge=2, le=30, description="Different local days it entered.")
    window_days: int = Field(7, ge=1, le=60, description="Within this many days.")
    camera_kinds: list[str] = Field(
        default_factory=lambda: ["plate_camera"],
        min_length=1,
        description="Device kinds of the gate cameras.",
    )


class UnregisteredVehicleRule(ConfiguredRule):
    """Days seen per (community, plate) not registered there; a finding once enough days gather."""

    kind = "community_unregistered_vehicle"

    default_title = "Unregistered vehicle keeps entering"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: UnregisteredVehicleParams = config.typed_params()
        self._days: dict[tuple[str, str], set[date]] = defaultdict(set)
        self._evidence: dict[tuple[str, str], pl.DataFrame] = {}
        self._swept: date | None = None  # the window's first day when plates were last forgotten
        self._newest: date | None = None  # the newest local day of any read

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Fold the batch's reads of unregistered plates into the days seen; report those over."""
        reads = batch.filter((pl.col("kind") == "plate_read") & pl.col("area").is_not_null())
        if reads.is_empty():
            return []
        cameras = (
            facts.devices().filter(pl.col("device_kind").is_in(self.params.camera_kinds)).select("device")
        )
        vehicles: VehicleFacts = facts.source(VEHICLES)
        unknown = reads.join(cameras, on="device", how="semi").join(
            vehicles.registered(), on=["area", "subject"], how="anti"
        )
        if unknown.is_empty():
            return []
        unknown = unknown.with_columns(day=pl.col("ts").dt.convert_time_zone("Asia/Shanghai").dt.date())
        # The window runs in event time, back from the newest day seen: late uploads count.
        span = timedelta(days=self.params.window_days - 1)
        newest = unknown["day"].max()
        if isinstance(newest, date) and (self._newest is None or newest > self._newest):
            self._newest = newest
        over: list[tuple[str, str]] = []
        for (area, plate), rows in unknown.group_by("area", "subject"):
            key = (str(area), str(plate))
            days = self._days[key] | set(rows["day"].to_list())
            latest = max(days)
            self._days[key] = {d for d in days if d >= latest - span}
            kept = self._evidence.get(key)
            recent = rows.drop("day") if kept is None else pl.concat([kept, rows.drop("day")]).tail(20)
            self._evidence[key] = recent
            if len(self._days[key]) >= self.params.days:
                over.append(key)
        if self._newest is not None:
            self._forget(self._newest - span)
        findings = []
        for area, plate in over:
            items = evidence_by(self._evidence[(area, plate)], "subject")[plate]
            findings.append(
                Finding(
                    rule=self.name,
                    rule_kind=self.kind,
                    severity=self.severity,
                    title=self.title,
                    subject_kind="plate",
                    subject=plate,
                    dedup_key=f"unregistered-vehicle:{area}:{plate}",
                    at=now,
                    evidence=items,
                    facts={"community": area, "days_seen": len(self._days[(area, plate)])},
                    params=self.params_dict,
                    refs=(Ref("community", area),),
                )
            )
        return findings

    def _forget(self, oldest: date) -> None:
        """Drop plates not seen within the window, once a day (memory stays bounded by the traffic)."""
        if self._swept == oldest:
            return
        self._swept = oldest
        stale = [k for k, days in self._days.items() if not any(d >= oldest for d in days)]
        for key in stale:
            del self._days[key]
            self._evidence.pop(key, None)


KIND = RuleKind("community_unregistered_vehicle", UnregisteredVehicleParams, UnregisteredVehicleRule)

__all__ = ["KIND", "VEHICLES", "UnregisteredVehicleParams", "UnregisteredVehicleRule"]
