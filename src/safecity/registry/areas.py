"""Areas: the city's hierarchy of districts, station areas and communities, and who answers for each."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safecity.registry.models import Area, Person


def get_area(session: Session, *, area_id: str) -> Area | None:
    """Return an area by id."""
    return session.get(Area, area_id)


def area_parents(session: Session) -> list[tuple[str, str | None]]:
    """(area id, parent id) of every area: the hierarchy that reach is expanded over."""
    return [(row[0], row[1]) for row in session.execute(select(Area.id, Area.parent_id))]


def first_area(session: Session, *, kind: str) -> str | None:
    """The id of the first area of a kind (by id), if there is one."""
    return session.scalars(select(Area.id).where(Area.kind == kind).order_by(Area.id)).first()


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


def residents_by_area(
    session: Session, *, area_ids: Collection[str] | None = None
) -> list[tuple[str, int, float | None, float | None, dict[str, Any] | None]]:
    """(area id, registered residents, centre lat, centre lon, boundary) of every area people live
    in (of `area_ids` only, if given): how population is placed on a map without naming anyone."""
    # Counted first, then joined: a JSON boundary cannot be grouped by on PostgreSQL.
    counts = (
        select(Person.home_area_id.label("area_id"), func.count().label("residents"))
        .where(Person.home_area_id.is_not(None))
        .group_by(Person.home_area_id)
        .subquery()
    )
    query = (
        select(Area.id, counts.c.residents, Area.lat, Area.lon, Area.boundary)
        .join(counts, counts.c.area_id == Area.id)
        .order_by(Area.id)
    )
    if area_ids is not None:
        query = query.where(Area.id.in_(sorted(area_ids)))
    return [(r[0], int(r[1]), r[2], r[3], r[4]) for r in session.execute(query)]
