"""Search and links over HTTP: what the routes take and give (the use cases are `explore.py`'s)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from safecity.workbench.explore import KINDS, LinksAnswer, SearchAnswer
from safecity.workbench.links import MAX_HOPS, LinkEdge
from safecity.workbench.schemas import Justification

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SearchIn(Justification):
    """One search box's words: names, addresses, plates with wildcards, number fragments."""

    q: str = Field(
        max_length=100,
        description=(
            "Words, all of which must match: Chinese or English names and addresses, pinyin or its "
            "initials (zw), fragments of identity numbers, phones, plates, tags; ? is one character and "
            "* any, and a pattern with them matches the whole value (浙C?12*5)."
        ),
    )
    kinds: list[str] | None = Field(
        None, max_length=len(KINDS), description=f"Only these kinds: {', '.join(KINDS)}"
    )


class HitOut(BaseModel):
    kind: str
    key: str
    node: str = Field(description="The entity as the links graph names it (kind:key).")
    title: str
    area_id: str | None
    score: int = Field(description="3 for each word matching a whole field, 2 its start, 1 inside it.")
    why: list[str]
    fields: dict[str, str] = Field(description="Its fields; identity and phone numbers masked.")


class SearchOut(BaseModel):
    case_id: str
    query_id: int
    q: str
    groups: dict[str, list[HitOut]] = Field(description="Hits by kind, best first (up to 10 each).")
    totals: dict[str, int] = Field(description="How many each kind had.")
    more: bool = Field(
        description="More than 500 matched, or checking took too long: the best found are shown; add words."
    )


class ExpandIn(Justification):
    """The entities linked to one, hops out."""

    node: str = Field(max_length=100, description="kind:key, as search names it (person:12, plate:浙C5T168).")
    hops: int = Field(1, ge=1, le=MAX_HOPS)


class ConnectionIn(Justification):
    """The shortest chain of links between two entities."""

    a: str = Field(max_length=100)
    b: str = Field(max_length=100)


class LinkNodeOut(BaseModel):
    id: str
    kind: str
    label: str
    hops: int
    degree: int


class LinkEdgeOut(BaseModel):
    a: str
    b: str
    relation: str
    source: str = Field(description="The table (or the case's question) the link was read from.")
    since: datetime | None


class LinksOut(BaseModel):
    case_id: str
    query_id: int
    nodes: list[LinkNodeOut]
    edges: list[LinkEdgeOut]
    truncated: bool = Field(description="More entities were linked than drawn: expand one of them.")
    path: list[LinkEdgeOut] | None = Field(
        None, description="For a connection: its links in order (empty if none)."
    )


def search_out(answer: SearchAnswer) -> SearchOut:
    """The API's shape of a search answer."""
    return SearchOut(
        case_id=answer.case_id,
        query_id=answer.query_id,
        q=answer.result.query,
        groups={
            kind: [
                HitOut(
                    kind=h.kind,
                    key=h.key,
                    node=f"{h.kind}:{h.key}",
                    title=h.title,
                    area_id=h.area_id,
                    score=h.score,
                    why=h.why,
                    fields=h.shown,
                )
                for h in hits
            ]
            for kind, hits in answer.result.groups.items()
        },
        totals=answer.result.totals,
        more=answer.result.more,
    )


def _edge(e: LinkEdge) -> LinkEdgeOut:
    return LinkEdgeOut(a=e.a, b=e.b, relation=e.relation, source=e.source, since=e.since)


def links_out(answer: LinksAnswer) -> LinksOut:
    """The API's shape of a links answer."""
    return LinksOut(
        case_id=answer.case_id,
        query_id=answer.query_id,
        nodes=[
            LinkNodeOut(id=n.id, kind=n.kind, label=n.label, hops=n.hops, degree=n.degree)
            for n in answer.view.nodes
        ],
        edges=[_edge(e) for e in answer.view.edges],
        truncated=answer.view.truncated,
        path=None if answer.path is None else [_edge(e) for e in answer.path],
    )


__all__ = ["ConnectionIn", "ExpandIn", "LinksOut", "SearchIn", "SearchOut", "links_out", "search_out"]
