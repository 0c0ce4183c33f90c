"""Door controllers as use cases: register a door, keep each door's whitelist versioned, answer controllers.

`rebuild` recomputes the lists of a place's doors (places/access.py) and, where the digest
changed, makes the next version with its delta, in one transaction per call; the last
`keep_deltas` deltas of a door are kept so that a controller that missed some catches up with one
composed delta, and one that fell further behind (or names a version never made) takes the full
list. `whitelist` is what a polling controller reads, `check` what one that asks per swipe
reads, and that answer is recorded as the swipe through ingest (door_swipe, docs/doors.md).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import msgspec
import polars as pl
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.audit import AuditEntry, Recorder
from safecity.core.context import Context
from safecity.core.ids import is_valid_id_number
from safecity.ingest import Part
from safecity.ingest.adapters import Intake
from safecity.places.access import Window, admitted_all, doors_of, epoch_s
from safecity.places.door_schemas import CheckIn, CheckOut, DoorIn, DoorOut, RekeyedOut
from safecity.places.errors import PlaceConflict, PlaceNotFound, PlacesError
from safecity.places.events import access_changed, whitelists_changed
from safecity.places.models import (
    Building,
    Compound,
    Door,
    DoorWhitelist,
    Shop,
    ShopStaff,
    VisitorPass,
    WhitelistDelta,
)
from safecity.places.whitelist import (
    SALT_BYTES,
    Delta,
    Entry,
    FullList,
    by_key,
    card_key,
    card_keys,
    compose,
    diff,
    digest,
)
from safecity.store import transaction

KEEP_DELTAS = 64  # per door: a controller offline through this many changes takes the full list
PAGE_PLACES = 200  # compounds (or shops) per transaction when every door is rebuilt
DOOR_KIND = "door_controller"
CHECK_SOURCE = "door_check"


class DoorRefused(PlacesError):
    """A controller asked about a door it is not (or a device that is not a door)."""

    code = "forbidden"
    status = 403


@dataclass(frozen=True, slots=True)
class Update:
    """A door's list changed: the new full list and the delta from the version before."""

    full: FullList
    delta: Delta


class Doors:
    """Door controllers and their whitelists over one database."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        recorder: Recorder,
        *,
        now: Callable[[], datetime],
        intake: Intake | None = None,
        keep_deltas: int = KEEP_DELTAS,
    ) -> None:
        self._sessions = session_factory
        self._recorder = recorder
        self._now = now
        self._intake = intake
        self._keep = keep_deltas

    # --- registering doors ------------------------------------------------------------------

    def add_door(self, ctx: Context, body: DoorIn, *, resource: str) -> DoorOut:
        """Put a door controller at a place the caller reaches; registers the device if new."""
        with transaction(self._sessions) as session:
            community, lat, lon = self._place(session, ctx, body)
            if session.get(Door, body.device_id) is not None:
                raise PlaceConflict(f"device {body.device_id} guards a door already", field="device_id")
            secret = self._device(session, body, area_id=community, lat=lat, lon=lon, now=self._now())
            door = Door(
                device_id=body.device_id,
                compound_id=body.compound_id,
                building_id=body.building_id,
                shop_id=body.shop_id,
                name=body.name,
            )
            session.add(door)
            session.flush()
            compound = body.compound_id or _compound_of(session, body.building_id)
            access_changed(session, compound_id=compound, shop_id=body.shop_id)
            out = DoorOut(
                device_id=door.device_id,
                name=door.name,
                compound_id=door.compound_id,
                building_id=door.building_id,
                shop_id=door.shop_id,
                secret=secret,
            )
        if secret is not None:
            # As the registry's own use case would: whoever looks for device registrations finds it.
            made = {"device": out.device_id, "via": "places.door_add"}
            self._recorder.record(ctx, AuditEntry("devices.create", resource, status=201, detail=made))
        detail = {"door": out.device_id, "device_created": secret is not None}
        self._recorder.record(ctx, AuditEntry("places.door_add", resource, status=201, detail=detail))
        return out

    @staticmethod
    def _place(session: Session, ctx: Context, body: DoorIn) -> tuple[str, float, float]:
        """The community of the place the door guards (within the caller's reach) and its position."""
        if body.shop_id is not None:
            shop = session.get(Shop, body.shop_id)
            if shop is None:
                raise PlaceNotFound("shop", body.shop_id)
            community, lat, lon = shop.community_id, shop.lat, shop.lon
        else:
            building = None
            if body.building_id is not None:
                building = session.get(Building, body.building_id)
                if building is None:
                    raise PlaceNotFound("building", body.building_id)
            compound_id = building.compound_id if building is not None else body.compound_id
            compound = session.get(Compound, compound_id)
            if compound is None:
                raise PlaceNotFound("compound", compound_id)
            community = compound.community_id
            lat = building.lat if building is not None and building.lat is not None else compound.lat
            lon = building.lon if building is not None and building.lon is not None else compound.lon
        ctx.require_area(community, what=f"community {community}")
        lat, lon = (body.lat, body.lon) if body.lat is not None and body.lon is not None else (lat, lon)
        if lat is None or lon is None:
            # Its swipes are placed by the registry's position: without one ingest would refuse them all.
            raise PlacesError("the place has no position: give the door's lat and lon", field="lat")
        return community, lat, lon

    @staticmethod
    def _device(
        session: Session, body: DoorIn, *, area_id: str, lat: float | None, lon: float | None, now: datetime
    ) -> str | None:
        """Register the controller as a device if it is new (its secret), or check the one there is."""
        existing = registry.device_directory(session).filter(pl.col("device") == body.device_id)
        if existing.height:
            kind = existing["device_kind"][0]
            if kind != DOOR_KIND:
                raise PlacesError(
                    f"device {body.device_id} is a {kind}, not a {DOOR_KIND}", field="device_id"
                )
            return None
        _, secret = registry.create_device(
            session,
            device_id=body.device_id,
            kind=DOOR_KIND,
            name=body.name,
            lat=lat,
            lon=lon,
            area_id=area_id,
            now=now,
        )
        return secret

    # --- keeping lists --------------------------------------------------------------------------

    def rebuild(
        self, *, compound_ids: Iterable[str] = (), shop_ids: Iterable[int] = (), everything: bool = False
    ) -> list[Update]:
        """Recompute the lists of these places' doors (or of every door); the versions that changed.

        Every door goes a page of places at a time, each page its own transaction, so that a
        city's worth neither holds the database nor all its tenants in memory at once.
        """
        if not everything:
            return self._rebuild_places(sorted(set(compound_ids)), sorted(set(shop_ids)))
        with self._sessions() as session:
            compounds = [str(c) for c in session.scalars(select(Compound.id).order_by(Compound.id))]
            found = session.scalars(select(Door.shop_id).where(Door.shop_id.is_not(None)).distinct())
            shops = sorted(int(s) for s in found if s is not None)
        updates: list[Update] = []
        for start in range(0, len(compounds), PAGE_PLACES):
            updates += self._rebuild_places(compounds[start : start + PAGE_PLACES], [])
        for start in range(0, len(shops), PAGE_PLACES):
            updates += self._rebuild_places([], shops[start : start + PAGE_PLACES])
        return updates

    def _rebuild_places(self, compound_ids: list[str], shop_ids: list[int]) -> list[Update]:
        for attempt in range(3):
            try:
                with transaction(self._sessions) as session:
                    doors = doors_of(session, compound_ids=compound_ids, shop_ids=shop_ids)
                    now = self._now()
                    cards = admitted_all(session, doors, now=now)
                    made = (self._rebuild_door(session, door, cards[door.device_id], now) for door in doors)
                    updates = [u for u in made if u is not None]
                    if updates:
                        whitelists_changed(session)  # the rules' version facts (places/versions.py)
                    return updates
            except IntegrityError:
                # Another process made the same version first: read its result and compare again.
                if attempt == 2:
                    raise
        return []

    def now(self) -> datetime:
        """The platform's time (the city's, in a simulation): what validity is judged by."""
        return self._now()

    def passes_ended(self, since: datetime) -> tuple[list[str], datetime]:
        """Compounds with a visitor pass that ended after `since` and by now (their lists shrink), and now."""
        now = self._now()
        with self._sessions() as session:
            found = session.scalars(
                select(VisitorPass.compound_id)
                .where(VisitorPass.valid_until > since, VisitorPass.valid_until <= now)
                .distinct()
            )
            return sorted(str(c) for c in found), now

    def staff_ended(self, since: datetime, now: datetime) -> list[int]:
        """Shops with a staff member whose end date passed after `since` and by `now` (lists shrink)."""
        ended = (ShopStaff.until > since, ShopStaff.until <= now, ShopStaff.removed_at.is_(None))
        with self._sessions() as session:
            return sorted(int(s) for s in session.scalars(select(ShopStaff.shop_id).where(*ended).distinct()))

    def _rebuild_door(
        self, session: Session, door: Door, cards: dict[str, Window], now: datetime, *, rekey: bool = False
    ) -> Update | None:
        row = session.get(DoorWhitelist, door.device_id, with_for_update=True)
        if row is None:
            row = DoorWhitelist(
                device_id=door.device_id,
                salt=os.urandom(SALT_BYTES),
                version=0,
                digest=digest(()),
                entries=[],
                changed_at=now,
            )
            session.add(row)
            fresh = True
        else:
            fresh = False
        if rekey:
            row.salt = os.urandom(SALT_BYTES)
        salt = bytes(row.salt)
        keys = card_keys(salt, cards)
        new = by_key(Entry(key, start, end) for key, (start, end) in zip(keys, cards.values(), strict=True))
        new_digest = digest(new.values())
        if rekey:
            return self._rekeyed(session, row, new, new_digest, now)
        if not fresh and new_digest == row.digest:
            return None
        old = by_key(_entries(row.entries))
        added, removed = diff(old, new)
        base = row.version
        row.version, row.digest, row.changed_at = base + 1, new_digest, now
        row.entries = [list(msgspec.structs.astuple(e)) for e in sorted(new.values())]
        session.add(
            WhitelistDelta(
                device_id=door.device_id,
                version=row.version,
                digest=new_digest,
                added=[list(msgspec.structs.astuple(e)) for e in added],
                removed=removed,
                created_at=now,
            )
        )
        session.execute(
            delete(WhitelistDelta).where(
                WhitelistDelta.device_id == door.device_id, WhitelistDelta.version <= row.version - self._keep
            )
        )
        session.flush()
        delta = Delta(door.device_id, base, row.version, new_digest, added, removed)
        return Update(full=_full(row), delta=delta)

    @staticmethod
    def _rekeyed(
        session: Session, row: DoorWhitelist, new: dict[str, Entry], new_digest: str, now: datetime
    ) -> Update:
        """A version under a new salt: no delta can lead to it, so the deltas before it go."""
        row.version, row.digest, row.changed_at = row.version + 1, new_digest, now
        row.entries = [list(msgspec.structs.astuple(e)) for e in sorted(new.values())]
        session.execute(delete(WhitelistDelta).where(WhitelistDelta.device_id == row.device_id))
        session.flush()
        # Published as the newest delta, from the version to itself: a controller holding an
        # older one finds the gap and takes the full list, with its new salt.
        marker = Delta(row.device_id, row.version, row.version, new_digest, [], [])
        return Update(full=_full(row), delta=marker)

    def rekey(self, ctx: Context, device_id: str, *, resource: str) -> RekeyedOut:
        """Give a door a new salt (after its controller was stolen, say): the old keys match nothing."""
        with self._sessions() as session:
            door = session.get(Door, device_id)
            if door is None:
                raise PlaceNotFound("door", device_id)
            ctx.require_area(_community_of(session, door), what=f"door {device_id}")
        self._row(device_id)  # a first list to re-key (made like any other, racing processes and all)
        with transaction(self._sessions) as session:
            door = session.get(Door, device_id)
            assert door is not None
            now = self._now()
            cards = admitted_all(session, [door], now=now)[device_id]
            update = self._rebuild_door(session, door, cards, now, rekey=True)
            assert update is not None
            compound = door.compound_id or _compound_of(session, door.building_id)
            access_changed(session, compound_id=compound, shop_id=door.shop_id)  # the worker publishes it
        detail = {"door": device_id, "version": update.full.version}
        self._recorder.record(ctx, AuditEntry("places.door_rekey", resource, detail=detail))
        return RekeyedOut(device_id=device_id, version=update.full.version)

    # --- what controllers read ------------------------------------------------------------------

    def whitelist(self, device_id: str, *, since: int | None = None) -> FullList | Delta:
        """The door's list: a delta from `since` if that version is still bridged, else the full list.

        `since` equal to the newest version answers an empty delta (in step); a version the
        door never had, or one older than the deltas kept, answers the full list.
        """
        row = self._row(device_id)
        if since is None or since < 0 or since > row.version:
            return _full(row)
        if since == row.version:
            return Delta(device_id, row.version, row.version, row.digest, [], [])
        with self._sessions() as session:
            rows = list(
                session.scalars(
                    select(WhitelistDelta)
                    .where(WhitelistDelta.device_id == device_id, WhitelistDelta.version > since)
                    .order_by(WhitelistDelta.version)
                )
            )
        if len(rows) != row.version - since or rows[0].version != since + 1:
            return _full(row)  # pruned, or made by another process meanwhile: the whole list is safe
        deltas = [
            Delta(device_id, d.version - 1, d.version, d.digest, list(_entries(d.added)), list(d.removed))
            for d in rows
        ]
        return compose(deltas)

    def versions(
        self, *, compound_ids: Iterable[str] = (), shop_ids: Iterable[int] = (), everything: bool = False
    ) -> dict[str, int]:
        """The current list version of these places' doors (or of every door that has a list)."""
        with self._sessions() as session:
            stmt = select(DoorWhitelist.device_id, DoorWhitelist.version)
            if not everything:
                ids = [d.device_id for d in doors_of(session, compound_ids=compound_ids, shop_ids=shop_ids)]
                stmt = stmt.where(DoorWhitelist.device_id.in_(ids))
            return {str(d): int(v) for d, v in session.execute(stmt)}

    def full_lists(self, *, after: str = "", limit: int = 1000) -> list[FullList]:
        """Every door's current full list, by device id after `after` (to publish them all again)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(DoorWhitelist)
                .where(DoorWhitelist.device_id > after)
                .order_by(DoorWhitelist.device_id)
                .limit(limit)
            )
            return [_full(r) for r in rows]

    def _row(self, device_id: str) -> DoorWhitelist:
        """The door's list row, built now if the door has none yet."""
        with self._sessions() as session:
            door = session.get(Door, device_id)
            if door is None:
                raise DoorRefused(f"device {device_id} is not registered as a door", field="device_id")
            row = session.get(DoorWhitelist, device_id)
            if row is not None:
                session.expunge(row)
                return row
            compound = door.compound_id or _compound_of(session, door.building_id)
        self.rebuild(
            compound_ids=[compound] if compound else [], shop_ids=[door.shop_id] if door.shop_id else []
        )
        with self._sessions() as session:
            built = session.get(DoorWhitelist, device_id)
            assert built is not None
            session.expunge(built)
            return built

    # --- the online check -------------------------------------------------------------------------

    def decide(self, device_id: str, card: str, *, at: datetime) -> tuple[bool, str, int]:
        """Open for this card at this time? (granted, reason, the list version decided on)."""
        number = card.strip().upper()
        if not is_valid_id_number(number):
            # Not echoed: the number is personal data, and the controller knows what it sent.
            raise PlacesError(
                "the card is not a valid GB 11643 identity number (18 characters, check digit last)",
                field="card",
            )
        row = self._row(device_id)
        key = card_key(bytes(row.salt), number)
        entry = next((e for e in _entries(row.entries) if e.key == key), None)
        if entry is None:
            return False, "not_listed", row.version
        if entry.admits(epoch_s(at)):
            return True, ("listed" if entry.valid_until is None else "visitor"), row.version
        if entry.valid_until is not None and epoch_s(at) >= entry.valid_until:
            return False, "expired", row.version
        return False, "not_listed", row.version

    async def check(self, device_id: str, body: CheckIn) -> CheckOut:
        """Answer a controller that asks per swipe, and record the swipe through ingest."""
        granted, reason, version = await asyncio.to_thread(self.decide, device_id, body.card, at=body.ts)
        if self._intake is None:
            raise RuntimeError("the online check needs the ingest pipeline")
        event = {
            "v": 1,
            "id": body.id,
            "kind": "door_swipe",
            "device": device_id,
            "ts": body.ts.isoformat(),
            "subject": body.card.upper(),
            "code": "granted" if granted else "denied",
            # Granted by asking is `online` in the record (the wire contract's reason for it); a
            # refusal keeps its own reason, which the housing rules read.
            "attrs": {"reason": "online" if granted else reason, "wl_version": version, "buffered": False},
        }
        [result] = await self._intake.submit_parts(
            [Part(body=msgspec.json.encode(event), device_id=device_id, source=CHECK_SOURCE)]
        )
        if result.error is not None or result.rejected:
            why = result.error or result.rejected[0].reason
            field = None if result.error else result.rejected[0].field
            raise PlacesError(f"the swipe could not be recorded: {why}", field=field or "body")
        return CheckOut(granted=granted, reason=reason, wl_version=version, recorded=result.duplicates == 0)


def _community_of(session: Session, door: Door) -> str | None:
    """The community of the place a door guards."""
    if door.shop_id is not None:
        shop = session.get(Shop, door.shop_id)
        return shop.community_id if shop is not None else None
    compound = session.get(Compound, door.compound_id or _compound_of(session, door.building_id))
    return compound.community_id if compound is not None else None


def _compound_of(session: Session, building_id: str | None) -> str | None:
    if building_id is None:
        return None
    building = session.get(Building, building_id)
    return building.compound_id if building is not None else None


def _entries(raw: Iterable[list[object]]) -> list[Entry]:
    return [Entry(str(k), _int(f), _int(u)) for k, f, u in raw]


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _full(row: DoorWhitelist) -> FullList:
    return FullList(
        door=row.device_id,
        version=row.version,
        digest=row.digest,
        salt=bytes(row.salt).hex(),
        entries=_entries(row.entries),
    )


__all__ = ["KEEP_DELTAS", "DoorRefused", "Doors", "Update"]
