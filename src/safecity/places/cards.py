"""Identity cards as a registration reads them: the checks that come before anything is stored.

A second-generation card's number carries the holder's birth date (digits 7-14) and sex (digit
17, odd for men); a reader that sends both lets us catch a card read wrongly or a number typed
wrongly before it opens a door. The card's own details are kept for the rental registration.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from safecity import registry
from safecity.core.ids import is_valid_id_number
from safecity.places.errors import PlacesError
from safecity.places.models import IdentityCard
from safecity.places.schemas import IdCardIn

if TYPE_CHECKING:
    from safecity.registry.models import Person

MAX_PHOTO_BYTES = 64 * 1024


def person_of(
    session: Session,
    *,
    id_number: str,
    name: str,
    phone: str | None,
    now: datetime,
    pseudonymize: registry.Pseudonymize,
    field: str,
    home_area_id: str | None = None,
) -> Person:
    """The registered person with this number, created if new (the number checked first)."""
    number = id_number.strip().upper()
    if not is_valid_id_number(number):
        raise PlacesError(
            f"{number!r} is not a valid GB 11643 identity number (18 characters, check digit last)",
            field=field,
        )
    person = registry.get_or_create_person(
        session,
        id_number=number,
        name=name,
        phone=phone,
        now=now,
        pseudonymize=pseudonymize,
        home_area_id=home_area_id,
    )
    if not same_name(person.name, name):
        # Somebody typed a number the registry knows under another name: a typo, or a number that is
        # not theirs to use. Nothing of the registry's person changes on such a claim (the caller
        # registering it is told nothing either; the community officer is warned).
        return person
    if home_area_id is not None and person.home_area_id != home_area_id:
        person.home_area_id = home_area_id  # where they live now: what bounds the cases that may reveal them
    if phone and not person.phone:
        person.phone = phone
    return person


def same_name(registered: str, given: str) -> bool:
    """Whether a name given for a number is the registry's, ignoring spaces and the case of Latin letters."""
    return "".join(registered.split()).casefold() == "".join(given.split()).casefold()


def check_card(card: IdCardIn) -> None:
    """Refuse a card whose fields contradict its number, naming the field."""
    number = card.id_number
    if card.birth_date is not None and card.birth_date.strftime("%Y%m%d") != number[6:14]:
        raise PlacesError(
            f"birth date {card.birth_date.isoformat()} does not match the identity number ({number[6:14]})",
            field="card.birth_date",
        )
    if card.sex is not None:
        male = int(number[16]) % 2 == 1
        if (card.sex in ("男", "M")) != male:
            raise PlacesError("sex does not match the identity number", field="card.sex")
    if card.valid_from and card.valid_until and card.valid_until < card.valid_from:
        raise PlacesError("the card's validity ends before it starts", field="card.valid_until")
    if card.photo is not None:
        _photo(card.photo)


def _photo(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PlacesError("the photo is not base64", field="card.photo") from None
    if len(data) > MAX_PHOTO_BYTES:
        raise PlacesError(f"the photo is larger than {MAX_PHOTO_BYTES // 1024} KiB", field="card.photo")
    if not data.startswith(b"\xff\xd8"):
        raise PlacesError("the photo is not a JPEG", field="card.photo")
    return data


def keep_card(session: Session, person_id: int, card: IdCardIn, *, by: str, now: datetime) -> IdentityCard:
    """Keep what the card said (the newest reading replaces the last)."""
    row = session.get(IdentityCard, person_id) or IdentityCard(person_id=person_id)
    row.sex = {"M": "男", "F": "女"}.get(card.sex or "", card.sex)
    row.ethnicity, row.birth_date, row.address = card.ethnicity, card.birth_date, card.address
    row.issuing_authority, row.valid_from, row.valid_until = (
        card.issuing_authority,
        card.valid_from,
        card.valid_until,
    )
    row.photo = _photo(card.photo) if card.photo is not None else row.photo
    row.read_at, row.read_by = now, by
    session.add(row)
    return row


__all__ = ["MAX_PHOTO_BYTES", "check_card", "keep_card", "person_of", "same_name"]
