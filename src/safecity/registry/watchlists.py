"""Watchlists: listing subjects (a stolen bike's tag), closing entries, and the view rules match against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.finding import Ref, SubjectFacts
from safecity.core.ids import is_valid_plate, normalise_plate
from safecity.core.kinds import SubjectKind
from safecity.registry.bikes import require_bike
from safecity.registry.errors import Conflict, InvalidInput, NotFound
from safecity.registry.events import WATCHLIST, changed
from safecity.registry.models import (
    EBIKE,
    FACE_LISTS,
    PERSON,
    PLATE_LISTS,
    BikeStatus,
    EBike,
    Person,
    WatchlistEntry,
    WatchlistKind,
    WatchStatus,
)

DEFAULT_WATCH_DAYS = 180  # an entry (a stolen bike, a wanted person) lapses after six months unless renewed
MAX_WATCH_DAYS = 3650  # ten years: the longest any entry may match before it is listed again


@dataclass(frozen=True, slots=True)
class Listing:
    """Who lists a subject, on what basis, for how long: the same for every kind of list."""

    reported_by: str
    basis: str
    owner: str
    now: datetime
    owner_station_id: str | None = None
    valid_days: int = DEFAULT_WATCH_DAYS


def _list(
    session: Session,
    listing: Listing,
    *,
    kind: str,
    subject_kind: str,
    subject: str,
    ebike_id: int | None = None,
) -> WatchlistEntry:
    """Add an entry in force from now, after the checks every list shares (basis, validity)."""
    entry = WatchlistEntry(
        list_kind=kind,
        subject_kind=subject_kind,
        subject=subject,
        ebike_id=ebike_id,
        reported_by=listing.reported_by,
        reported_at=listing.now,
        basis=listing.basis.strip(),
        owner=listing.owner,
        owner_station_id=listing.owner_station_id,
        expires_at=listing.now + timedelta(days=listing.valid_days),
        status=WatchStatus.ACTIVE,
    )
    session.add(entry)
    session.flush()
    changed(session, WATCHLIST)
    return entry


def _check(listing: Listing, *, basis_hint: str) -> None:
    if not listing.basis.strip():
        raise InvalidInput("basis", f"say on what basis the {basis_hint}")
    if not 1 <= listing.valid_days <= MAX_WATCH_DAYS:
        raise InvalidInput("valid_days", f"an entry must be valid for 1 to {MAX_WATCH_DAYS} days")


def report_stolen(
    session: Session,
    *,
    bike_id: int,
    reported_by: str,
    basis: str,
    owner: str,
    now: datetime,
    owner_station_id: str | None = None,
    valid_days: int = DEFAULT_WATCH_DAYS,
) -> WatchlistEntry:
    """List a bike as stolen so that any station reading its tag raises an alarm."""
    listing = Listing(reported_by, basis, owner, now, owner_station_id, valid_days)
    bike = require_bike(session, bike_id=bike_id)
    _check(listing, basis_hint="bike is listed (report number, statement)")
    if get_active_entry(session, subject_kind=SubjectKind.TAG, subject=bike.tag_id, now=now):
        raise Conflict("bike_id", f"bike {bike_id} is already listed as stolen")
    entry = _list(
        session,
        listing,
        kind=WatchlistKind.STOLEN_BIKE,
        subject_kind=SubjectKind.TAG,
        subject=bike.tag_id,
        ebike_id=bike.id,
    )
    bike.status = BikeStatus.STOLEN
    return entry


def list_person(
    session: Session,
    *,
    person_id: int,
    reported_by: str,
    basis: str,
    owner: str,
    now: datetime,
    owner_station_id: str | None = None,
    valid_days: int = DEFAULT_WATCH_DAYS,
) -> WatchlistEntry:
    """List a registered person so that any door their identity card opens (or tries) raises a warning.

    The entry holds the card's pseudonym under the current key, the form door swipes reach the
    rules in (never the number: entries are listed to every officer of the station).
    """
    listing = Listing(reported_by, basis, owner, now, owner_station_id, valid_days)
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("person", str(person_id))
    if person.id_pseudonym is None:
        raise InvalidInput("person_id", f"person {person_id} has no pseudonym yet (run `safecity keys init`)")
    _check(listing, basis_hint="person is listed (case number, warrant)")
    if get_active_entry(session, subject_kind=SubjectKind.ID_CARD, subject=person.id_pseudonym, now=now):
        raise Conflict("person_id", f"person {person_id} is already listed")
    return _list(
        session,
        listing,
        kind=WatchlistKind.WANTED_PERSON,
        subject_kind=SubjectKind.ID_CARD,
        subject=person.id_pseudonym,
    )


def list_plate(session: Session, *, plate: str, list_kind: str, listing: Listing) -> WatchlistEntry:
    """List a plate (wanted, stolen, suspicious vehicle; a forged plate) for checkpoint and road cameras.

    One plate may stand on several lists (stolen and later used in a robbery), once on each.
    """
    if list_kind not in PLATE_LISTS:
        raise InvalidInput("list_kind", f"a plate is listed on one of {', '.join(sorted(PLATE_LISTS))}")
    number = normalise_plate(plate)
    if not is_valid_plate(number):
        raise InvalidInput("plate", f"{plate!r} is not a GA 36 plate such as 浙C12345 or 浙AD12345")
    _check(listing, basis_hint="plate is listed (case or report number)")
    for entry in session.scalars(
        select(WatchlistEntry).where(
            WatchlistEntry.subject_kind == SubjectKind.PLATE,
            WatchlistEntry.subject == number,
            WatchlistEntry.status == WatchStatus.ACTIVE,
            WatchlistEntry.expires_at > listing.now,
        )
    ):
        if entry.list_kind == list_kind:
            raise Conflict("plate", f"{number} is already on the {list_kind} list (entry {entry.id})")
    return _list(session, listing, kind=list_kind, subject_kind=SubjectKind.PLATE, subject=number)


def list_face(session: Session, *, reference: str, list_kind: str, listing: Listing) -> WatchlistEntry:
    """List an enrolled face (a fugitive, a missing person) by its reference; the descriptor and
    photos are the recognition capability's, keyed by this entry."""
    if list_kind not in FACE_LISTS:
        raise InvalidInput("list_kind", f"a face is listed on one of {', '.join(sorted(FACE_LISTS))}")
    _check(listing, basis_hint="face is listed (warrant, case or missing-person report number)")
    return _list(session, listing, kind=list_kind, subject_kind=SubjectKind.FACE, subject=reference)


def get_active_entry(
    session: Session, *, subject_kind: str, subject: str, now: datetime
) -> WatchlistEntry | None:
    """Return the active, unexpired entry listing this subject, if any."""
    return session.scalars(
        select(WatchlistEntry).where(
            WatchlistEntry.subject_kind == subject_kind,
            WatchlistEntry.subject == subject,
            WatchlistEntry.status == WatchStatus.ACTIVE,
            WatchlistEntry.expires_at > now,
        )
    ).first()


def require_entry(session: Session, *, entry_id: int) -> WatchlistEntry:
    """Return the watchlist entry or raise NotFound."""
    entry = session.get(WatchlistEntry, entry_id)
    if entry is None:
        raise NotFound("watchlist entry", str(entry_id))
    return entry


def close_entry(
    session: Session, *, entry_id: int, status: WatchStatus, by: str, note: str, now: datetime
) -> WatchlistEntry:
    """Close an entry as recovered or withdrawn; it stops matching at once."""
    if status is WatchStatus.ACTIVE:
        raise InvalidInput("status", "an entry can be closed as recovered or withdrawn only")
    entry = require_entry(session, entry_id=entry_id)
    if entry.status != WatchStatus.ACTIVE:
        raise Conflict("status", f"entry {entry_id} is already {entry.status}")
    entry.status, entry.closed_at, entry.closed_by, entry.close_note = status, now, by, note
    if entry.ebike_id is not None:
        require_bike(session, bike_id=entry.ebike_id).status = BikeStatus.REGISTERED
    session.flush()
    changed(session, WATCHLIST)
    return entry


WATCHLIST_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "subject_kind": pl.String,
    "subject": pl.String,
    "entry_id": pl.Int64,
    "list_kind": pl.String,
    "ebike_id": pl.Int64,
    "valid_from": pl.Datetime("us", "UTC"),
    "valid_until": pl.Datetime("us", "UTC"),
}


def _watchlist_frame(rows: list[WatchlistEntry]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (
                e.subject_kind,
                e.subject,
                e.id,
                e.list_kind,
                e.ebike_id,
                e.reported_at,
                min(e.closed_at, e.expires_at) if e.closed_at else e.expires_at,
            )
            for e in rows
        ],
        schema=WATCHLIST_SCHEMA,
        orient="row",
    )


def active_watchlist(session: Session, *, now: datetime) -> pl.DataFrame:
    """Entries that match now, with their validity interval, as a frame rules join against."""
    return _watchlist_frame(
        list(
            session.scalars(
                select(WatchlistEntry).where(
                    WatchlistEntry.status == WatchStatus.ACTIVE, WatchlistEntry.expires_at > now
                )
            )
        )
    )


def watchlist_between(session: Session, *, start: datetime, end: datetime) -> pl.DataFrame:
    """Every entry that was in force at some moment of [start, end), closed ones included (backtests)."""
    entries = session.scalars(
        select(WatchlistEntry).where(WatchlistEntry.reported_at < end, WatchlistEntry.expires_at > start)
    )
    return _watchlist_frame([e for e in entries if e.closed_at is None or e.closed_at > start])


def entry_facts(session: Session, *, entry_ids: list[int]) -> dict[int, SubjectFacts]:
    """What the registry says about listed subjects: the basis of the listing, the bike, its owner."""
    facts: dict[int, SubjectFacts] = {}
    for entry in session.scalars(select(WatchlistEntry).where(WatchlistEntry.id.in_(entry_ids))):
        fact: dict[str, object] = {
            "watchlist_entry_id": entry.id,
            "list": entry.list_kind,
            "reported_at": entry.reported_at.isoformat(),
            "reported_by": entry.reported_by,
            "basis": entry.basis,
            "entry_owner": entry.owner,
            "expires_at": entry.expires_at.isoformat(),
        }
        refs: list[Ref] = []
        if entry.subject_kind == SubjectKind.ID_CARD:
            person = session.scalars(select(Person).where(Person.id_pseudonym == entry.subject)).first()
            if person is not None:
                refs.append(Ref(PERSON, str(person.id)))
                fact["person_id"] = person.id
        if entry.ebike_id is not None:
            bike = session.get(EBike, entry.ebike_id)
            if bike is not None:
                refs.append(Ref(EBIKE, str(bike.id)))
                if bike.owner_id is not None:
                    refs.append(Ref(PERSON, str(bike.owner_id)))
                fact.update(
                    ebike_id=bike.id,
                    tag_id=bike.tag_id,
                    model=bike.model,
                    colour=bike.colour,
                    frame_number=bike.frame_number,
                    owner_person_id=bike.owner_id,
                )
        facts[entry.id] = SubjectFacts(fact, tuple(refs))
    return facts
