"""Alerts as the workbench's search documents and links (`core.entities`).

An alert is found by its id, title and subject; it links to the subject it is about (a bike's
alert to the bike, by its tag), dated when it was raised.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.alerts.models import Alert
from safecity.core.entities import CodeClass, Document, Edge, EntitySource, node, subject_node


def _documents(session: Session) -> Iterator[Document]:
    for aid, title, kind, subject, area in session.execute(
        select(Alert.id, Alert.title, Alert.subject_kind, Alert.subject, Alert.area_id)
    ):
        yield Document(
            "alert",
            aid,
            f"{title} ({kind} {subject})",
            area,
            text={"title": title},
            codes={
                "alert id": (CodeClass.CODE, aid),
                kind: (CodeClass.PLATE if kind == "plate" else CodeClass.CODE, subject),
            },
        )


def _edges(session: Session) -> Iterator[Edge]:
    for aid, kind, subject, created in session.execute(
        select(Alert.id, Alert.subject_kind, Alert.subject, Alert.created_at)
    ):
        yield Edge(node("alert", aid), subject_node(kind, subject), "about", "alerts", created)


ALERT_ENTITIES = EntitySource("alerts", documents=_documents, edges=_edges)

__all__ = ["ALERT_ENTITIES"]
