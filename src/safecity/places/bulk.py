"""Bulk import of places: a city's compounds, buildings, flats, landlords, tenancies, shops, staff, doors.

For loading a whole housing registry at once (the demo city, a city's rental registration
export), like `registry.bulk` for areas and people: straight to the driver (COPY on PostgreSQL,
executemany on SQLite), in the caller's transaction; the change is announced on commit so that
fact caches and the doors follow. People and door devices go in through `registry.bulk` first.
"""

from __future__ import annotations

import polars as pl
from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from safecity import registry
from safecity.places.events import access_changed
from safecity.places.models import (
    AlarmZone,
    Building,
    Compound,
    Door,
    Flat,
    IdentityCard,
    Landlord,
    Shop,
    ShopStaff,
    Tenancy,
    Vehicle,
    VisitorPass,
    VisitTask,
)
from safecity.store.bulk import advance_sequences, insert_frame, large_cache

# Parents before children; cleared in the reverse order.
# Alarm zones and residents' vehicles (a smart community's tables) hang off compounds and shops.
_ORDER = (Compound, Building, Landlord, Flat, Tenancy, Shop, ShopStaff, Door, AlarmZone, Vehicle)


def _table(model: type[object]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def counts(session: Session) -> dict[str, int]:
    """How many rows each places table holds."""
    return {
        _table(model).name: int(session.scalar(select(func.count()).select_from(_table(model))) or 0)
        for model in _ORDER
    }


def clear(session: Session) -> None:
    """Delete every place and what refers to them (visits, passes, card readings), children first."""
    for model in (VisitTask, VisitorPass, IdentityCard, *reversed(_ORDER)):
        session.execute(delete(_table(model)))
    access_changed(session)


def insert_rows(session: Session, frames: dict[str, pl.DataFrame]) -> None:
    """Insert frames named by table (`compounds`, `buildings`, ...; columns as the table's).

    The rows they name (people, areas, door devices) must be in the registry already. The
    caller's transaction commits them; the doors and fact caches are told on commit.
    """
    unknown = set(frames) - {_table(m).name for m in _ORDER}
    if unknown:
        raise ValueError(f"no places table {', '.join(sorted(unknown))}")
    with large_cache(session):
        for model in _ORDER:
            frame = frames.get(_table(model).name)
            if frame is not None and frame.height:
                insert_frame(session, _table(model).name, frame)
    advance_sequences(
        session, ("landlords", "flats", "tenancies", "shops", "shop_staff", "alarm_zones", "vehicles")
    )
    access_changed(session)


def busiest_community(session: Session) -> str | None:
    """The community with the most open tenancies (where a demo's community accounts work)."""
    found = session.execute(
        select(Compound.community_id, func.count())
        .select_from(Tenancy)
        .join(Flat, Flat.id == Tenancy.flat_id)
        .join(Building, Building.id == Flat.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .where(Tenancy.checked_out_at.is_(None))
        .group_by(Compound.community_id)
        .order_by(func.count().desc(), Compound.community_id)
        .limit(1)
    ).first()
    return None if found is None else str(found[0])


def busiest_landlord(session: Session, *, community_id: str) -> int | None:
    """The landlord without an account who lets the most flats in a community (a demo's landlord)."""
    found = session.execute(
        select(Flat.landlord_id, func.count())
        .join(Building, Building.id == Flat.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .join(Landlord, Landlord.id == Flat.landlord_id)
        .where(Compound.community_id == community_id, Landlord.account_id.is_(None))
        .group_by(Flat.landlord_id)
        .order_by(func.count().desc(), Flat.landlord_id)
        .limit(1)
    ).first()
    return None if found is None or found[0] is None else int(found[0])


def first_unclaimed_shop(session: Session, *, community_id: str) -> int | None:
    """The first shop of a community whose owner has no account yet (a demo's shopkeeper)."""
    found = session.scalars(
        select(Shop.id)
        .where(Shop.community_id == community_id, Shop.owner_account_id.is_(None))
        .order_by(Shop.id)
        .limit(1)
    ).first()
    return None if found is None else int(found)


def give_shop(session: Session, *, shop_id: int, account_id: int) -> None:
    """Let a shop's owner act through a shop-owner account."""
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise ValueError(f"no shop {shop_id}")
    shop.owner_account_id = account_id


def give_account(session: Session, *, landlord_id: int, account_id: int) -> None:
    """Let a landlord act through a landlord-role account."""
    landlord = session.get(Landlord, landlord_id)
    if landlord is None:
        raise ValueError(f"no landlord {landlord_id}")
    landlord.account_id = account_id


def registered_tenants(session: Session, *, after: int = 0, imported: str = "import") -> pl.DataFrame:
    """Open tenancies registered one by one (not `imported`) with id above `after`: a demo's doors
    make their tenants come home. Columns tenancy_id, building_id, compound_id, id_number."""
    rows = session.execute(
        select(Tenancy.id, Tenancy.person_id, Flat.building_id, Building.compound_id)
        .join(Flat, Flat.id == Tenancy.flat_id)
        .join(Building, Building.id == Flat.building_id)
        .where(
            Tenancy.id > after,
            Tenancy.checked_out_at.is_(None),
            Tenancy.registered_via != imported,
        )
        .order_by(Tenancy.id)
    ).all()
    numbers = {p.id: p.id_number for p in registry.people_by_ids(session, [r[1] for r in rows])}
    return pl.DataFrame(
        [(int(t), str(b), str(c), numbers[p]) for t, p, b, c in rows if p in numbers],
        schema={
            "tenancy_id": pl.Int64,
            "building_id": pl.String,
            "compound_id": pl.String,
            "id_number": pl.String,
        },
        orient="row",
    )


__all__ = [
    "busiest_community",
    "busiest_landlord",
    "clear",
    "counts",
    "give_account",
    "insert_rows",
    "registered_tenants",
]
