"""Search and links as use cases: justified by a case, scoped to its areas, audited, saved.

Finding a person by a fragment of an identity number, or who lives with the owner of a bike,
is person-level data: each question needs an open case the caller works, with a purpose; it sees
only entities of the case's areas (and those with no area, such as a phone number); cases only
if the caller is their member; and it leaves an audit record naming what it revealed, and the
question with its answer in the case's workspace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.audit import AuditEntry
from safecity.core.entities import subject_node
from safecity.security import AccessDenied, Permission, Principal, Security
from safecity.security.cases import Justified, justify, member_case_ids
from safecity.workbench.errors import QueryRefused
from safecity.workbench.links import LinkEdge, LinkNode, Links, LinkView, expand, shortest
from safecity.workbench.models import CaseQuery
from safecity.workbench.search import SearchIndex, SearchResult, search
from safecity.workbench.workspace import Workspaces

KINDS = (
    "person",
    "flat",
    "compound",
    "shop",
    "ebike",
    "plate",
    "phone",
    "device",
    "case",
    "alert",
    "incident",
)
MAX_NODE = 100


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    """A search's hits under the case that justified it."""

    case_id: str
    result: SearchResult
    query_id: int


@dataclass(frozen=True, slots=True)
class LinksAnswer:
    """A links question's drawing under the case that justified it (`path` for a connection)."""

    case_id: str
    view: LinkView
    query_id: int
    path: list[LinkEdge] | None = None


class Explorer:
    """Search and links for investigators, one use case per question."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        security: Security,
        index: SearchIndex,
        links: Links,
        workspaces: Workspaces,
    ) -> None:
        self._sessions = session_factory
        self._security = security
        self.index = index
        self.links = links
        self._workspaces = workspaces

    @classmethod
    def build(cls, platform: Any) -> Explorer:
        """Built with the platform's parts (a `core.capabilities.Service` builder)."""
        return cls(
            platform.session_factory,
            platform.security,
            platform.service(SearchIndex),
            platform.service(Links),
            platform.service(Workspaces),
        )

    def search(
        self,
        who: Principal,
        q: str,
        *,
        kinds: Sequence[str] | None = None,
        case_id: str | None,
        purpose: str | None,
        resource: str,
    ) -> SearchAnswer:
        """Entities matching the query's fragments, grouped by kind, each saying why."""
        self._require(who)
        unknown = sorted(set(kinds or ()) - set(KINDS))
        if unknown:
            raise QueryRefused(f"unknown kinds {unknown}: choose from {list(KINDS)}", field="kinds")
        case, areas = self._justify(who, case_id, purpose)
        self.index.ensure()
        with self._sessions() as session:
            result = search(session, q, areas=areas, kinds=kinds)
            cases = result.groups.get("case")
            if cases:
                mine = member_case_ids(session, who, [h.key for h in cases])
                result.groups["case"] = [h for h in cases if h.key in mine]
                result.totals["case"] = len(result.groups["case"])
                if not result.groups["case"]:
                    del result.groups["case"], result.totals["case"]
        found = [h for group in result.groups.values() for h in group]
        self._security.record(
            who.actor,
            AuditEntry(
                "registry.search",
                resource,
                case_id=case.id,
                purpose=purpose,
                subjects=[f"{h.kind}:{h.key}" for h in found],
                result_count=sum(result.totals.values()),
                detail={"q": q, "kinds": list(kinds or [])},
            ),
        )
        query_id = self._workspaces.save(
            case.id,
            kind="search",
            title=f"Search {q!r}: {sum(result.totals.values())} found",
            params={"q": q, "kinds": list(kinds or [])},
            result=msgspec.to_builtins(result),
            result_count=sum(result.totals.values()),
            by=who.actor.name,
        )
        return SearchAnswer(case.id, result, query_id)

    def expand(
        self,
        who: Principal,
        node: str,
        *,
        hops: int = 1,
        case_id: str | None,
        purpose: str | None,
        resource: str,
    ) -> LinksAnswer:
        """The entities within `hops` links of a node, with every link's source and date."""
        self._require(who)
        start = _node(node, "node")
        case, areas = self._justify(who, case_id, purpose)
        extra = self._cooccurrences(case.id)
        with self._sessions() as session:
            allowed = self._allowed(session, areas)
            if start not in allowed({start}):
                raise AccessDenied(
                    "outside_case_area",
                    f"{start} lies outside case {case.id}'s area {case.area_id}",
                    field="node",
                )
            seen, edges, truncated = expand(
                self.links.graph(), start, hops=hops, allowed=allowed, extra=extra
            )
            view = self._view(session, seen, edges, truncated)
        return self._answered(
            who,
            case,
            purpose,
            resource,
            view,
            title=f"Links {hops} hop(s) around {start}: {len(view.nodes)} entities",
            params={"node": start, "hops": hops},
        )

    def connection(
        self,
        who: Principal,
        a: str,
        b: str,
        *,
        case_id: str | None,
        purpose: str | None,
        resource: str,
    ) -> LinksAnswer:
        """The shortest chain of links between two entities, or an empty drawing if none within 6."""
        self._require(who)
        start, end = _node(a, "a"), _node(b, "b")
        case, areas = self._justify(who, case_id, purpose)
        extra = self._cooccurrences(case.id)
        with self._sessions() as session:
            allowed = self._allowed(session, areas)
            outside = [n for n in (start, end) if n not in allowed({n})]
            if outside:
                raise AccessDenied(
                    "outside_case_area",
                    f"{outside[0]} lies outside case {case.id}'s area {case.area_id}",
                    field="a" if outside[0] == start else "b",
                )
            path = shortest(self.links.graph(), start, end, allowed=allowed, extra=extra)
            names: dict[str, int] = {start: 0}
            for i, edge in enumerate(path or []):
                for n in (edge.a, edge.b):
                    names.setdefault(n, i + 1)
            view = self._view(session, names, path or [], False)
        hops = "no connection" if path is None else f"{len(path)} link(s)"
        return self._answered(
            who,
            case,
            purpose,
            resource,
            view,
            title=f"Connection {start} to {end}: {hops}",
            params={"a": start, "b": end},
            path=path or [],
        )

    # --- helpers ---------------------------------------------------------------------------

    def _answered(
        self,
        who: Principal,
        case: Justified,
        purpose: str | None,
        resource: str,
        view: LinkView,
        *,
        title: str,
        params: dict[str, Any],
        path: list[LinkEdge] | None = None,
    ) -> LinksAnswer:
        self._security.record(
            who.actor,
            AuditEntry(
                "registry.links",
                resource,
                case_id=case.id,
                purpose=purpose,
                subjects=[n.id for n in view.nodes],
                result_count=len(view.nodes),
                detail=params,
            ),
        )
        query_id = self._workspaces.save(
            case.id,
            kind="links",
            title=title,
            params=params,
            result=msgspec.to_builtins({"view": view, "path": path}),
            result_count=len(view.nodes),
            by=who.actor.name,
        )
        return LinksAnswer(case.id, view, query_id, path)

    def _require(self, who: Principal) -> None:
        if not who.can(Permission.SUBJECTS_TRACE):
            raise AccessDenied(
                "forbidden",
                f"your role ({who.role.value}) may not search people and their links",
                field="case_id",
            )

    def _justify(
        self, who: Principal, case_id: str | None, purpose: str | None
    ) -> tuple[Justified, list[str]]:
        tree = self._security.areas.tree()
        with self._sessions() as session:
            case = justify(
                session, who, case_id=case_id, purpose=purpose, start=None, end=None, area_id=None, tree=tree
            )
        return case, sorted(a for a in tree.expand([case.area_id]) if who.reaches(a))

    def _allowed(self, session: Session, areas: Sequence[str]) -> Any:
        """Which nodes the case may show: those of its areas, and those no area holds."""
        inside = set(areas)

        def allowed(names: Iterable[str]) -> set[str]:
            names = set(names)
            described = self.links.described(session, names)
            return {
                n for n in names if n not in described or described[n][1] is None or described[n][1] in inside
            }

        return allowed

    def _view(
        self, session: Session, seen: dict[str, int], edges: list[LinkEdge], truncated: bool
    ) -> LinkView:
        graph = self.links.graph()
        described = self.links.described(session, seen)
        nodes = [
            LinkNode(
                name,
                name.split(":", 1)[0],
                described.get(name, (name.split(":", 1)[1], None))[0],
                hops,
                graph.degree(graph.ids[name]) if name in graph.ids else 0,
            )
            for name, hops in sorted(seen.items(), key=lambda kv: (kv[1], kv[0]))
        ]
        return LinkView(nodes, edges, truncated)

    def _cooccurrences(self, case_id: str) -> list[LinkEdge]:
        """The companions the case's saved questions found, as links (the lake's co-occurrences)."""
        with self._sessions() as session:
            rows = session.execute(
                select(CaseQuery.id, CaseQuery.params, CaseQuery.result).where(
                    CaseQuery.case_id == case_id, CaseQuery.kind == "companions"
                )
            ).all()
        edges = []
        for qid, params, result in rows:
            target = subject_node(params["subject_kind"], params["subject"])
            for c in result.get("companions", []):
                edges.append(
                    LinkEdge(
                        target,
                        subject_node(c["subject_kind"], c["subject"]),
                        f"seen together {c['meetings']} times at {c['places']} places",
                        f"lake: companions (question {qid})",
                        _when(c.get("first")),
                    )
                )
        return edges


def _node(value: str, field: str) -> str:
    kind, _, key = value.strip().partition(":")
    if not kind or not key or len(value) > MAX_NODE:
        raise QueryRefused(
            f"{field} must name an entity as kind:key (person:12, plate:浙C5T168)", field=field
        )
    return f"{kind}:{key}"


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime) or value is None:
        return value
    return datetime.fromisoformat(str(value))


__all__ = ["KINDS", "Explorer", "LinksAnswer", "SearchAnswer"]
