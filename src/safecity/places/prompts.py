"""Prompting landlords: a tenant whose card has opened no door for days probably moved out.

The alert service hands every new alert that references a tenancy to this follower; for the
dormant-tenant warnings (`housing_dormant_tenant`) it texts the landlord of the flat, who is
the one able to check the tenant out (or to say why they are away). Looked up in bulk; a
landlord without a phone is skipped with one log line per burst.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity import registry
from safecity.core.finding import AlertFollower, PersonNotice, RaisedAlert
from safecity.core.masking import mask_phone
from safecity.places.models import TENANCY, Building, Flat, Landlord, Tenancy
from safecity.store.bulk import among, chunked

log = structlog.get_logger(__name__)

SMS = "sms"
DORMANT = "housing_dormant_tenant"


def prompt_body(*, tenant: str, flat: str, building: str, days: float, alert_id: str) -> str:
    """The text asking a landlord to check out a tenant who seems to have left."""
    return (
        f"safecity: your tenant {tenant} of flat {flat}, {building}, has not used the doors for "
        f"{days:g} days. If they have moved out, check them out in the landlord app; if not, tell "
        f"your community officer. Reference {alert_id}."
    )


def landlord_prompts(session: Session, alerts: Sequence[RaisedAlert]) -> list[PersonNotice]:
    """An SMS to the landlord of each silent tenancy these alerts are about."""
    wanted = [a for a in alerts if a.finding.rule_kind == DORMANT and a.finding.ref(TENANCY)]
    ids = sorted({int(t) for a in wanted if (t := a.finding.ref(TENANCY)) and t.isdigit()})
    rows: dict[int, tuple[int, str, str, int | None]] = {}
    for part in chunked(ids):
        for tenancy_id, person_id, number, building, landlord_person in session.execute(
            select(Tenancy.id, Tenancy.person_id, Flat.number, Building.name, Landlord.person_id)
            .join(Flat, Tenancy.flat_id == Flat.id)
            .join(Building, Flat.building_id == Building.id)
            .outerjoin(Landlord, Flat.landlord_id == Landlord.id)
            .where(among(Tenancy.id, part))
        ):
            rows[tenancy_id] = (person_id, number, building, landlord_person)
    people = {
        p.id: p
        for p in registry.people_by_ids(
            session, [i for r in rows.values() for i in (r[0], r[3]) if i is not None]
        )
    }
    notices, skipped = [], []
    for alert in wanted:
        row = rows.get(int(alert.finding.ref(TENANCY) or -1))
        landlord = people.get(row[3]) if row and row[3] is not None else None
        if row is None or landlord is None or not landlord.phone:
            skipped.append(alert.alert_id)
            continue
        tenant = people.get(row[0])
        body = prompt_body(
            tenant=tenant.name if tenant else "?",
            flat=row[1],
            building=row[2],
            days=float(alert.finding.facts.get("silent_days", 0)),
            alert_id=alert.alert_id,
        )
        notices.append(PersonNotice(alert.alert_id, landlord.id, SMS, landlord.phone, body))
    if skipped:
        log.warning("landlord prompts skipped: no landlord phone", count=len(skipped), alert_ids=skipped[:10])
    if notices:
        log.info(
            "landlord prompts queued",
            count=len(notices),
            sample=[mask_phone(n.address) for n in notices[:10]],
        )
    return notices


LANDLORDS = AlertFollower(name="landlords", entity=TENANCY, notices=landlord_prompts)

__all__ = ["LANDLORDS", "landlord_prompts", "prompt_body"]
