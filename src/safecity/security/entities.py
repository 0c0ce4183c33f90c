"""Cases as the workbench's search documents (`core.entities`): found by id and title.

The workbench shows a case only to its members; the document carries no member list, so that
filter is the search's (workbench/search.py), not this file's.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.core.entities import CodeClass, Document, EntitySource
from safecity.security.models import Case


def _documents(session: Session) -> Iterator[Document]:
    for cid, title, area, status in session.execute(select(Case.id, Case.title, Case.area_id, Case.status)):
        yield Document(
            "case",
            cid,
            f"{cid} {title} ({status})",
            area,
            text={"title": title},
            codes={"case id": (CodeClass.CODE, cid)},
        )


CASE_ENTITIES = EntitySource("cases", documents=_documents)

__all__ = ["CASE_ENTITIES"]
