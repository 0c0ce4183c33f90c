"""Whom a door lets in, from the registry: the cards of a place's tenants, visitors and shop owner.

* a building's door: the open tenancies of the building's flats, and the valid visitor passes
  of its compound that name one of its flats or no flat (a pass to the compound);
* a compound's gate (a door of the compound and no building): every open tenancy of the
  compound's flats and every valid visitor pass of the compound;
* a shop's door: the shop's owner.

A tenant is let in from the start of the tenancy with no end (checking out ends it); a visitor
within the pass's validity, which the controller checks itself. Revoked and expired passes are
left out. The result is card numbers with their window, for places/doors.py to key and version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from safecity import registry
from safecity.places.models import Building, Door, Flat, Shop, Tenancy, VisitorPass
from safecity.places.whitelist import merged

Window = tuple[int | None, int | None]  # epoch seconds, UTC; None: open on that side


def epoch_s(at: datetime) -> int:
    """Whole seconds since the epoch of an aware time."""
    return int(at.timestamp())


def admitted(session: Session, door: Door, *, now: datetime) -> dict[str, Window]:
    """The card numbers this door lets in, each with when (merged over every ground)."""
    grounds: dict[int, list[Window]] = defaultdict(list)
    if door.shop_id is not None:
        shop = session.get(Shop, door.shop_id)
        if shop is not None:
            grounds[shop.owner_person_id].append((None, None))
    elif door.building_id is not None or door.compound_id is not None:
        _tenants(session, door, now=now, into=grounds)
        _visitors(session, door, now=now, into=grounds)
    numbers = {p.id: p.id_number for p in registry.people_by_ids(session, list(grounds))}
    return {numbers[pid]: merged(windows) for pid, windows in grounds.items() if pid in numbers}


def _flats_of(door: Door) -> Select[int]:
    """Ids of the flats behind the door: its building's, or every flat of its compound."""
    if door.building_id is not None:
        return select(Flat.id).where(Flat.building_id == door.building_id)
    return (
        select(Flat.id)
        .join(Building, Flat.building_id == Building.id)
        .where(Building.compound_id == door.compound_id)
    )


def _tenants(session: Session, door: Door, *, now: datetime, into: dict[int, list[Window]]) -> None:
    rows = session.execute(
        select(Tenancy.person_id, Tenancy.starts_at).where(
            Tenancy.flat_id.in_(_flats_of(door)), Tenancy.checked_out_at.is_(None)
        )
    )
    for person_id, starts_at in rows:
        # A tenancy registered ahead of the move opens the door from its start.
        into[person_id].append((epoch_s(starts_at), None) if starts_at > now else (None, None))


def _visitors(session: Session, door: Door, *, now: datetime, into: dict[int, list[Window]]) -> None:
    compound_id = door.compound_id
    if compound_id is None:
        building = session.get(Building, door.building_id)
        compound_id = building.compound_id if building is not None else None
    stmt = select(VisitorPass.person_id, VisitorPass.valid_from, VisitorPass.valid_until).where(
        VisitorPass.compound_id == compound_id,
        VisitorPass.revoked_at.is_(None),
        VisitorPass.valid_until > now,
    )
    if door.building_id is not None:
        stmt = stmt.where(or_(VisitorPass.flat_id.is_(None), VisitorPass.flat_id.in_(_flats_of(door))))
    for person_id, start, end in session.execute(stmt):
        into[person_id].append((epoch_s(start), epoch_s(end)))


def doors_of(
    session: Session, *, compound_ids: Iterable[str] = (), shop_ids: Iterable[int] = ()
) -> list[Door]:
    """The doors of these compounds (gates and building doors) and shops, by device id."""
    compounds, shops = sorted(set(compound_ids)), sorted(set(shop_ids))
    if not compounds and not shops:
        return []
    in_compound = select(Building.id).where(Building.compound_id.in_(compounds))
    stmt = select(Door).where(
        or_(Door.compound_id.in_(compounds), Door.building_id.in_(in_compound), Door.shop_id.in_(shops))
    )
    return list(session.scalars(stmt.order_by(Door.device_id)))


__all__ = ["Window", "admitted", "doors_of", "epoch_s"]
