"""The registry's use cases: register bikes, list stolen bikes and wanted people, close entries, manage
devices, read areas.

Each takes the caller's `Context`, checks what depends on the data (the area a station, entry or
device belongs to), does the whole change in one transaction, and hands the audit record to the
`Recorder` it was built with. The HTTP routes and the command line only parse and shape; what a
person-level read of a bike's owner needs (a case, a purpose) is `safecity.investigation`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry, Outcome, Recorder, subject
from safecity.core.context import Context
from safecity.core.errors import AccessDenied
from safecity.core.ids import is_valid_id_number
from safecity.core.kinds import SubjectKind
from safecity.registry import verification
from safecity.registry.area_import import AreaLocator, ImportReport, import_areas, parse_features
from safecity.registry.areas import stations_of_areas
from safecity.registry.bikes import BikeRegistration, bikes_of, register_bike, require_bike
from safecity.registry.city_map import city_map
from safecity.registry.claims import CLAIM_TTL, attach_owner, claim_sms
from safecity.registry.devices import create_device, revoke_device, rotate_device_secret
from safecity.registry.errors import Conflict, InvalidInput, NotFound
from safecity.registry.gateway import SmsGateway
from safecity.registry.models import Area, Device, EBike, Person, WatchlistEntry, WatchStatus
from safecity.registry.people import Pseudonymize, get_person_by_id_number
from safecity.registry.schemas import (
    AreaOut,
    BikeOut,
    DeviceIn,
    DeviceOut,
    EntryOut,
    TerminalOut,
    bike_view,
    person_view,
)
from safecity.registry.terminals import register_terminal
from safecity.registry.watchlists import (
    DEFAULT_WATCH_DAYS,
    Listing,
    close_entry,
    get_active_entry,
    list_person,
    list_plate,
    report_stolen,
    require_entry,
)
from safecity.store import transaction

Expand = Callable[[Iterable[str]], frozenset[str]]  # areas -> those areas and everything inside them


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A device and its new secret (shown once, never stored)."""

    device: DeviceOut
    secret: str


@dataclass(frozen=True, slots=True)
class Stolen:
    """A stolen-bike report as given; `owner` defaults to the caller."""

    reported_by: str
    basis: str
    owner: str | None = None
    owner_station_id: str | None = None
    valid_days: int = DEFAULT_WATCH_DAYS


@dataclass(frozen=True, slots=True)
class Wanted:
    """A person to list as wanted, by identity number; the entry keeps only their card's pseudonym.

    `owner_station_id` defaults to the lister's own station (it must be in their reach).
    """

    id_number: str
    basis: str
    valid_days: int = DEFAULT_WATCH_DAYS
    owner_station_id: str | None = None

    def __repr__(self) -> str:  # never the number, should the request end up in a log or a trace
        return f"Wanted(basis={self.basis[:40]!r}, valid_days={self.valid_days})"


@dataclass(frozen=True, slots=True)
class PlateListing:
    """A plate to put on a vehicle list (wanted, stolen, suspicious; a forged plate).

    `owner_station_id` defaults to the lister's own station (it must be in their reach).
    """

    plate: str
    list_kind: str
    basis: str
    valid_days: int = DEFAULT_WATCH_DAYS
    owner_station_id: str | None = None


class Registry:
    """The registry's use cases over one database."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        *,
        now: Callable[[], datetime],
        pseudonymize: Pseudonymize,
        expand: Expand,
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now
        self._pseudonymize = pseudonymize
        self._expand = expand
        self.sms = SmsGateway(session_factory, now=now)  # what the SMS gateway device may do

    # --- bikes -------------------------------------------------------------------------------

    def register_bike(
        self, ctx: Context, reg: BikeRegistration, *, owner_area_id: str | None = None, resource: str
    ) -> BikeOut:
        """Register a bike; a new owner is created, an owner already registered must confirm first.

        The answer shows back only what the registrar entered: for a new owner, their masked
        numbers; for one already in the registry, nothing about them but how they will confirm
        (a code to their phone on record, or in person), never what the registry holds.
        """
        home = self._owner_home(ctx, owner_area_id)
        now = self._now()
        with transaction(self._sessions) as session:
            if home is not None and session.get(Area, home) is None:
                raise InvalidInput("owner_area_id", f"there is no area {home!r}")
            bike = register_bike(
                session,
                reg=reg,
                by=ctx.actor,
                now=now,
                pseudonymize=self._pseudonymize,
                home_area_id=home,
                unconfirmed=True,
            )
            person = bike.owner or get_person_by_id_number(session, id_number=reg.owner_id_number)
            assert person is not None
            if bike.owner is not None:
                out = bike_view(bike, owner=person_view(bike.owner, full=False))
            else:
                started = verification.start(
                    session,
                    purpose=verification.BIKE_OWNER,
                    subject=str(bike.id),
                    person=person,
                    requested_by=ctx.actor,
                    requested_unit=ctx.unit,
                    ttl=CLAIM_TTL,
                    message=claim_sms(ctx.unit or ctx.actor, bike),
                    now=now,
                )
                out = bike_view(bike, owner_pending="code_sent" if started.code_sent else "in_person")
            person_id = person.id
        names = [subject("tag", out.tag_id), subject("person", person_id)]
        detail = {"owner_pending": out.owner_pending} if out.owner_pending else {}
        self._recorder.record(
            ctx, AuditEntry("bikes.register", resource, status=201, subjects=names, detail=detail)
        )
        return out

    def confirm_owner(self, ctx: Context, bike_id: int, code: str, *, resource: str) -> BikeOut:
        """Attach a bike to the owner it was registered to, with the code the owner received."""
        with transaction(self._sessions) as session:
            bike = require_bike(session, bike_id=bike_id)
            attempt = verification.try_code(
                session,
                purpose=verification.BIKE_OWNER,
                subject=str(bike_id),
                code=code,
                by=ctx.actor,
                now=self._now(),
            )
            if attempt.confirmed is not None:
                attach_owner(session, bike, attempt.confirmed.person_id)
        person_id = attempt.settle().person_id
        self._recorder.record(
            ctx,
            AuditEntry(
                "bikes.owner_confirmed",
                resource,
                subjects=[subject("tag", bike.tag_id), subject("person", person_id)],
                detail={"method": "code"},
            ),
        )
        return bike_view(bike)

    @staticmethod
    def _owner_home(ctx: Context, owner_area_id: str | None) -> str | None:
        """Where a new owner lives: the area given (in the registrar's reach), else the registrar's own."""
        if owner_area_id is not None:
            ctx.require_area(owner_area_id, what=f"area {owner_area_id}")
            return owner_area_id
        return ctx.home_areas[0] if len(ctx.home_areas) == 1 else None

    def owned_bikes(self, ctx: Context) -> list[BikeOut]:
        """The bikes of the citizen the context speaks for (none for an account without a person)."""
        if ctx.person_id is None:
            return []
        with self._sessions() as session:
            return [bike_view(b) for b in bikes_of(session, owner_id=ctx.person_id)]

    # --- watchlists --------------------------------------------------------------------------

    def report_stolen(self, ctx: Context, bike_id: int, report: Stolen, *, resource: str) -> EntryOut:
        """List the bike so that any base station reading its tag raises an alarm.

        The entry belongs to a station in the writer's reach: the one given, else the station of
        the owner's home area when the writer reaches it, else the writer's own. Only a city-wide
        writer may leave it without one (a city-wide entry).
        """
        with transaction(self._sessions) as session:
            station = report.owner_station_id or self._answerable(session, ctx, bike_id)
            if station is not None:
                ctx.require_area(station, what=f"station {station}")
            entry = report_stolen(
                session,
                bike_id=bike_id,
                reported_by=report.reported_by,
                basis=report.basis,
                owner=report.owner or ctx.actor,
                owner_station_id=station,
                valid_days=report.valid_days,
                now=self._now(),
            )
            out = EntryOut.model_validate(entry, from_attributes=True)
        self._recorder.record(
            ctx,
            AuditEntry(
                "watchlist.add",
                resource,
                status=201,
                subjects=[subject("tag", out.subject)],
                detail={"entry": out.id, "basis": report.basis[:200]},
            ),
        )
        return out

    def list_person(self, ctx: Context, wanted: Wanted, *, resource: str) -> EntryOut:
        """List a registered person so that their identity card at any door raises a warning.

        The person is found by the number given; the entry, the answer and the audit record hold
        only the card's pseudonym (and the registry id in the audit detail), never the number. The
        entry belongs to the station given (in the lister's reach), else to the lister's own.
        """
        number = wanted.id_number.strip().upper()
        if not is_valid_id_number(number):
            raise InvalidInput(
                "id_number", "not a valid GB 11643 identity number (18 characters, check digit last)"
            )
        now = self._now()
        with transaction(self._sessions) as session:
            station = self._listing_station(session, ctx, wanted.owner_station_id)
            person = get_person_by_id_number(session, id_number=number)
            out = None if person is None else self._list_found(session, ctx, person, wanted, station, now)
        if person is None or out is None:
            # A miss is recorded too: numbers tried one after another are someone searching the registry.
            self._recorder.record(
                ctx, AuditEntry("watchlist.add_person", resource, outcome=Outcome.FAILED, status=404)
            )
            raise NotFound("id_number", "", message="no person with this identity number is registered")
        # Not the `person:` name: a listed person reading who accessed their data must not learn of it.
        self._recorder.record(
            ctx,
            AuditEntry(
                "watchlist.add_person",
                resource,
                status=201,
                subjects=[subject(SubjectKind.ID_CARD, out.subject)],
                detail={"entry": out.id, "person": person.id, "basis": wanted.basis[:200]},
            ),
        )
        return out

    def list_plate(self, ctx: Context, listed: PlateListing, *, resource: str) -> EntryOut:
        """Put a plate on a vehicle list: checkpoint and road cameras reading it (or a near
        misreading of it) then hit, as the list's policy says (recognition capability)."""
        now = self._now()
        with transaction(self._sessions) as session:
            station = self._listing_station(session, ctx, listed.owner_station_id)
            listing = Listing(ctx.actor, listed.basis, ctx.actor, now, station, listed.valid_days)
            entry = list_plate(session, plate=listed.plate, list_kind=listed.list_kind, listing=listing)
            out = EntryOut.model_validate(entry, from_attributes=True)
        self._recorder.record(
            ctx,
            AuditEntry(
                "watchlist.add_plate",
                resource,
                status=201,
                subjects=[subject(SubjectKind.PLATE, out.subject)],
                detail={"entry": out.id, "list": out.list_kind, "basis": listed.basis[:200]},
            ),
        )
        return out

    @staticmethod
    def _list_found(
        session: Session, ctx: Context, person: Person, wanted: Wanted, station: str | None, now: datetime
    ) -> EntryOut:
        """List a person found by number, unless their card is listed already."""
        if person.id_pseudonym is None:
            raise InvalidInput("id_number", "this person has no pseudonym yet: run `safecity keys init`")
        found = get_active_entry(
            session, subject_kind=SubjectKind.ID_CARD, subject=person.id_pseudonym, now=now
        )
        if found is not None:
            which = f" (entry {found.id})" if ctx.reaches(found.owner_station_id) else ""
            raise Conflict("id_number", f"this person is already on the watch list{which}")
        entry = list_person(
            session,
            person_id=person.id,
            reported_by=ctx.actor,
            basis=wanted.basis,
            owner=ctx.actor,
            now=now,
            owner_station_id=station,
            valid_days=wanted.valid_days,
        )
        return EntryOut.model_validate(entry, from_attributes=True)

    def _listing_station(self, session: Session, ctx: Context, given: str | None) -> str | None:
        """The station a new listing belongs to: the one given (an area in reach), else the lister's own."""
        if given is None:
            return self._own_station(session, ctx)
        if session.get(Area, given) is None:
            raise InvalidInput("owner_station_id", f"there is no area {given!r}")
        ctx.require_area(given, what=f"station {given}")
        return given

    def close_entry(
        self, ctx: Context, entry_id: int, *, status: WatchStatus, note: str, resource: str
    ) -> EntryOut:
        """Close a stolen-bike or wanted-person entry as recovered or withdrawn: it stops matching at once."""
        with transaction(self._sessions) as session:
            found = session.get(WatchlistEntry, entry_id)
            # An entry without a station is city-wide: only a city-wide writer reaches it.
            if found is not None:
                ctx.require_area(found.owner_station_id, what=f"watchlist entry {entry_id}")
            entry = close_entry(
                session, entry_id=entry_id, status=status, by=ctx.actor, note=note, now=self._now()
            )
            out = EntryOut.model_validate(entry, from_attributes=True)
        self._recorder.record(
            ctx,
            AuditEntry(
                "watchlist.close",
                resource,
                subjects=[subject(out.subject_kind, out.subject)],
                detail={"entry": out.id, "status": status.value},
            ),
        )
        return out

    @staticmethod
    def _answerable(session: Session, ctx: Context, bike_id: int) -> str | None:
        """Where a stolen report belongs when no station was given (None: a city-wide entry).

        The station of the owner's home area if the writer reaches it, else the writer's own
        station, else (a writer above station level) the writer's own first area.
        """
        bike = session.get(EBike, bike_id)
        home = bike.owner.home_area_id if bike is not None and bike.owner is not None else None
        owners = stations_of_areas(session, area_ids={home}).get(home) if home else None
        if owners is not None and ctx.reaches(owners[0]):
            return owners[0]
        return Registry._own_station(session, ctx)

    @staticmethod
    def _own_station(session: Session, ctx: Context) -> str | None:
        """The writer's own station (None: a city-wide writer, whose entries are city-wide).

        A writer above station level (a district) gets their own first area.
        """
        if ctx.city_wide:
            return None
        mine = {s[0] for s in stations_of_areas(session, area_ids=set(ctx.home_areas)).values() if s}
        if len(mine) == 1:
            return mine.pop()
        if ctx.home_areas:
            return ctx.home_areas[0]
        raise InvalidInput("owner_station_id", "give owner_station_id: your account covers no area")

    def entry(self, entry_id: int) -> EntryOut:
        """One watchlist entry (NotFound if there is none)."""
        with self._sessions() as session:
            return EntryOut.model_validate(require_entry(session, entry_id=entry_id), from_attributes=True)

    def entries(
        self, ctx: Context, *, status: str | None, limit: int, list_kind: str | None = None
    ) -> list[EntryOut]:
        """Entries of the caller's stations (and city-wide ones), newest first, of one list if named."""
        stmt = select(WatchlistEntry).order_by(WatchlistEntry.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(WatchlistEntry.status == status)
        if list_kind:
            stmt = stmt.where(WatchlistEntry.list_kind == list_kind)
        if not ctx.city_wide:
            stmt = stmt.where(
                WatchlistEntry.owner_station_id.is_(None)
                | WatchlistEntry.owner_station_id.in_(list(ctx.areas))
            )
        with self._sessions() as session:
            return [EntryOut.model_validate(e, from_attributes=True) for e in session.scalars(stmt)]

    # --- devices -----------------------------------------------------------------------------

    def create_device(self, ctx: Context, new: DeviceIn, *, resource: str) -> NewSecret:
        """Register a device in the caller's reach and return its secret (shown only this once).

        A device given a position but no area stands in the area whose boundary holds it.
        """
        with transaction(self._sessions) as session:
            area_id = new.area_id
            if area_id is None and new.lat is not None and new.lon is not None:
                area_id = AreaLocator.of(session).area_at(new.lat, new.lon)
            if area_id is not None:
                ctx.require_area(area_id, what=f"area {area_id}")
            device, secret = create_device(
                session,
                device_id=new.id,
                kind=new.kind,
                name=new.name,
                lat=new.lat,
                lon=new.lon,
                area_id=area_id,
                now=self._now(),
            )
            out = DeviceOut.model_validate(device, from_attributes=True)
        self._recorder.record(
            ctx, AuditEntry("devices.create", resource, status=201, detail={"device": out.id})
        )
        return NewSecret(out, secret)

    def rotate_secret(self, ctx: Context, device_id: str, *, resource: str) -> NewSecret:
        """Issue a new secret; the old one stops working at once (and the device is active again)."""
        with transaction(self._sessions) as session:
            device = self._managed_device(session, ctx, device_id)
            secret = rotate_device_secret(session, device_id=device_id)
            out = DeviceOut.model_validate(device, from_attributes=True)
        self._recorder.record(
            ctx, AuditEntry("devices.rotate_secret", resource, detail={"device": device_id})
        )
        return NewSecret(out, secret)

    def revoke_device(self, ctx: Context, device_id: str, *, resource: str) -> DeviceOut:
        """Disable a device and forget its secret: it cannot send until a new secret is issued."""
        with transaction(self._sessions) as session:
            self._managed_device(session, ctx, device_id)
            out = DeviceOut.model_validate(revoke_device(session, device_id=device_id), from_attributes=True)
        self._recorder.record(ctx, AuditEntry("devices.revoke", resource, detail={"device": device_id}))
        return out

    def bind_terminal(
        self,
        ctx: Context,
        device_id: str,
        *,
        protocol: str,
        terminal: str,
        utc_offset_minutes: int,
        resource: str,
    ) -> TerminalOut:
        """Bind a GT06 IMEI or JT/T 808 phone number to a tracker in the caller's reach (audited)."""
        with transaction(self._sessions) as session:
            self._managed_device(session, ctx, device_id)
            row = register_terminal(
                session,
                device_id=device_id,
                protocol=protocol,
                terminal=terminal,
                now=self._now(),
                utc_offset_minutes=utc_offset_minutes,
            )
            out = TerminalOut.model_validate(row, from_attributes=True)
        detail = {"device": device_id, "protocol": protocol, "terminal": terminal}
        self._recorder.record(ctx, AuditEntry("devices.bind_terminal", resource, status=201, detail=detail))
        return out

    def devices(self, ctx: Context, *, kind: str | None, area_id: str | None, limit: int) -> list[DeviceOut]:
        """Devices of the caller's areas, filtered by kind and by an area (with what is inside it)."""
        stmt = select(Device).order_by(Device.id).limit(limit)
        if kind:
            stmt = stmt.where(Device.kind == kind)
        if area_id:
            ctx.require_area(area_id, what=f"area {area_id}")
            stmt = stmt.where(Device.area_id.in_(list(self._expand([area_id]))))
        if not ctx.city_wide:
            stmt = stmt.where(Device.area_id.in_(list(ctx.areas)))
        with self._sessions() as session:
            return [DeviceOut.model_validate(d, from_attributes=True) for d in session.scalars(stmt)]

    @staticmethod
    def _managed_device(session: Session, ctx: Context, device_id: str) -> Device:
        device = session.get(Device, device_id)
        if device is None:
            raise NotFound("device", device_id)
        ctx.require_area(device.area_id, what=f"device {device_id}")
        return device

    # --- areas -------------------------------------------------------------------------------

    def import_areas(self, ctx: Context, doc: Any, *, place_devices: bool, resource: str) -> ImportReport:
        """Create or update the city's areas from GeoJSON (all or nothing), audited; see area_import."""
        if not ctx.city_wide:
            raise AccessDenied("forbidden", "only a city-wide account imports the city's areas")
        with transaction(self._sessions) as session:
            known = {str(i): str(k) for i, k in session.execute(select(Area.id, Area.kind))}
            report = import_areas(session, parse_features(doc, known), place_devices=place_devices)
        self._recorder.record(
            ctx,
            AuditEntry(
                "areas.import",
                resource,
                result_count=report.created + report.updated,
                detail={
                    "created": report.created,
                    "updated": report.updated,
                    "devices_placed": report.devices_placed,
                },
            ),
        )
        return report

    def city_map(self) -> dict[str, Any] | None:
        """The city as GeoJSON from the registry's areas and stations (None: no boundaries yet)."""
        with self._sessions() as session:
            return city_map(session)

    def areas(self, *, kind: str | None = None) -> list[AreaOut]:
        """Areas of the city (districts, station areas, communities), by id."""
        stmt = select(Area).order_by(Area.id)
        if kind:
            stmt = stmt.where(Area.kind == kind)
        with self._sessions() as session:
            return [AreaOut.model_validate(a, from_attributes=True) for a in session.scalars(stmt)]


__all__ = ["NewSecret", "Registry", "Stolen", "Wanted"]
