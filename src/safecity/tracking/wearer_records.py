"""The data side of wearers: people resolved, trackers checked, guardian and consent rows, answers shaped.

No caller, no audit here: the use cases (tracking/wearers.py) decide who may act and record it;
these functions check what is given against the registry and write inside their transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity import registry
from safecity.core.ids import is_valid_id_number
from safecity.core.masking import mask_id_number, mask_phone
from safecity.tracking.errors import TrackingError
from safecity.tracking.models import Consent, Guardian, Wearer, WearerStatus, WornTracker
from safecity.tracking.wearer_errors import WearerConflict
from safecity.tracking.wearer_schemas import ConsentIn, ConsentOut, GuardianIn, GuardianOut, WearerOut

if TYPE_CHECKING:
    from safecity.registry.models import Person

TRACKER_KIND = "tracker"
ACTIVE_DEVICE = "active"


def person_of(
    session: Session,
    *,
    id_number: str,
    name: str,
    phone: str | None,
    now: datetime,
    pseudonymize: registry.Pseudonymize,
    field: str,
) -> Person:
    """The registered person with this number, created if new (the number checked first, naming `field`)."""
    number = id_number.strip().upper()
    if not is_valid_id_number(number):
        raise TrackingError(
            f"{number!r} is not a valid GB 11643 identity number (18 characters, check digit last)",
            field=field,
        )
    person = registry.get_or_create_person(
        session, id_number=number, name=name, phone=phone, now=now, pseudonymize=pseudonymize
    )
    if phone and not person.phone:
        person.phone = phone
    return person


def check_trackers(session: Session, device_ids: Sequence[str], *, wearer_id: int | None = None) -> None:
    """Refuse devices that are unknown, not trackers, revoked, or worn by another wearer now."""
    if len(set(device_ids)) != len(device_ids):
        raise TrackingError("a tracker is named twice", field="device_ids")
    for n, device_id in enumerate(device_ids):
        field = f"device_ids.{n}"
        device = registry.get_device(session, device_id=device_id)
        if device is None:
            raise TrackingError(f"there is no registered device {device_id!r}", field=field)
        if device.kind != TRACKER_KIND:
            raise TrackingError(f"device {device_id} is a {device.kind}, not a tracker", field=field)
        if device.status != ACTIVE_DEVICE:
            raise TrackingError(f"device {device_id} is {device.status}", field=field)
        worn_by = session.scalar(
            select(WornTracker.wearer_id)
            .join(Wearer, Wearer.id == WornTracker.wearer_id)
            .where(
                WornTracker.device_id == device_id,
                WornTracker.removed_at.is_(None),
                Wearer.status == WearerStatus.ACTIVE,
            )
        )
        if worn_by is not None and worn_by != wearer_id:
            raise WearerConflict(f"tracker {device_id} is worn by wearer {worn_by}", field=field)


def add_guardian(
    session: Session,
    wearer: Wearer,
    body: GuardianIn,
    *,
    now: datetime,
    by: str,
    pseudonymize: registry.Pseudonymize,
    field: str = "id_number",
) -> tuple[Guardian, Person]:
    """A guardian row for the person of `body` (refused if they guard the wearer already, or are them)."""
    person = person_of(
        session,
        id_number=body.id_number,
        name=body.name,
        phone=body.phone,
        now=now,
        pseudonymize=pseudonymize,
        field=field,
    )
    if person.id == wearer.person_id:
        raise TrackingError("a wearer cannot be their own guardian", field=field)
    taken = session.scalar(
        select(Guardian.id).where(
            Guardian.wearer_id == wearer.id, Guardian.person_id == person.id, Guardian.removed_at.is_(None)
        )
    )
    if taken is not None:
        raise WearerConflict("this person is a guardian of the wearer already", field=field)
    row = Guardian(
        wearer_id=wearer.id,
        person_id=person.id,
        relation=body.relation,
        phone=body.phone,
        added_at=now,
        added_by=by,
    )
    session.add(row)
    session.flush()
    return row, person


def add_consent(
    session: Session,
    wearer_id: int,
    body: ConsentIn,
    *,
    now: datetime,
    by: str,
    pseudonymize: registry.Pseudonymize,
    prefix: str = "",
) -> Consent:
    """A consent row as given (not dated in the future); `prefix` places its fields in the request."""
    given_at = body.given_at or now
    if given_at > now:
        raise TrackingError("a consent cannot be given in the future", field=f"{prefix}given_at")
    person = person_of(
        session,
        id_number=body.given_by_id_number,
        name=body.given_by_name,
        phone=None,
        now=now,
        pseudonymize=pseudonymize,
        field=f"{prefix}given_by_id_number",
    )
    row = Consent(
        wearer_id=wearer_id,
        given_by_person_id=person.id,
        given_by_name=body.given_by_name,
        capacity=body.capacity.value,
        basis=body.basis,
        given_at=given_at,
        recorded_by=by,
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    return row


def has_consent(session: Session, wearer_id: int) -> bool:
    """Whether a consent to watch the wearer is recorded and not withdrawn."""
    found = session.scalar(
        select(Consent.id).where(Consent.wearer_id == wearer_id, Consent.withdrawn_at.is_(None)).limit(1)
    )
    return found is not None


def worn_devices(session: Session, wearer_ids: Sequence[int]) -> dict[int, list[str]]:
    """The trackers each wearer wears now."""
    worn: dict[int, list[str]] = {w: [] for w in wearer_ids}
    if not wearer_ids:
        return worn
    rows = session.execute(
        select(WornTracker.wearer_id, WornTracker.device_id)
        .where(WornTracker.wearer_id.in_(list(wearer_ids)), WornTracker.removed_at.is_(None))
        .order_by(WornTracker.id)
    )
    for wearer_id, device_id in rows:
        worn[wearer_id].append(device_id)
    return worn


def wearers_out(session: Session, wearers: Sequence[Wearer]) -> list[WearerOut]:
    """Wearers as answered: names and masked numbers from the registry, their trackers and consent."""
    ids = [w.id for w in wearers]
    people = {p.id: p for p in registry.people_by_ids(session, sorted({w.person_id for w in wearers}))}
    devices = worn_devices(session, ids)
    consented = (
        set(
            session.scalars(
                select(Consent.wearer_id).where(Consent.wearer_id.in_(ids), Consent.withdrawn_at.is_(None))
            )
        )
        if ids
        else set()
    )
    return [
        WearerOut(
            id=w.id,
            person_id=w.person_id,
            name=people[w.person_id].name,
            id_number=mask_id_number(people[w.person_id].id_number) or "",
            area_id=w.area_id,
            device_ids=devices[w.id],
            notes=w.notes,
            status=w.status,
            consent_in_force=w.id in consented,
            enrolled_at=w.enrolled_at,
            enrolled_by=w.enrolled_by,
        )
        for w in wearers
    ]


def guardians_out(session: Session, rows: Sequence[Guardian]) -> list[GuardianOut]:
    """Guardians as answered (phones masked)."""
    people = {p.id: p for p in registry.people_by_ids(session, sorted({g.person_id for g in rows}))}
    return [
        GuardianOut(
            id=g.id,
            wearer_id=g.wearer_id,
            person_id=g.person_id,
            name=people[g.person_id].name,
            relation=g.relation,
            phone=mask_phone(g.phone) or "",
            added_at=g.added_at,
            removed_at=g.removed_at,
        )
        for g in rows
    ]


def consent_out(row: Consent) -> ConsentOut:
    """A consent as answered."""
    return ConsentOut.model_validate(row, from_attributes=True)


__all__ = [
    "add_consent",
    "add_guardian",
    "check_trackers",
    "consent_out",
    "guardians_out",
    "has_consent",
    "person_of",
    "wearers_out",
    "worn_devices",
]
