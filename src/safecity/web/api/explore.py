"""Search and links over HTTP, under a case: the use cases are `safecity.workbench.explore.Explorer`'s.

POSTs, like the workbench's other questions: the case and purpose travel in the body, and
fragments of identity numbers stay out of URLs and their logs.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, note_case, resource_of
from safecity.web.deps import PlatformDep
from safecity.workbench.explore import Explorer
from safecity.workbench.explore_schemas import (
    ConnectionIn,
    ExpandIn,
    LinksOut,
    SearchIn,
    SearchOut,
    links_out,
    search_out,
)

router = APIRouter(prefix="/api/v1/workbench", tags=["workbench"])


@router.post(
    "/search", response_model=SearchOut, summary="Search people, places, vehicles and more, under a case"
)
def search(
    body: SearchIn, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> SearchOut:
    """Entities matching every word of the query, grouped by kind, best first, each saying why it matched."""
    note_case(request, body)
    answer = platform.service(Explorer).search(
        who,
        body.q,
        kinds=body.kinds,
        case_id=body.case_id,
        purpose=body.purpose,
        resource=resource_of(request),
    )
    return search_out(answer)


@router.post("/links", response_model=LinksOut, summary="The entities linked to one, under a case")
def links(
    body: ExpandIn, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> LinksOut:
    """Entities within `hops` links of a node, each link with its source and date (registries, and the
    companions the case's questions found)."""
    note_case(request, body)
    answer = platform.service(Explorer).expand(
        who,
        body.node,
        hops=body.hops,
        case_id=body.case_id,
        purpose=body.purpose,
        resource=resource_of(request),
    )
    return links_out(answer)


@router.post("/connection", response_model=LinksOut, summary="The shortest connection between two entities")
def connection(
    body: ConnectionIn, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> LinksOut:
    """The fewest links from a to b (up to 6), each with its source and date; an empty path if none."""
    note_case(request, body)
    answer = platform.service(Explorer).connection(
        who, body.a, body.b, case_id=body.case_id, purpose=body.purpose, resource=resource_of(request)
    )
    return links_out(answer)


__all__ = ["router"]
