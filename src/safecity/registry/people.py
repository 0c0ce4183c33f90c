"""People: who owns, rents, guards or is looked for; identity and phone numbers with their pseudonyms.

The registry does not hold the pseudonym key: callers pass `pseudonymize`, the current key's function
(`Platform.pseudonyms.pseudonym`), wherever a person is created or their numbers change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import polars as pl
from sqlalchemy import ColumnElement, Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from safecity.core.ids import is_valid_id_number
from safecity.core.kinds import SubjectKind
from safecity.registry.errors import InvalidInput
from safecity.registry.models import (
    Person,
    WatchlistEntry,
)

Pseudonymize = Callable[[str], str]  # identity or phone number -> pseudonym under the current key


def get_person(session: Session, *, person_id: int) -> Person | None:
    """Return a person by registry id."""
    return session.get(Person, person_id)


def people_by_ids(session: Session, person_ids: list[int]) -> list[Person]:
    """The people with these registry ids (those that exist)."""
    return (
        list(session.scalars(select(Person).where(Person.id.in_(sorted(set(person_ids))))))
        if person_ids
        else []
    )


def get_person_by_id_number(session: Session, *, id_number: str) -> Person | None:
    """Return the person with this identity number, if registered."""
    return session.scalars(select(Person).where(Person.id_number == id_number)).first()


def get_person_by_pseudonym(session: Session, *, pseudonym: str) -> Person | None:
    """Return the person whose identity or phone number has this pseudonym (as stored now)."""
    return session.scalars(
        select(Person).where(or_(Person.id_pseudonym == pseudonym, Person.phone_pseudonym == pseudonym))
    ).first()


def set_pseudonyms(person: Person, *, pseudonymize: Pseudonymize) -> None:
    """Recompute a person's pseudonyms from their numbers (call whenever a number changes)."""
    person.id_pseudonym = pseudonymize(person.id_number)
    person.phone_pseudonym = pseudonymize(person.phone) if person.phone else None


def get_or_create_person(
    session: Session,
    *,
    id_number: str,
    name: str,
    phone: str | None,
    now: datetime,
    pseudonymize: Pseudonymize,
    home_area_id: str | None = None,
) -> Person:
    """Return the person with this identity number, registering them first if new.

    A person found gets their pseudonyms recomputed too (written only if they changed), so that
    someone registered before the current key has pseudonyms under it from now on.
    """
    if not is_valid_id_number(id_number):
        raise InvalidInput("id_number", f"{id_number!r} is not a valid GB 11643 identity number")
    person = get_person_by_id_number(session, id_number=id_number)
    if person is None:
        person = Person(
            id_number=id_number, name=name, phone=phone, home_area_id=home_area_id, created_at=now
        )
        session.add(person)
    set_pseudonyms(person, pseudonymize=pseudonymize)
    session.flush()
    return person


@dataclass(frozen=True, slots=True)
class PersonNumbers:
    """A person's numbers, read to compute their pseudonyms."""

    id: int
    id_number: str
    phone: str | None


def _not_under(prefix: str) -> ColumnElement[bool]:
    """People whose stored pseudonyms were not made under the key whose pseudonyms start so."""
    return or_(
        Person.id_pseudonym.is_(None),
        ~Person.id_pseudonym.startswith(prefix, autoescape=True),
        Person.phone.is_not(None) & Person.phone_pseudonym.is_(None),
        ~Person.phone_pseudonym.startswith(prefix, autoescape=True),
    )


def people_numbers(
    session: Session, *, after_id: int, limit: int, not_under: str | None = None
) -> list[PersonNumbers]:
    """The next `limit` people by id after `after_id` (only those not yet under a key, if given)."""
    query = select(Person.id, Person.id_number, Person.phone).where(Person.id > after_id)
    if not_under is not None:
        query = query.where(_not_under(not_under))
    rows = session.execute(query.order_by(Person.id).limit(limit))
    return [PersonNumbers(r.id, r.id_number, r.phone) for r in rows]


def count_people_not_under(session: Session, *, prefix: str) -> int:
    """How many people's pseudonyms still need recomputing under the key with this prefix."""
    return int(session.scalar(select(func.count()).select_from(Person).where(_not_under(prefix))) or 0)


def store_pseudonyms(session: Session, rows: list[tuple[int, str, str | None]]) -> None:
    """Write (person id, identity pseudonym, phone pseudonym) rows in one executemany.

    Watchlist entries listing a person by identity pseudonym follow to the new one, so that a
    key rotation never quietly takes a watch-listed person off the list.
    """
    people = cast(Table, Person.__table__)
    before: dict[int, str] = {
        pid: old
        for pid, old in session.execute(
            select(Person.id, Person.id_pseudonym).where(Person.id.in_([r[0] for r in rows]))
        )
        if old is not None
    }
    _move_listed(session, {before[pid]: idp for pid, idp, _ in rows if pid in before and before[pid] != idp})
    session.execute(
        update(people)
        .where(people.c.id == bindparam("pid"))
        .values(id_pseudonym=bindparam("idp"), phone_pseudonym=bindparam("php")),
        [{"pid": pid, "idp": idp, "php": php} for pid, idp, php in rows],
    )


def id_pseudonym_frame(session: Session) -> pl.DataFrame:
    """Every person's identity pseudonym under the current key (person_id, card), for rules' joins."""
    rows = session.execute(
        select(Person.id, Person.id_pseudonym).where(Person.id_pseudonym.is_not(None))
    ).all()
    return pl.DataFrame(rows, schema={"person_id": pl.Int64, "card": pl.String}, orient="row")


def _move_listed(session: Session, moved: dict[str, str]) -> None:
    """Watchlist entries of identity cards listed under an old pseudonym take the new one."""
    if not moved:
        return
    entries = cast(Table, WatchlistEntry.__table__)
    listed = session.execute(
        select(entries.c.id, entries.c.subject).where(
            entries.c.subject_kind == SubjectKind.ID_CARD, entries.c.subject.in_(sorted(moved))
        )
    ).all()
    if listed:
        session.execute(
            update(entries).where(entries.c.id == bindparam("eid")).values(subject=bindparam("new")),
            [{"eid": eid, "new": moved[old]} for eid, old in listed],
        )
