"""The city's vehicle registry as search documents and links (`core.entities`).

A registered plate is found by its plate (fragments, wildcards) and by its make and model; it
links to its registered keeper, dated by the registration. The registry holds no area, so a
registered plate is found under any case (its keeper is not: people are scoped by their home).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.entities import CodeClass, Document, Edge, EntitySource, node
from safecity.workbench.vehicle_models import VehicleRegistration


def _documents(session: Session) -> Iterator[Document]:
    r = VehicleRegistration
    for plate, kind, colour, make, status in session.execute(
        select(r.plate, r.vehicle_type, r.body_colour, r.make_model, r.status)
    ):
        yield Document(
            "plate",
            plate,
            f"{plate} {make} {colour} {kind} ({status})",
            None,
            text={"make and model": make},
            codes={"plate": (CodeClass.PLATE, plate)},
        )


def _edges(session: Session) -> Iterator[Edge]:
    r = VehicleRegistration
    for plate, owner, registered in session.execute(
        select(r.plate, r.owner_id, r.registered_at).where(r.owner_id.is_not(None))
    ):
        yield Edge(
            node("person", owner),
            node("plate", plate),
            "registered keeper",
            "vehicle_registrations",
            registered,
        )


VEHICLE_ENTITIES = EntitySource("vehicle_registry", documents=_documents, edges=_edges)

__all__ = ["VEHICLE_ENTITIES"]
