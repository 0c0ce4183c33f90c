"""The visit list's places: tasks grouped by building and flat, and where the officer's round starts.

Read helpers of places.visits (no writes): grouping is by the building of a task (or its
compound when no building is known) and then by flat, each place at its most urgent task.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity import registry
from safecity.places.models import (
    Building,
    Compound,
    Flat,
    VisitTask,
)
from safecity.places.visit_schemas import (
    FlatTasks,
    PlaceTasks,
    VisitOut,
)


def round_start(
    session: Session,
    community_id: str | None,
    position: tuple[float, float] | None,
    places: Sequence[PlaceTasks],
) -> tuple[tuple[float, float] | None, str]:
    """Where the round starts: the officer's position, else the community centre, else the first place."""
    if position is not None:
        return position, "officer"
    communities = [community_id] if community_id else sorted({c for p in places if (c := _community(p))})
    if len(communities) == 1:
        area = registry.get_area(session, area_id=communities[0])
        if area is not None and area.lat is not None and area.lon is not None:
            return (area.lat, area.lon), "community"
    return None, "first_place"


def visit_out(task: VisitTask) -> VisitOut:
    return VisitOut.model_validate(task, from_attributes=True)


def places_of_tasks(session: Session, tasks: Sequence[VisitTask]) -> list[PlaceTasks]:
    """Tasks grouped by place (building, or compound) and flat; places by their best priority."""
    compounds = _by_id(session, Compound, {t.compound_id for t in tasks})
    buildings = _by_id(session, Building, {t.building_id for t in tasks})
    flats = _by_id(session, Flat, {t.flat_id for t in tasks})
    grouped: dict[str, dict[int | None, list[VisitTask]]] = defaultdict(lambda: defaultdict(list))
    for task in tasks:  # already by priority, then age
        key = f"building:{task.building_id}" if task.building_id else f"compound:{task.compound_id}"
        grouped[key][task.flat_id].append(task)
    places: list[PlaceTasks] = []
    for key, by_flat in grouped.items():
        first = next(iter(by_flat.values()))[0]
        compound = compounds.get(first.compound_id)
        building = buildings.get(first.building_id)
        where = building if building is not None and building.lat is not None else compound
        places.append(
            PlaceTasks(
                key=key,
                compound_id=first.compound_id,
                compound_name=compound.name if compound is not None else None,
                building_id=first.building_id,
                building_name=building.name if building is not None else None,
                lat=where.lat if where is not None else None,
                lon=where.lon if where is not None else None,
                priority=min(t.priority for ts in by_flat.values() for t in ts),
                flats=[_flat_tasks(flat_id, flats.get(flat_id), ts) for flat_id, ts in by_flat.items()],
            )
        )
    return places  # insertion order is the order of each place's most urgent task


def _flat_tasks(flat_id: int | None, flat: Flat | None, tasks: list[VisitTask]) -> FlatTasks:
    return FlatTasks(
        flat_id=flat_id,
        number=flat.number if flat is not None else None,
        capacity=flat.capacity if flat is not None else None,
        visited_on=flat.visited_on if flat is not None else None,
        tasks=[visit_out(t) for t in tasks],
    )


def _by_id(session: Session, table: Any, ids: Iterable[Any]) -> dict[Any, Any]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(table).where(table.id.in_(wanted)))}


def _community(place: PlaceTasks) -> str | None:
    first = place.flats[0].tasks[0] if place.flats and place.flats[0].tasks else None
    return first.community_id if first is not None else None


__all__ = ["places_of_tasks", "round_start", "visit_out"]
