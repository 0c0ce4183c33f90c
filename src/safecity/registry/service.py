"""Registry use cases: register people, bikes and devices; list and unlist stolen bikes.

People carry keyed pseudonyms of their identity and phone numbers (the lake holds only those).
The registry does not hold the key: callers pass `pseudonymize`, the current key's function
(`Platform.pseudonyms.pseudonym`), wherever a person is created or their numbers change.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import polars as pl
from sqlalchemy import ColumnElement, Table, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.core.ids import is_valid_id_number, is_valid_subject
from safecity.core.kinds import SubjectKind
from safecity.registry.errors import Conflict, InvalidInput, NotFound
from safecity.registry.models import (
    Area,
    BikeStatus,
    Device,
    DeviceStatus,
    EBike,
    Person,
    WatchlistEntry,
    WatchlistKind,
    WatchStatus,
)

DEFAULT_WATCH_DAYS = 180  # a stolen-bike entry lapses after six months unless renewed

Pseudonymize = Callable[[str], str]  # identity or phone number -> pseudonym under the current key


def hash_secret(secret: str) -> str:
    """Hash a device secret (256-bit random, so a fast hash is enough; no salt needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_secret_valid(secret: str, secret_hash: str | None) -> bool:
    """Compare a presented secret with a stored hash in constant time."""
    return secret_hash is not None and hmac.compare_digest(hash_secret(secret), secret_hash)


# --- people -----------------------------------------------------------------------------


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
    """Write (person id, identity pseudonym, phone pseudonym) rows in one executemany."""
    people = cast(Table, Person.__table__)
    session.execute(
        update(people)
        .where(people.c.id == bindparam("pid"))
        .values(id_pseudonym=bindparam("idp"), phone_pseudonym=bindparam("php")),
        [{"pid": pid, "idp": idp, "php": php} for pid, idp, php in rows],
    )


# --- e-bikes ------------------------------------------------------------------------------


def get_bike_by_tag(session: Session, *, tag_id: str) -> EBike | None:
    """Return the bike carrying this tag."""
    return session.scalars(select(EBike).where(EBike.tag_id == tag_id)).first()


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
    session: Session, *, reg: BikeRegistration, by: str, now: datetime, pseudonymize: Pseudonymize
) -> EBike:
    """Register an e-bike to its owner (created if new); tag and frame number must be unused."""
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
    owner = get_or_create_person(
        session,
        id_number=reg.owner_id_number,
        name=reg.owner_name,
        phone=reg.owner_phone,
        now=now,
        pseudonymize=pseudonymize,
    )
    bike = EBike(
        tag_id=tag,
        owner_id=owner.id,
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


# --- watchlist ----------------------------------------------------------------------------


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
    bike = require_bike(session, bike_id=bike_id)
    if not basis.strip():
        raise InvalidInput("basis", "say on what basis the bike is listed (report number, statement)")
    if not 1 <= valid_days <= 3650:
        raise InvalidInput("valid_days", "an entry must be valid for 1 to 3650 days")
    if get_active_entry(session, subject_kind=SubjectKind.TAG, subject=bike.tag_id, now=now):
        raise Conflict("bike_id", f"bike {bike_id} is already listed as stolen")
    entry = WatchlistEntry(
        list_kind=WatchlistKind.STOLEN_BIKE,
        subject_kind=SubjectKind.TAG,
        subject=bike.tag_id,
        ebike_id=bike.id,
        reported_by=reported_by,
        reported_at=now,
        basis=basis.strip(),
        owner=owner,
        owner_station_id=owner_station_id,
        expires_at=now + timedelta(days=valid_days),
        status=WatchStatus.ACTIVE,
    )
    bike.status = BikeStatus.STOLEN
    session.add(entry)
    session.flush()
    return entry


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


def entry_facts(session: Session, *, entry_ids: list[int]) -> dict[int, dict[str, object]]:
    """What the registry says about listed subjects: the basis of the listing and the bike."""
    facts: dict[int, dict[str, object]] = {}
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
        if entry.ebike_id is not None:
            bike = session.get(EBike, entry.ebike_id)
            if bike is not None:
                fact.update(
                    ebike_id=bike.id,
                    tag_id=bike.tag_id,
                    model=bike.model,
                    colour=bike.colour,
                    frame_number=bike.frame_number,
                    owner_person_id=bike.owner_id,
                )
        facts[entry.id] = fact
    return facts


# --- devices ------------------------------------------------------------------------------


def create_device(
    session: Session,
    *,
    device_id: str,
    kind: str,
    name: str,
    lat: float | None,
    lon: float | None,
    area_id: str | None,
    now: datetime,
) -> tuple[Device, str]:
    """Register a device; returns it with its new secret, which is shown only this once."""
    if not is_valid_subject(SubjectKind.DEVICE, device_id):
        raise InvalidInput("device_id", f"{device_id!r} is not a device id (1 to 64 of A-Z a-z 0-9 _ . : -)")
    if session.get(Device, device_id) is not None:
        raise Conflict("device_id", f"device {device_id} already exists")
    secret = secrets.token_urlsafe(32)
    device = Device(
        id=device_id,
        kind=kind,
        name=name,
        lat=lat,
        lon=lon,
        area_id=area_id,
        status=DeviceStatus.ACTIVE,
        secret_hash=hash_secret(secret),
        registered_at=now,
    )
    session.add(device)
    session.flush()
    return device, secret


def rotate_device_secret(session: Session, *, device_id: str) -> str:
    """Give a device a new secret (the old one stops working at once) and return it."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("device", device_id)
    secret = secrets.token_urlsafe(32)
    device.secret_hash = hash_secret(secret)
    return secret


DEVICE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "device": pl.String,
    "device_kind": pl.String,
    "dev_lat": pl.Float64,
    "dev_lon": pl.Float64,
    "area": pl.String,
    "active": pl.Boolean,
    "secret_hash": pl.String,
}


def device_directory(session: Session) -> pl.DataFrame:
    """Every device with its place, area and state, for vectorised joins at ingest."""
    rows = session.execute(
        select(
            Device.id,
            Device.kind,
            Device.lat,
            Device.lon,
            Device.area_id,
            Device.status == DeviceStatus.ACTIVE,
            Device.secret_hash,
        )
    ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=DEVICE_SCHEMA, orient="row")


# --- areas --------------------------------------------------------------------------------


def get_area(session: Session, *, area_id: str) -> Area | None:
    """Return an area by id."""
    return session.get(Area, area_id)


def station_of_area(session: Session, *, area_id: str | None) -> Area | None:
    """Return the police station answerable for an area (walking up the hierarchy)."""
    seen: set[str] = set()
    while area_id and area_id not in seen:
        seen.add(area_id)
        area = session.get(Area, area_id)
        if area is None:
            return None
        if area.station_id:
            return session.get(Area, area.station_id)
        area_id = area.parent_id
    return None


def stations_of_areas(session: Session, *, area_ids: set[str]) -> dict[str, tuple[str, str] | None]:
    """(station id, station name) answerable for each area, walking up the hierarchy.

    Reads only the areas on the way (a query per level, usually two), not the whole table: a
    Wenzhou-sized city has tens of thousands of areas and alerts arrive many times a second.
    """
    if not area_ids:
        return {}
    rows: dict[str, Any] = {}
    wanted = set(area_ids)
    while wanted:
        found = session.execute(
            select(Area.id, Area.parent_id, Area.station_id, Area.name).where(Area.id.in_(sorted(wanted)))
        ).all()
        rows.update((r.id, r) for r in found)
        wanted = set()
        for r in found:
            for up in (r.parent_id, r.station_id):
                if up and up not in rows:
                    wanted.add(up)
    out: dict[str, tuple[str, str] | None] = {}
    for start in area_ids:
        area_id: str | None = start
        seen: set[str] = set()
        station: tuple[str, str] | None = None
        while area_id and area_id not in seen and area_id in rows:
            seen.add(area_id)
            station_id = rows[area_id].station_id
            if station_id:
                station = (station_id, rows[station_id].name) if station_id in rows else None
                break
            area_id = rows[area_id].parent_id
        out[start] = station
    return out
