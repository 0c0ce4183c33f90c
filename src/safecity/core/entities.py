"""Entities as the workbench's search and links see them: documents to find, edges between them.

Every package that keeps a registry (people, bikes and devices in `registry`, flats, shops and
residents' vehicles in `places`, cases in `security`, alerts in `alerts`) contributes an
`EntitySource` extension saying how its rows read as search documents and which links they
hold; the workbench indexes the documents (`workbench/search.py`) and draws the links
(`workbench/links.py`) without importing any of those packages. A node of the links graph is
named `kind:key` (`person:12`, `plate:浙C5T168`), the same as a search result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session


class CodeClass(StrEnum):
    """How an identifier is matched: plates, digit strings (phones, identity numbers), other codes."""

    PLATE = "p"
    NUMBER = "n"
    CODE = "c"


@dataclass(frozen=True, slots=True)
class Document:
    """One thing a search can find: its kind and key, what to show, and the fields it is found by.

    `text` fields (names, addresses, models) are found by words, fragments and pinyin; `codes`
    (plates, phone and identity numbers, tags, frame numbers) by fragments and wildcards.
    `masked` names the fields shown masked (identity and phone numbers).
    """

    kind: str
    key: str
    title: str
    area_id: str | None = None
    text: dict[str, str] = field(default_factory=dict)
    codes: dict[str, tuple[CodeClass, str]] = field(default_factory=dict)
    masked: frozenset[str] = frozenset()

    @property
    def node(self) -> str:
        """The links graph's name for it."""
        return node(self.kind, self.key)


@dataclass(frozen=True, slots=True)
class Edge:
    """A link between two entities: what it is, the table it comes from, and since when."""

    a: str  # node names, "person:12"
    b: str
    relation: str  # "owns", "tenant of", "phone"
    source: str  # the table (or analysis) it was read from
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class EntitySource:
    """An extension: a registry's rows as search documents and as links (either may be absent)."""

    name: str
    documents: Callable[[Session], Iterable[Document]] | None = None
    edges: Callable[[Session], Iterable[Edge]] | None = None


# A lake subject kind as the links graph names the entity it stands for (a tag is its bike's).
SUBJECT_NODES = {"tag": "ebike"}


def node(kind: str, key: object) -> str:
    """The links graph's name of an entity."""
    return f"{kind}:{key}"


def subject_node(subject_kind: str, subject: str) -> str:
    """The links graph's name of a lake subject (`tag`, `plate`, `phone`, `card` ...)."""
    return node(SUBJECT_NODES.get(subject_kind, subject_kind), subject)


__all__ = ["SUBJECT_NODES", "CodeClass", "Document", "Edge", "EntitySource", "node", "subject_node"]
