"""Compounds, flats, shops and residents' vehicles as the workbench's search documents and links.

A flat is found by its address (compound, building, number); a shop by name; a resident's
vehicle by its plate. Links: a flat's owner and its tenants (current and past, each dated), a
flat's compound, a shop's owner, a vehicle's keeper and the compound whose gate knows it.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.entities import CodeClass, Document, Edge, EntitySource, node
from safecity.places.models import Building, Compound, Flat, Shop, Tenancy, Vehicle


def _documents(session: Session) -> Iterator[Document]:
    for cid, name, area in session.execute(select(Compound.id, Compound.name, Compound.community_id)):
        yield Document("compound", cid, name, area, text={"name": name}, codes={"id": (CodeClass.CODE, cid)})
    for fid, number, building, compound, area in session.execute(
        select(Flat.id, Flat.number, Building.name, Compound.name, Compound.community_id)
        .join(Building, Building.id == Flat.building_id)
        .join(Compound, Compound.id == Building.compound_id)
    ):
        address = f"{compound} {building} {number}"
        yield Document(
            "flat",
            str(fid),
            address,
            area,
            text={"address": address},
            codes={"flat": (CodeClass.CODE, number)},
        )
    for sid, name, area in session.execute(select(Shop.id, Shop.name, Shop.community_id)):
        yield Document("shop", str(sid), name, area, text={"name": name})
    seen: set[str] = set()
    for plate, compound, area in session.execute(
        select(Vehicle.plate, Compound.name, Compound.community_id).join(
            Compound, Compound.id == Vehicle.compound_id
        )
    ):
        if plate not in seen:  # one plate may be known at several gates: one document
            seen.add(plate)
            yield Document(
                "plate", plate, f"{plate} ({compound})", area, codes={"plate": (CodeClass.PLATE, plate)}
            )


def _edges(session: Session) -> Iterator[Edge]:
    for fid, owner in session.execute(
        select(Flat.id, Flat.owner_person_id).where(Flat.owner_person_id.is_not(None))
    ):
        yield Edge(node("person", owner), node("flat", fid), "owns", "flats")
    for fid, compound in session.execute(select(Flat.id, Building.compound_id).join(Building)):
        yield Edge(node("flat", fid), node("compound", compound), "in", "buildings")
    for fid, person, starts, ended in session.execute(
        select(Tenancy.flat_id, Tenancy.person_id, Tenancy.starts_at, Tenancy.checked_out_at)
    ):
        relation = "tenant of" if ended is None else f"tenant of (left {ended:%Y-%m-%d})"
        yield Edge(node("person", person), node("flat", fid), relation, "tenancies", starts)
    for sid, owner in session.execute(select(Shop.id, Shop.owner_person_id)):
        yield Edge(node("person", owner), node("shop", sid), "owns", "shops")
    for plate, compound, keeper, registered in session.execute(
        select(Vehicle.plate, Vehicle.compound_id, Vehicle.person_id, Vehicle.registered_at)
    ):
        yield Edge(node("plate", plate), node("compound", compound), "let in at", "vehicles", registered)
        if keeper is not None:
            yield Edge(node("person", keeper), node("plate", plate), "keeps", "vehicles", registered)


PLACES_ENTITIES = EntitySource("places", documents=_documents, edges=_edges)

__all__ = ["PLACES_ENTITIES"]
