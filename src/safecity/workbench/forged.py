"""Forged plates (假牌, 套牌) against the vehicle registry: the live rule kinds.

Two tests of each `plate_read` against the city's vehicle registry (`vehicle_registry.py`):

* `plate_mismatch`: the camera saw a vehicle (`attrs.vehicle_type`, `attrs.vehicle_colour`,
  `attrs.plate_colour`) that is not the one registered under the plate: a white saloon's plate
  on a black SUV. Only words both sides know are compared, by what a camera can tell apart
  (`vehicle_vocabulary.py`): a missing or unknown observation is no evidence either way.
* `plate_unregistered`: a plate of this city's provinces that the registry does not hold, or
  holds as scrapped or deregistered. Plates of other provinces are not in a city's registry,
  so the rule looks only at the prefixes it is given (`浙`, `浙C`); and while no registry has
  been imported at all it is silent, not a warning for every plate.

A read whose `attrs.confidence` (0-1, or a percentage) is under `min_confidence` is left out:
a misread plate names someone else's registration. The same tests run over the past as the
workbench's search (`forged_search.py`), reading the attrs with the same patterns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl
from pydantic import Field, field_validator

from safecity.core.finding import Evidence, Finding, Ref
from safecity.core.ids import PROVINCES
from safecity.rules.base import EVIDENCE_COLUMNS, ConfiguredRule, Facts, evidence_by
from safecity.rules.config import RuleConfig, RuleParams
from safecity.rules.kinds import RuleKind
from safecity.workbench.vehicle_facts import NAME as VEHICLE_REGISTRY
from safecity.workbench.vehicle_facts import VehicleRegistryFacts
from safecity.workbench.vehicle_models import RegistrationStatus
from safecity.workbench.vehicle_vocabulary import (
    CONFIDENCE_PATTERN,
    OBSERVED_FIELDS,
    REGISTERED_COLUMN,
    ObservedField,
    comparison_keys,
    observed_pattern,
)

CITY_LETTERS = tuple("ABCDEFGHJKLMNPQRSTUVWXYZ")  # GA 36: never I or O
VOID_STATUSES = (RegistrationStatus.SCRAPPED, RegistrationStatus.DEREGISTERED)
REGISTRATION_FACTS = ("plate_colour", "vehicle_type", "body_colour", "make_model", "status")


def province_prefixes(prefixes: Sequence[str]) -> list[str]:
    """Plate prefixes checked and upper-cased: a province's character, with its city's letter or not."""
    out = [p.strip().upper() for p in prefixes]
    bad = [p for p in out if not (len(p) in (1, 2) and p[0] in PROVINCES and p[1:] in ("", *CITY_LETTERS))]
    if bad:
        shown = ", ".join(bad) or "an empty prefix"
        raise ValueError(f"{shown}: a province's character, or it and a city's letter (浙, 浙C)")
    return out


class PlateMismatchParams(RuleParams):
    """A plate read on a vehicle whose type or colour is not the registered one."""

    fields: list[ObservedField] = Field(
        default_factory=lambda: list(OBSERVED_FIELDS),
        min_length=1,
        description="What of the camera's attrs is compared: vehicle_type, vehicle_colour, plate_colour.",
    )
    coarse_types: bool = Field(
        True, description="Compare types as a camera tells them apart (a saloon, an SUV and an MPV are one)."
    )
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="Reads whose attrs.confidence is lower are left out (0: none are)."
    )


class PlateUnregisteredParams(RuleParams):
    """A plate of the city's provinces that the vehicle registry does not hold as in use."""

    provinces: list[str] = Field(
        default_factory=list,
        description="Plate prefixes the registry covers (浙, or 浙C for one city); empty: every plate.",
    )
    void_statuses: list[RegistrationStatus] = Field(
        default_factory=lambda: list(VOID_STATUSES),
        description="Registrations that do not count (a scrapped vehicle's plate on the road is forged).",
    )
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="Reads whose attrs.confidence is lower are left out (0: none are)."
    )

    _prefixes = field_validator("provinces")(province_prefixes)


def plate_reads(batch: pl.DataFrame) -> pl.DataFrame:
    """The batch's plate reads with what their attrs say (`seen_<field>`) and their confidence."""
    reads = batch.filter(pl.col("subject_kind") == "plate")
    attrs = pl.col("attrs")
    confidence = attrs.str.extract(CONFIDENCE_PATTERN, 1).cast(pl.Float64)
    return reads.select(
        *EVIDENCE_COLUMNS,
        *(attrs.str.extract(observed_pattern(f), 1).alias(f"seen_{f}") for f in OBSERVED_FIELDS),
        confidence=pl.when(confidence > 1).then(confidence / 100).otherwise(confidence),
    )


def with_registrations(reads: pl.DataFrame, registry: VehicleRegistryFacts) -> pl.DataFrame:
    """The reads with their plate's registration (null columns where none) and `registered`."""
    held = registry.lookup(reads["subject"]).rename({"plate": "subject"})
    return reads.join(held, on="subject", how="left").with_columns(
        registered=pl.col("registration_id").is_not_null()
    )


def differs_expr(field: ObservedField, *, coarse_types: bool) -> pl.Expr:
    """Whether a read's word for `field` contradicts the registration's (both must be known words)."""
    keys = comparison_keys(field, coarse_types=coarse_types)
    seen = (
        pl.col(f"seen_{field}").str.to_lowercase().replace_strict(keys, default=None, return_dtype=pl.String)
    )
    held = pl.col(REGISTERED_COLUMN[field]).replace_strict(keys, default=None, return_dtype=pl.String)
    return (seen.is_not_null() & held.is_not_null() & (seen != held)).fill_null(False)


def confident(min_confidence: float) -> pl.Expr:
    """A read the camera was sure enough of (one that does not say how sure counts)."""
    return pl.col("confidence").is_null() | (pl.col("confidence") >= min_confidence)


class _RegistryRule(ConfiguredRule):
    """What both kinds share: the registry's reads, and one warning per plate with its registration."""

    prefix = ""

    def _findings(self, hits: pl.DataFrame, now: datetime, facts_of: Any) -> list[Finding]:
        evidence = evidence_by(hits, "subject")
        latest = hits.sort("ts", "event_id").unique("subject", keep="last")
        findings = []
        for row in latest.iter_rows(named=True):
            items: tuple[Evidence, ...] = evidence[row["subject"]]
            registration_id = row["registration_id"]
            findings.append(
                Finding(
                    rule=self.name,
                    rule_kind=self.kind,
                    severity=self.severity,
                    title=self.title,
                    subject_kind="plate",
                    subject=str(row["subject"]),
                    dedup_key=f"{self.prefix}:{row['subject']}",
                    at=now,
                    evidence=items,
                    facts=facts_of(row),
                    params=self.params_dict,
                    refs=(Ref("vehicle_registration", str(registration_id)),) if registration_id else (),
                )
            )
        return findings


class PlateMismatchRule(_RegistryRule):
    """One warning per plate read on a vehicle unlike its registration (extended by further reads)."""

    kind = "plate_mismatch"
    prefix = "mismatch"
    default_title = "Plate read on a vehicle unlike its registration: a forged plate? 疑似假牌"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: PlateMismatchParams = config.typed_params()

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Compare each plate read's observed vehicle with the plate's registration."""
        reads = plate_reads(batch)
        if reads.is_empty():
            return []
        p = self.params
        rows = with_registrations(reads.filter(confident(p.min_confidence)), facts.source(VEHICLE_REGISTRY))
        rows = rows.with_columns(
            *(differs_expr(f, coarse_types=p.coarse_types).alias(f"differs_{f}") for f in p.fields)
        ).filter(pl.col("registered") & pl.any_horizontal(*(f"differs_{f}" for f in p.fields)))
        if rows.is_empty():
            return []
        differing = rows.group_by("subject").agg(
            pl.col(f"differs_{f}").any().alias(f"any_{f}") for f in p.fields
        )
        rows = rows.join(differing, on="subject")
        return self._findings(rows, now, self._facts)

    def _facts(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "differs": [f for f in self.params.fields if row[f"any_{f}"]],
            "observed": {f: row[f"seen_{f}"] for f in OBSERVED_FIELDS},
            "registered": _registered(row),
        }


class PlateUnregisteredRule(_RegistryRule):
    """One warning per plate of the city's provinces that no registration in use holds."""

    kind = "plate_unregistered"
    prefix = "unregistered"
    default_title = "Plate not in the vehicle registry: a forged plate? 疑似假牌 (无登记)"

    def __init__(self, config: RuleConfig) -> None:
        super().__init__(config)
        self.params: PlateUnregisteredParams = config.typed_params()

    def evaluate(self, batch: pl.DataFrame, facts: Facts, now: datetime) -> list[Finding]:
        """Look each plate read of the given provinces up in the registry."""
        registry: VehicleRegistryFacts = facts.source(VEHICLE_REGISTRY)
        if registry.frame().is_empty():
            return []  # no registry imported: every plate would be "unregistered"
        reads = plate_reads(batch)
        p = self.params
        if p.provinces:
            reads = reads.filter(pl.any_horizontal(pl.col("subject").str.starts_with(x) for x in p.provinces))
        if reads.is_empty():
            return []
        rows = with_registrations(reads.filter(confident(p.min_confidence)), registry)
        void = [s.value for s in p.void_statuses]
        rows = rows.filter(~pl.col("registered") | pl.col("status").is_in(void))
        if rows.is_empty():
            return []
        return self._findings(rows, now, self._facts)

    @staticmethod
    def _facts(row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "registered": _registered(row) if row["registered"] else None,
            "observed": {f: row[f"seen_{f}"] for f in OBSERVED_FIELDS},
        }
        return out


def _registered(row: dict[str, Any]) -> dict[str, Any]:
    """The registration as a warning shows it (not its owner: warnings reach every patrol)."""
    at = row["registered_at"]
    return {
        **{k: row[k] for k in REGISTRATION_FACTS},
        "registered_at": at.isoformat() if at is not None else None,
    }


MISMATCH = RuleKind("plate_mismatch", PlateMismatchParams, PlateMismatchRule)
UNREGISTERED = RuleKind("plate_unregistered", PlateUnregisteredParams, PlateUnregisteredRule)

__all__ = [
    "MISMATCH",
    "UNREGISTERED",
    "VOID_STATUSES",
    "PlateMismatchParams",
    "PlateMismatchRule",
    "PlateUnregisteredParams",
    "PlateUnregisteredRule",
    "confident",
    "differs_expr",
    "plate_reads",
    "province_prefixes",
    "with_registrations",
]
