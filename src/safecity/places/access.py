"""Whom a door lets in, from the registry: the cards of a place's tenants, visitors and shop owner.

* a building's door: the open tenancies of the building's flats, and the valid visitor passes
  of its compound that name one of its flats or no flat (a pass to the compound);
* a compound's gate (a door of the compound and no building): every open tenancy of the
  compound's flats and every valid visitor pass of the compound;
* a shop's door: the shop's owner, and its staff until they are removed (or their end date).

A tenant is let in from the start of the tenancy with no end (checking out ends it); a visitor
within the pass's validity, which the controller checks itself. Revoked and expired passes are
left out. The result is card numbers with their window, for places/doors.py to key and version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from safecity import registry
from safecity.places.models import Building, Door, Flat, Shop, ShopStaff, Tenancy, VisitorPass
from safecity.places.whitelist import merged

Window = tuple[int | None, int | None]  # epoch seconds, UTC; None: open on that side


def epoch_s(at: datetime) -> int:
    """Whole seconds since the epoch of an aware time."""
    return int(at.timestamp())


def admitted(session: Session, door: Door, *, now: datetime) -> dict[str, Window]:
    """The card numbers this door lets in, each with when (merged over every ground)."""
    return admitted_all(session, [door], now=now)[door.device_id]


def admitted_all(session: Session, doors: Sequence[Door], *, now: datetime) -> dict[str, dict[str, Window]]:
    """For each door (by device id), the card numbers it lets in: one pass over each place's rows.

    A compound's tenancies and passes are read once for its gate and all its building doors,
    since a change there rebuilds them together (places/doors.py).
    """
    grounds: dict[str, dict[int, list[Window]]] = {d.device_id: defaultdict(list) for d in doors}
    building_ids = {d.building_id for d in doors if d.building_id is not None}
    query = select(Building.id, Building.compound_id).where(Building.id.in_(building_ids))
    compound_of: dict[str, str] = {str(b): str(c) for b, c in session.execute(query)}
    gates: dict[str, list[str]] = defaultdict(list)  # compound -> its gates
    inside: dict[str, list[str]] = defaultdict(list)  # building -> its doors
    within: dict[str, list[str]] = defaultdict(list)  # compound -> its building doors
    for door in doors:
        if door.shop_id is not None:
            continue
        if door.building_id is not None:
            inside[door.building_id].append(door.device_id)
            within[compound_of.get(door.building_id, "")].append(door.device_id)
        elif door.compound_id is not None:
            gates[door.compound_id].append(door.device_id)
    compounds = set(gates) | set(within)
    if compounds:
        _tenants(session, compounds, now=now, gates=gates, inside=inside, into=grounds)
        _visitors(session, compounds, now=now, gates=gates, inside=inside, within=within, into=grounds)
    _shop_people(session, doors, now=now, into=grounds)
    people = {p for g in grounds.values() for p in g}
    numbers = {p.id: p.id_number for p in registry.people_by_ids(session, list(people))}
    return {
        door: {numbers[p]: merged(w) for p, w in by_person.items() if p in numbers}
        for door, by_person in grounds.items()
    }


Into = dict[str, dict[int, list[Window]]]


def _tenants(
    session: Session,
    compounds: set[str],
    *,
    now: datetime,
    gates: dict[str, list[str]],
    inside: dict[str, list[str]],
    into: Into,
) -> None:
    rows = session.execute(
        select(Tenancy.person_id, Tenancy.starts_at, Flat.building_id, Building.compound_id)
        .join(Flat, Tenancy.flat_id == Flat.id)
        .join(Building, Flat.building_id == Building.id)
        .where(Building.compound_id.in_(sorted(compounds)), Tenancy.checked_out_at.is_(None))
    )
    for person_id, starts_at, building_id, compound_id in rows:
        # A tenancy registered ahead of the move opens the doors from its start.
        window: Window = (epoch_s(starts_at), None) if starts_at > now else (None, None)
        for door in (*gates.get(compound_id, ()), *inside.get(building_id, ())):
            into[door][person_id].append(window)


def _visitors(
    session: Session,
    compounds: set[str],
    *,
    now: datetime,
    gates: dict[str, list[str]],
    inside: dict[str, list[str]],
    within: dict[str, list[str]],
    into: Into,
) -> None:
    rows = session.execute(
        select(
            VisitorPass.person_id,
            VisitorPass.valid_from,
            VisitorPass.valid_until,
            VisitorPass.compound_id,
            Flat.building_id,
        )
        .outerjoin(Flat, VisitorPass.flat_id == Flat.id)
        .where(
            VisitorPass.compound_id.in_(sorted(compounds)),
            VisitorPass.revoked_at.is_(None),
            VisitorPass.valid_until > now,
        )
    )
    for person_id, start, end, compound_id, building_id in rows:
        # A pass to a flat opens that building's doors; one to the compound, all of them.
        doors = within.get(compound_id, ()) if building_id is None else inside.get(building_id, ())
        for door in (*gates.get(compound_id, ()), *doors):
            into[door][person_id].append((epoch_s(start), epoch_s(end)))


def _shop_people(session: Session, doors: Sequence[Door], *, now: datetime, into: Into) -> None:
    shops = sorted({d.shop_id for d in doors if d.shop_id is not None})
    if not shops:
        return
    people: dict[int, list[tuple[int, Window]]] = defaultdict(list)  # shop -> (person, window)
    for shop_id, owner in session.execute(select(Shop.id, Shop.owner_person_id).where(Shop.id.in_(shops))):
        people[shop_id].append((owner, (None, None)))
    staff = session.execute(
        select(ShopStaff.shop_id, ShopStaff.person_id, ShopStaff.until).where(
            ShopStaff.shop_id.in_(shops),
            ShopStaff.removed_at.is_(None),
            or_(ShopStaff.until.is_(None), ShopStaff.until > now),
        )
    )
    for shop_id, person_id, until in staff:
        # An end date travels with the entry: the controller stops the card on time by itself.
        people[shop_id].append((person_id, (None, epoch_s(until) if until is not None else None)))
    for door in doors:
        if door.shop_id is not None:
            for person_id, window in people.get(door.shop_id, ()):
                into[door.device_id][person_id].append(window)


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


__all__ = ["Window", "admitted", "admitted_all", "doors_of", "epoch_s"]
