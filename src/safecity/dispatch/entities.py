"""Incidents (警情) as the workbench's search documents and links (`core.entities`).

An incident is found by its number, kind, address, description and caller (the caller's phone
masked in results); it links to the alert that raised it, dated when it was reported.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.entities import CodeClass, Document, Edge, EntitySource, node
from safecity.dispatch.models import Incident


def _documents(session: Session) -> Iterator[Document]:
    i = Incident
    for iid, kind, address, description, caller, phone, area, reported in session.execute(
        select(
            i.id, i.kind, i.address, i.description, i.caller_name, i.caller_phone, i.area_id, i.reported_at
        )
    ):
        codes = {"incident": (CodeClass.CODE, str(iid))}
        if phone:
            codes["caller's phone"] = (CodeClass.NUMBER, phone)
        yield Document(
            "incident",
            str(iid),
            f"{kind} {address} ({reported:%Y-%m-%d %H:%M} UTC)".strip(),
            area,
            text={"kind": kind, "address": address, "description": description[:500], "caller": caller},
            codes=codes,
            masked=frozenset({"caller's phone"}),
        )


def _edges(session: Session) -> Iterator[Edge]:
    i = Incident
    for iid, alert, reported in session.execute(
        select(i.id, i.alert_id, i.reported_at).where(i.alert_id.is_not(None))
    ):
        yield Edge(node("alert", alert), node("incident", iid), "raised", "dispatch_incidents", reported)


INCIDENT_ENTITIES = EntitySource("incidents", documents=_documents, edges=_edges)

__all__ = ["INCIDENT_ENTITIES"]
