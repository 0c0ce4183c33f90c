"""Who a citizen account speaks for is decided by that person, and claims wait at the verification desk.

A citizen account reads a person's bikes and who looked at their data, so it is linked to a
registry person only through a verification the person controls: the account's holder names an
identity number, and a code goes to the phone on record for that number (the same answer whether
or not the number is registered, so that nobody learns who is); the code links the account. A
person without a phone on record, or who prefers it, confirms at a police station, where an
officer who may verify people (`people.verify`) checks their identity card against the claim.
The same desk confirms bikes registered to a person by someone else (registry.claims).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity import registry
from safecity.core.context import Context
from safecity.core.masking import mask_id_number
from safecity.registry import NotFound, verification
from safecity.security.audit import AuditEntry, subject
from safecity.security.errors import AccessDenied, AccountError
from safecity.security.models import Account
from safecity.security.roles import Permission, Role
from safecity.security.service import Security
from safecity.store import transaction

if TYPE_CHECKING:
    from safecity.registry.models import Person, Verification

LINK_TTL = timedelta(minutes=15)
LINK_SMS = (
    "safecity: {code} is the code that links your identity to the account '{account}' (valid 15 min). "
    "If you did not ask for this, ignore it and tell no one the code."
)
# What the holder of an account is told after naming a number: the same whatever the number.
LINK_REQUESTED = (
    "If this identity number is registered with a phone, a code has been sent to that phone: enter it "
    "to link your account. Without a phone on record, confirm at a police station with your identity card."
)


def _citizen(session: Session, ctx: Context) -> Account:
    if ctx.account_id is None or ctx.role != Role.CITIZEN.value:
        raise AccessDenied("forbidden", "only a citizen account is linked to a person")
    account = session.get(Account, ctx.account_id)
    if account is None:
        raise AccessDenied("forbidden", "this account no longer exists")
    if account.person_id is not None:
        raise AccountError("this account is already linked to a person", field="id_number", status=409)
    return account


def request_link(security: Security, ctx: Context, id_number: str, *, resource: str) -> str:
    """Start linking the caller's citizen account to the person of `id_number`; what to tell them."""
    number = id_number.strip().upper()
    now = security.now()
    with transaction(security.session_factory) as session:
        account = _citizen(session, ctx)
        person = registry.get_person_by_id_number(session, id_number=number)
        if person is not None:
            verification.start(
                session,
                purpose=verification.ACCOUNT_PERSON,
                subject=str(account.id),
                person=person,
                requested_by=ctx.actor,
                requested_unit="",
                ttl=LINK_TTL,
                message=LINK_SMS.replace("{account}", account.username),
                now=now,
            )
        named = [subject("person", person.id)] if person is not None else []
    # The person named sees in their own access log that someone asked to be linked to them.
    security.record(ctx, AuditEntry("me.link_requested", resource, status=202, subjects=named))
    return LINK_REQUESTED


def confirm_link(security: Security, ctx: Context, code: str, *, resource: str) -> int:
    """Link the caller's account to the person whose phone received `code`; returns the person's id."""
    with transaction(security.session_factory) as session:
        account = _citizen(session, ctx)
        attempt = verification.try_code(
            session,
            purpose=verification.ACCOUNT_PERSON,
            subject=str(account.id),
            code=code,
            by=ctx.actor,
            now=security.now(),
        )
        if attempt.confirmed is not None:
            _link(session, account, attempt.confirmed.person_id)
    person_id = attempt.settle().person_id
    security.record(
        ctx,
        AuditEntry("me.linked", resource, subjects=[subject("person", person_id)], detail={"method": "code"}),
    )
    return person_id


def _link(session: Session, account: Account, person_id: int) -> None:
    taken = session.scalars(
        select(Account.username).where(Account.person_id == person_id, Account.id != account.id)
    ).first()
    if taken is not None:
        raise AccountError("this person is already linked to another account", field="code", status=409)
    account.person_id = person_id


@dataclass(frozen=True, slots=True)
class Claim:
    """An open claim as the verification desk shows it: enough to compare with an identity card."""

    id: int
    purpose: str
    subject: str
    person_name: str
    id_number: str  # masked: the card in front of the officer shows it in full
    requested_by: str
    requested_unit: str
    requested_at: datetime
    expires_at: datetime


def open_claims(security: Security, ctx: Context, *, resource: str) -> list[Claim]:
    """Open claims about people of the caller's areas, newest first; the read is audited."""
    _may_verify(ctx)
    with security.session_factory() as session:
        found = verification.open_claims(session)
        people = {p.id: p for p in registry.people_by_ids(session, [v.person_id for v in found])}
        mine = [v for v in found if v.person_id in people and ctx.reaches(people[v.person_id].home_area_id)]
        claims = [_claim(v, people[v.person_id]) for v in mine]
    shown = sorted({v.person_id for v in mine})
    security.record(
        ctx,
        AuditEntry(
            "verifications.read",
            resource,
            subjects=[subject("person", p) for p in shown],
            result_count=len(claims),
            purpose="in-person verification",
        ),
    )
    return claims


def confirm_in_person(security: Security, ctx: Context, claim_id: int, *, resource: str) -> Claim:
    """Confirm a claim after checking the person's identity card at the desk; it takes effect at once."""
    _may_verify(ctx)
    now = security.now()
    with transaction(security.session_factory) as session:
        person_id = _claim_person(session, claim_id)
        person = registry.get_person(session, person_id=person_id)
        assert person is not None
        ctx.require_area(person.home_area_id, what=f"claim {claim_id}")
        done = verification.confirm_in_person(session, verification_id=claim_id, by=ctx.actor, now=now)
        if done.purpose == verification.ACCOUNT_PERSON:
            account = session.get(Account, int(done.subject))
            if account is None:
                raise NotFound("account", done.subject)
            _link(session, account, person_id)
        elif done.purpose == verification.BIKE_OWNER:
            registry.attach_owner(
                session, registry.require_bike(session, bike_id=int(done.subject)), person_id
            )
        claim = _claim(done, person)
    security.record(
        ctx,
        AuditEntry(
            "verifications.confirm",
            resource,
            subjects=[subject("person", person_id)],
            detail={
                "claim": claim_id,
                "purpose": done.purpose,
                "subject": done.subject,
                "method": "in_person",
            },
        ),
    )
    return claim


def _claim(found: Verification, person: Person) -> Claim:
    return Claim(
        found.id,
        found.purpose,
        found.subject,
        person.name,
        mask_id_number(person.id_number) or "",
        found.requested_by,
        found.requested_unit,
        found.requested_at,
        found.expires_at,
    )


def _may_verify(ctx: Context) -> None:
    if not ctx.can(Permission.PEOPLE_VERIFY):
        raise AccessDenied("forbidden", f"your role ({ctx.role}) may not verify people")


def _claim_person(session: Session, claim_id: int) -> int:
    found = verification.get(session, verification_id=claim_id)
    if found is None:
        raise NotFound("claim", str(claim_id))
    return found.person_id


__all__ = [
    "LINK_REQUESTED",
    "Claim",
    "confirm_in_person",
    "confirm_link",
    "open_claims",
    "request_link",
]
