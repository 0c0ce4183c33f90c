"""E-bikes: registration of a bike (its RFID tag, frame number and owner) and lookups by tag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.core.ids import is_valid_id_number, is_valid_subject
from safecity.core.kinds import SubjectKind
from safecity.registry.errors import Conflict, InvalidInput, NotFound
from safecity.registry.models import (
    BikeStatus,
    EBike,
)
from safecity.registry.people import Pseudonymize, get_or_create_person, get_person_by_id_number


def get_bike_by_tag(session: Session, *, tag_id: str) -> EBike | None:
    """Return the bike carrying this tag."""
    return session.scalars(select(EBike).where(EBike.tag_id == tag_id)).first()


def bikes_of(session: Session, *, owner_id: int) -> list[EBike]:
    """The bikes a person owns, by id."""
    return list(session.scalars(select(EBike).where(EBike.owner_id == owner_id).order_by(EBike.id)))


def find_bikes(
    session: Session,
    *,
    bike_id: int | None = None,
    tag: str | None = None,
    frame: str | None = None,
    limit: int = 50,
) -> list[EBike]:
    """Bikes matching every criterion given (exact tag, exact frame number), by id."""
    stmt = select(EBike).order_by(EBike.id).limit(limit)
    if bike_id is not None:
        stmt = stmt.where(EBike.id == bike_id)
    if tag:
        stmt = stmt.where(EBike.tag_id == tag.strip().upper())
    if frame:
        stmt = stmt.where(EBike.frame_number == frame.strip())
    return list(session.scalars(stmt))


def first_owner(session: Session) -> int | None:
    """The owner of the first registered bike, if any (the demo links a citizen account to them)."""
    return session.scalars(select(EBike.owner_id).order_by(EBike.id)).first()


def require_bike(session: Session, *, bike_id: int) -> EBike:
    """Return the bike or raise NotFound."""
    bike = session.get(EBike, bike_id)
    if bike is None:
        raise NotFound("bike", str(bike_id))
    return bike


@dataclass(frozen=True, slots=True)
class BikeRegistration:
    """Everything needed to register an e-bike and its owner."""

    tag_id: str
    frame_number: str
    model: str
    colour: str
    owner_id_number: str
    owner_name: str
    owner_phone: str | None = None


def register_bike(
    session: Session,
    *,
    reg: BikeRegistration,
    by: str,
    now: datetime,
    pseudonymize: Pseudonymize,
    home_area_id: str | None = None,
    unconfirmed: bool = False,
) -> EBike:
    """Register an e-bike to its owner (created if new, living in `home_area_id`); tag and frame unused.

    With `unconfirmed` (a claim by someone who is not the owner), a bike named to a person already
    in the registry is registered without an owner: the person confirms it first (registry.claims).
    """
    tag = reg.tag_id.strip().upper()
    if not is_valid_subject(SubjectKind.TAG, tag):
        raise InvalidInput("tag_id", f"{reg.tag_id!r} is not a tag id (8 to 16 hexadecimal digits)")
    if not reg.frame_number.strip():
        raise InvalidInput("frame_number", "the frame number is required")
    # Checked here, not only in get_or_create_person, so the error names this input's field.
    if not is_valid_id_number(reg.owner_id_number):
        raise InvalidInput(
            "owner_id_number", f"{reg.owner_id_number!r} is not a valid GB 11643 identity number"
        )
    if get_bike_by_tag(session, tag_id=tag) is not None:
        raise Conflict("tag_id", f"tag {tag} is already fitted to a registered bike")
    known = get_person_by_id_number(session, id_number=reg.owner_id_number)
    owner = get_or_create_person(
        session,
        id_number=reg.owner_id_number,
        name=reg.owner_name,
        phone=reg.owner_phone,
        now=now,
        pseudonymize=pseudonymize,
        home_area_id=home_area_id,
    )
    bike = EBike(
        tag_id=tag,
        owner_id=None if unconfirmed and known is not None else owner.id,
        frame_number=reg.frame_number.strip(),
        model=reg.model.strip(),
        colour=reg.colour.strip(),
        status=BikeStatus.REGISTERED,
        registered_at=now,
        registered_by=by,
    )
    session.add(bike)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("frame_number", f"frame number {reg.frame_number} is already registered") from exc
    return bike
