"""Warnings a tenant registration raises itself: the tenant lives elsewhere too, the flat is full,
the name given is not the registry's for that number.

The first two are allowed (people do move; a flat may be crowded for a night) but never silent:
the registrar is told at once, and the community officer gets a warning, explained like any
other, whose evidence is the registration itself. A name that is not the registry's is a warning
for the officer only: telling the registrar would tell them who the number belongs to (and so is
the other tenancy of such a number).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from safecity.core.context import Context
from safecity.core.finding import Evidence, Finding, Ref
from safecity.places.models import COMPOUND, FLAT, TENANCY, Tenancy

if TYPE_CHECKING:
    from safecity.places.housing import FlatPlace
    from safecity.registry.models import Person

PERSON = "person"
REGISTRATION = "registration"  # the rule kind of warnings raised by a registration, not by the rule engine


def _evidence(place: FlatPlace, tenancy: Tenancy, by: Context, code: str) -> Evidence:
    """The registration itself, as the evidence of the warning it raised."""
    building = place.building
    return Evidence(
        event_id=f"tenancy-{tenancy.id}",
        corr_id=f"tenancy-{tenancy.id}",
        kind="report",
        subject=None,
        device=f"registration:{by.actor}"[:64],
        ts=tenancy.registered_at,
        lat=building.lat if building.lat is not None else place.compound.lat,
        lon=building.lon if building.lon is not None else place.compound.lon,
        area=place.compound.community_id,
        code=code,
    )


def registration_findings(
    place: FlatPlace,
    tenancy: Tenancy,
    person: Person,
    *,
    others: Sequence[Tenancy],
    occupants: int,
    name_matches: bool,
    by: Context,
    now: datetime,
) -> tuple[list[str], list[Finding]]:
    """What to tell the registrar, and the warnings for the community officer."""
    notices: list[str] = []
    findings: list[Finding] = []
    flat, compound = place.flat, place.compound
    refs = (
        Ref(FLAT, str(flat.id)),
        Ref(COMPOUND, compound.id),
        Ref(TENANCY, str(tenancy.id)),
        Ref(PERSON, str(person.id)),
    )
    facts = {
        "flat": flat.number,
        "building": place.building.name,
        "compound": compound.name,
        "capacity": flat.capacity,
    }

    def warn(
        rule: str, severity: str, title: str, subject: tuple[str, str], dedup: str, code: str, **more: object
    ) -> None:
        findings.append(
            Finding(
                rule=rule,
                rule_kind=REGISTRATION,
                severity=severity,
                title=title,
                subject_kind=subject[0],
                subject=subject[1],
                dedup_key=dedup,
                at=now,
                evidence=(_evidence(place, tenancy, by, code),),
                facts={**facts, **more},
                refs=refs,
            )
        )

    tenancy_subject = ("tenancy", str(tenancy.id))
    if not name_matches:
        warn(
            "tenant-name-mismatch",
            "medium",
            "Tenant registered under a number the registry knows by another name",
            tenancy_subject,
            f"name-mismatch:{tenancy.id}",
            "name_mismatch",
            name_given=tenancy.name,
            via=tenancy.registered_via,
        )
    if others:
        if name_matches:
            notices.append(
                "this person also holds an open tenancy registered elsewhere; it stays open until that "
                "landlord checks them out, and the community officer is told"
            )
        warn(
            "tenant-registered-twice",
            "low",
            "Tenant registered while still living elsewhere",
            tenancy_subject,
            f"tenant-twice:{person.id}",
            "tenant_elsewhere",
            open_tenancies=len(others) + 1,
        )
    if occupants > flat.capacity:
        notices.append(f"the flat now has {occupants} tenants for a capacity of {flat.capacity}")
        warn(
            "flat-over-capacity",
            "medium",
            "Flat registered over its capacity",
            ("flat", str(flat.id)),
            f"over-capacity:{flat.id}",
            "over_capacity",
            tenants=occupants,
        )
    return notices, findings


__all__ = ["REGISTRATION", "registration_findings"]
