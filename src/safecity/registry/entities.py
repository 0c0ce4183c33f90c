"""People, e-bikes and devices as the workbench's search documents and links (`core.entities`).

A person is found by name (characters, pinyin), identity-number and phone fragments; results
show both numbers masked. A bike by its tag, frame number, model and colour; a device by its id
and name. Links: a bike's owner, a person's phone and identity card (as the lake names them).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.entities import CodeClass, Document, Edge, EntitySource, node
from safecity.core.masking import mask_id_number, mask_phone
from safecity.registry.models import Device, EBike, Person


def _documents(session: Session) -> Iterator[Document]:
    for pid, name, id_number, phone, area, phone_pseudonym, card_pseudonym in session.execute(
        select(
            Person.id,
            Person.name,
            Person.id_number,
            Person.phone,
            Person.home_area_id,
            Person.phone_pseudonym,
            Person.id_pseudonym,
        )
    ):
        codes = {"identity number": (CodeClass.NUMBER, id_number)}
        if phone:
            codes["phone"] = (CodeClass.NUMBER, phone)
        yield Document(
            "person",
            str(pid),
            name,
            area,
            text={"name": name},
            codes=codes,
            masked=frozenset({"identity number", "phone"}),
        )
        # The lake's names of the person's phone and card, labelled for the links graph (masked)
        # and found by no search of their own: the person's document finds them.
        if phone and phone_pseudonym:
            yield Document("phone", phone_pseudonym, f"{mask_phone(phone)} ({name})", area)
        if card_pseudonym:
            yield Document("card", card_pseudonym, f"{mask_id_number(id_number)} ({name})", area)
    for tag, frame, model, colour, area in session.execute(
        select(EBike.tag_id, EBike.frame_number, EBike.model, EBike.colour, Person.home_area_id).outerjoin(
            Person, Person.id == EBike.owner_id
        )
    ):
        yield Document(
            "ebike",
            tag,
            f"{model} {colour} ({tag})",
            area,
            text={"model": model, "colour": colour},
            codes={"tag": (CodeClass.CODE, tag), "frame number": (CodeClass.CODE, frame)},
        )
    for device_id, kind, name, area in session.execute(
        select(Device.id, Device.kind, Device.name, Device.area_id)
    ):
        yield Document(
            "device",
            device_id,
            f"{name} ({device_id}, {kind})",
            area,
            text={"name": name},
            codes={"device id": (CodeClass.CODE, device_id)},
        )


def _edges(session: Session) -> Iterator[Edge]:
    for tag, owner, registered_at in session.execute(
        select(EBike.tag_id, EBike.owner_id, EBike.registered_at).where(EBike.owner_id.is_not(None))
    ):
        yield Edge(node("person", owner), node("ebike", tag), "owns", "ebikes", registered_at)
    # A person's phone and identity card as the lake names them (pseudonyms under the current key),
    # so that a phone or card a collision or companions question found leads to its holder.
    for pid, phone, phone_pseudonym, card_pseudonym, created_at in session.execute(
        select(Person.id, Person.phone, Person.phone_pseudonym, Person.id_pseudonym, Person.created_at)
    ):
        if phone_pseudonym or phone:
            yield Edge(
                node("person", pid), node("phone", phone_pseudonym or phone), "phone", "people", created_at
            )
        if card_pseudonym:
            yield Edge(
                node("person", pid), node("card", card_pseudonym), "identity card", "people", created_at
            )


REGISTRY_ENTITIES = EntitySource("registry", documents=_documents, edges=_edges)

__all__ = ["REGISTRY_ENTITIES"]
