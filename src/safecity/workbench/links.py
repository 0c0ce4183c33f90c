"""Links: a graph of people, homes, vehicles, bikes, phones, cards, devices, alerts and cases.

The edges come from every package's `core.entities.EntitySource` (a bike's owner, a tenancy, a
resident's plate, an alert's subject), each carrying its source table and date, and, inside a
case, from the lake: the companions the case's questions found (a phone seen with a plate at
four places) join the graph as co-occurrence edges naming the saved question.

The registry edges are held as a compressed adjacency (CSR: an offset per node into one array of
neighbours and one of edge numbers), rebuilt when older than `max_age_s`, so expanding a node
two hops out or finding the shortest connection between two entities reads arrays, not tables:
two hops around a person in 5 million edges take milliseconds (`make bench NAME=links`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.capabilities import extensions
from safecity.core.entities import Edge, EntitySource
from safecity.workbench.errors import QueryRefused
from safecity.workbench.models import SearchDocument

MAX_HOPS = 3
MAX_NODES = 300  # an expansion draws at most this many; more says which to open next
MAX_PATH_HOPS = 6


@dataclass(frozen=True, slots=True)
class LinkEdge:
    """One link as drawn: its ends, what it is, where it was read and since when."""

    a: str
    b: str
    relation: str
    source: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class LinkNode:
    """One entity as drawn: its name, kind, label and how many hops from where the question began."""

    id: str
    kind: str
    label: str
    hops: int
    degree: int  # all its links, drawn or not


@dataclass(frozen=True, slots=True)
class LinkView:
    """Nodes and edges to draw; `truncated` when MAX_NODES cut the expansion."""

    nodes: list[LinkNode]
    edges: list[LinkEdge]
    truncated: bool = False


class Graph:
    """Edges as a CSR adjacency over numbered nodes (both directions), with each edge's facts."""

    def __init__(self, edges: Iterable[Edge]) -> None:
        ids: dict[str, int] = {}
        a_list: list[int] = []
        b_list: list[int] = []
        self.facts: list[tuple[str, str, datetime | None]] = []
        for edge in edges:
            a = ids.setdefault(edge.a, len(ids))
            b = ids.setdefault(edge.b, len(ids))
            a_list.append(a)
            b_list.append(b)
            self.facts.append((edge.relation, edge.source, edge.since))
        self.ids = ids
        self.names = list(ids)
        self._build(np.asarray(a_list, dtype=np.int64), np.asarray(b_list, dtype=np.int64))

    @classmethod
    def from_arrays(
        cls, names: list[str], a: np.ndarray, b: np.ndarray, facts: list[tuple[str, str, datetime | None]]
    ) -> Graph:
        """A graph from numbered edges (the benchmark's millions, without an Edge each)."""
        graph = cls.__new__(cls)
        graph.names = names
        graph.ids = {n: i for i, n in enumerate(names)}
        graph.facts = facts
        graph._build(a, b)
        return graph

    def _build(self, a: np.ndarray, b: np.ndarray) -> None:
        self.ends = np.stack([a, b], axis=1) if len(a) else np.zeros((0, 2), dtype=np.int64)
        n = len(self.names)
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        edge = np.concatenate([np.arange(len(a)), np.arange(len(a))])
        order = np.argsort(src, kind="stable")
        self.neighbours = dst[order]
        self.edge_of = edge[order]
        self.offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=self.offsets[1:])

    def __len__(self) -> int:
        return len(self.ends)

    def around(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Node i's neighbours and the edges to them."""
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.neighbours[lo:hi], self.edge_of[lo:hi]

    def degree(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])


Allowed = Callable[[Iterable[str]], set[str]]  # of these nodes, the ones the question may show


def _side(extra: Sequence[LinkEdge]) -> dict[str, list[tuple[str, LinkEdge]]]:
    side: dict[str, list[tuple[str, LinkEdge]]] = {}
    for e in extra:
        side.setdefault(e.a, []).append((e.b, e))
        side.setdefault(e.b, []).append((e.a, e))
    return side


def expand(
    graph: Graph,
    start: str,
    *,
    hops: int,
    allowed: Allowed | None = None,
    extra: Sequence[LinkEdge] = (),
    max_nodes: int = MAX_NODES,
) -> tuple[dict[str, int], list[LinkEdge], bool]:
    """Nodes within `hops` of `start` (breadth first), the edges between them, and whether
    MAX_NODES cut it. `allowed` hides nodes (outside the case's areas), asked once per hop.
    `extra` edges (the case's co-occurrences) count as if they were the graph's."""
    if not 1 <= hops <= MAX_HOPS:
        raise QueryRefused(f"hops must be 1 to {MAX_HOPS}", field="hops")
    side = _side(extra)
    seen = {start: 0}
    frontier = [start]
    edges: dict[tuple[str, str, str], LinkEdge] = {}
    truncated = False
    for hop in range(1, hops + 1):
        found = [(other, link) for name in frontier for other, link in _links(graph, name, side)]
        new = {other for other, _ in found if other not in seen}
        shown = new if allowed is None else allowed(new)
        following: list[str] = []
        for other, link in found:
            if other in new:
                if other not in shown:
                    continue
                if other not in seen:
                    if len(seen) >= max_nodes:
                        truncated = True
                        continue
                    seen[other] = hop
                    following.append(other)
            edges.setdefault((link.a, link.b, link.relation), link)
        frontier = following
    kept = [e for e in edges.values() if e.a in seen and e.b in seen]
    return seen, kept, truncated


def _links(
    graph: Graph, name: str, side: dict[str, list[tuple[str, LinkEdge]]]
) -> list[tuple[str, LinkEdge]]:
    out = list(side.get(name, ()))
    i = graph.ids.get(name)
    if i is not None:
        neighbours, edge_numbers = graph.around(i)
        for j, e in zip(neighbours.tolist(), edge_numbers.tolist(), strict=True):
            a, b = graph.ends[e]
            relation, source, since = graph.facts[e]
            out.append((graph.names[j], LinkEdge(graph.names[a], graph.names[b], relation, source, since)))
    return out


def shortest(
    graph: Graph,
    a: str,
    b: str,
    *,
    allowed: Allowed | None = None,
    extra: Sequence[LinkEdge] = (),
    max_hops: int = MAX_PATH_HOPS,
) -> list[LinkEdge] | None:
    """The fewest links from a to b (breadth first from both ends, the smaller side first), or None
    within max_hops."""
    if a == b:
        return []
    side = _side(extra)
    parents: list[dict[str, tuple[str, LinkEdge] | None]] = [{a: None}, {b: None}]
    frontiers: list[list[str]] = [[a], [b]]
    hops = 0
    while frontiers[0] and frontiers[1] and hops < max_hops:
        hops += 1
        k = 0 if len(frontiers[0]) <= len(frontiers[1]) else 1
        found = [(name, other, link) for name in frontiers[k] for other, link in _links(graph, name, side)]
        new = {other for _, other, _ in found if other not in parents[k]}
        shown = new if allowed is None else allowed(new - set(parents[1 - k])) | (new & set(parents[1 - k]))
        following: list[str] = []
        for name, other, link in found:
            if other in parents[k] or other not in shown:
                continue
            parents[k][other] = (name, link)
            if other in parents[1 - k]:
                return _joined(parents, other)
            following.append(other)
        frontiers[k] = following
    return None


def _joined(parents: list[dict[str, tuple[str, LinkEdge] | None]], meet: str) -> list[LinkEdge]:
    left: list[LinkEdge] = []
    step = parents[0][meet]
    while step is not None:
        left.append(step[1])
        step = parents[0][step[0]]
    right: list[LinkEdge] = []
    step = parents[1][meet]
    while step is not None:
        right.append(step[1])
        step = parents[1][step[0]]
    return left[::-1] + right


class Links:
    """The registries' links graph, rebuilt when older than `max_age_s`, with labels and areas."""

    def __init__(
        self, sources: Sequence[EntitySource], session_factory: sessionmaker[Session], max_age_s: float = 60.0
    ) -> None:
        self._sources = [s.edges for s in sources if s.edges is not None]
        self._sessions = session_factory
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._graph: Graph | None = None
        self._built = 0.0

    @classmethod
    def build(cls, platform: Any) -> Links:
        """Over every installed capability's entity sources (a `core.capabilities.Service` builder)."""
        from safecity.workbench.settings import WorkbenchSettings

        age = platform.settings.section(WorkbenchSettings).search_sync_interval_s
        return cls(extensions(EntitySource), platform.session_factory, max_age_s=age)

    def graph(self) -> Graph:
        """The graph, rebuilt from the registries if it is older than max_age_s."""
        with self._lock:
            if self._graph is None or time.monotonic() - self._built > self._max_age_s:
                with self._sessions() as session:
                    edges = [e for read in self._sources for e in read(session)]
                self._graph = Graph(edges)
                self._built = time.monotonic()
            return self._graph

    def invalidate(self) -> None:
        with self._lock:
            self._graph = None

    def described(self, session: Session, names: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """Each node's label and area, from the search documents (a node with none: its own name)."""
        keys = [tuple(n.split(":", 1)) for n in names if ":" in n]
        found: dict[str, tuple[str, str | None]] = {}
        for chunk in range(0, len(keys), 400):
            part = keys[chunk : chunk + 400]
            for kind, key, title, area in session.execute(
                select(
                    SearchDocument.kind, SearchDocument.key, SearchDocument.title, SearchDocument.area_id
                ).where(tuple_(SearchDocument.kind, SearchDocument.key).in_(part))
            ):
                found[f"{kind}:{key}"] = (title, area)
        return found


__all__ = ["MAX_HOPS", "Graph", "LinkEdge", "LinkNode", "LinkView", "Links", "expand", "shortest"]
