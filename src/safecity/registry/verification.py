"""A person confirms a claim about them before it takes effect: a code to their phone, or in person.

Registering property to someone already in the registry, or linking an account to a person, is a
claim made by somebody else (a registrar, the account's holder). It waits here until the person
confirms it, with a six-digit code sent to their phone on record (which the claimant cannot read)
or by showing their identity card to an officer who may verify people. The code is kept only as a
salted hash; five wrong codes or the end of its time end the claim. Nothing here tells the
claimant anything about the person: only whether a code went out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from safecity.registry.errors import Conflict, InvalidInput, NotFound
from safecity.registry.messages import queue_sms
from safecity.registry.models import Person, Verification, VerificationStatus

MAX_ATTEMPTS = 5
CODE_DIGITS = 6
BIKE_OWNER = "bike_owner"  # subject: the bike's id
ACCOUNT_PERSON = "account_person"  # subject: the account's id


def _code_hash(verification_id: int, code: str) -> str:
    # Keyed by the row's own id: the same code in two claims hashes differently.
    return hashlib.sha256(f"safecity-verification:{verification_id}:{code}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Started:
    """A claim waiting for its person, and whether a code went to their phone."""

    verification: Verification
    code_sent: bool


def start(
    session: Session,
    *,
    purpose: str,
    subject: str,
    person: Person,
    requested_by: str,
    requested_unit: str,
    ttl: timedelta,
    message: str,
    now: datetime,
) -> Started:
    """Open a claim about `person` (replacing an open one about the same subject) and text them a code.

    `message` is the text sent, with `{code}` where the code goes (replaced, not formatted: the
    text may hold what a registrar typed). A person without a phone on
    record gets no code: the claim can then only be confirmed in person.
    """
    cancel(session, purpose=purpose, subject=subject, by=requested_by, now=now)
    verification = Verification(
        purpose=purpose,
        subject=subject,
        person_id=person.id,
        requested_by=requested_by,
        requested_unit=requested_unit,
        requested_at=now,
        expires_at=now + ttl,
        attempts=0,
        status=VerificationStatus.PENDING,
    )
    session.add(verification)
    session.flush()
    if not person.phone:
        return Started(verification, code_sent=False)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    verification.code_hash = _code_hash(verification.id, code)
    queue_sms(
        session,
        person_id=person.id,
        phone=person.phone,
        body=message.replace("{code}", code),
        purpose=purpose,
        now=now,
    )
    return Started(verification, code_sent=True)


def get(session: Session, *, verification_id: int) -> Verification | None:
    """A claim by id."""
    return session.get(Verification, verification_id)


def pending(session: Session, *, purpose: str, subject: str, now: datetime) -> Verification | None:
    """The open claim about a subject, if one is still in time."""
    found = session.scalars(
        select(Verification).where(
            Verification.purpose == purpose,
            Verification.subject == subject,
            Verification.status == VerificationStatus.PENDING,
        )
    ).first()
    if found is not None and found.expires_at <= now:
        found.status = VerificationStatus.EXPIRED
        return None
    return found


@dataclass(frozen=True, slots=True)
class Attempt:
    """A code tried against a claim: confirmed, or refused (a wrong try counts, so refuse after commit)."""

    confirmed: Verification | None
    refusal: InvalidInput | None = None

    def settle(self) -> Verification:
        """The confirmed claim; raise the refusal instead (call it after the transaction committed)."""
        if self.refusal is not None:
            raise self.refusal
        assert self.confirmed is not None
        return self.confirmed


def try_code(session: Session, *, purpose: str, subject: str, code: str, by: str, now: datetime) -> Attempt:
    """Try the code its person received against the open claim about `subject`.

    A wrong code counts against the claim; five end it. The refusal is returned, not raised, so
    that the caller's transaction commits the count before the caller raises it (`settle`).
    """
    found = _open(session, purpose=purpose, subject=subject, now=now)
    if found.code_hash is None:
        raise Conflict("code", "no code was sent for this claim (no phone on record): confirm it in person")
    if not hmac.compare_digest(found.code_hash, _code_hash(found.id, code.strip())):
        found.attempts += 1
        left = MAX_ATTEMPTS - found.attempts
        if left <= 0:
            found.status = VerificationStatus.EXPIRED
            return Attempt(
                None, InvalidInput("code", "wrong code, and no tries are left: the claim has ended")
            )
        tries = "try" if left == 1 else "tries"
        return Attempt(None, InvalidInput("code", f"wrong code: {left} more {tries} before the claim ends"))
    return Attempt(_decide(found, by=by, method="code", now=now))


def confirm_in_person(session: Session, *, verification_id: int, by: str, now: datetime) -> Verification:
    """Confirm a claim after seeing the person and their identity card (an officer who verifies people)."""
    found = session.get(Verification, verification_id)
    if found is None:
        raise NotFound("verification", str(verification_id))
    found = _open(session, purpose=found.purpose, subject=found.subject, now=now)
    return _decide(found, by=by, method="in_person", now=now)


def open_claims(
    session: Session, *, person_ids: list[int] | None = None, limit: int = 200
) -> list[Verification]:
    """Open claims, newest first (of these people, if given)."""
    stmt = (
        select(Verification)
        .where(Verification.status == VerificationStatus.PENDING)
        .order_by(Verification.requested_at.desc())
        .limit(limit)
    )
    if person_ids is not None:
        stmt = stmt.where(Verification.person_id.in_(person_ids))
    return list(session.scalars(stmt))


def cancel(session: Session, *, purpose: str, subject: str, by: str, now: datetime) -> None:
    """End any open claim about a subject (a newer one replaces it)."""
    session.execute(
        update(Verification)
        .where(
            Verification.purpose == purpose,
            Verification.subject == subject,
            Verification.status == VerificationStatus.PENDING,
        )
        .values(status=VerificationStatus.CANCELLED, decided_by=by, decided_at=now)
    )


def _open(session: Session, *, purpose: str, subject: str, now: datetime) -> Verification:
    found = pending(session, purpose=purpose, subject=subject, now=now)
    if found is None:
        raise Conflict(
            "code", "there is no open claim to confirm here (it was confirmed, replaced or has expired)"
        )
    return found


def _decide(found: Verification, *, by: str, method: str, now: datetime) -> Verification:
    found.status = VerificationStatus.CONFIRMED
    found.decided_by, found.decided_at, found.method = by, now, method
    return found


__all__ = [
    "ACCOUNT_PERSON",
    "BIKE_OWNER",
    "MAX_ATTEMPTS",
    "Started",
    "Attempt",
    "cancel",
    "confirm_in_person",
    "get",
    "open_claims",
    "pending",
    "start",
    "try_code",
]
