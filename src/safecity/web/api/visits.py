"""Visit-list routes: the community officer's tasks from housing warnings, outcomes, visited flats, precision.

Each route calls one use case of `places.Visits`, which checks that the caller reaches the
community of the task or flat and audits the read or change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.places import VisitFilter, Visits
from safecity.places.visit_schemas import (
    FlatVisitedOut,
    OutcomeIn,
    RulePrecision,
    VisitedIn,
    VisitListOut,
    VisitOut,
)
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep, RowId

router = APIRouter(prefix="/api/v1", tags=["visits"])
AreaId = Annotated[str | None, Query(max_length=32, description="One community of the caller's.")]


@router.get("/visits", response_model=VisitListOut, summary="My visit list, by place, with a walking round")
def list_visits(
    platform: PlatformDep,
    request: Request,
    community_id: AreaId = None,
    status: Annotated[str, Query(pattern="^(open|done|all)$", description="open, done or all.")] = "open",
    rule: Annotated[str | None, Query(max_length=64, description="Tasks of one rule.")] = None,
    compound_id: Annotated[str | None, Query(max_length=32, description="Tasks of one compound.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
    lat: Annotated[float | None, Query(ge=-90, le=90, description="Where the officer stands.")] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="Where the officer stands.")] = None,
    who: Principal = need(P.VISITS_WORK),
) -> VisitListOut:
    """Tasks of the caller's communities grouped by building and flat, most urgent first, and a round."""
    where = VisitFilter(
        community_id=community_id, status=status, rule=rule, compound_id=compound_id, limit=limit
    )
    return platform.service(Visits).tasks(
        who.context(), where, lat=lat, lon=lon, resource=resource_of(request)
    )


@router.get(
    "/visits/precision", response_model=list[RulePrecision], summary="How each rule's visits turned out"
)
def visit_precision(
    platform: PlatformDep,
    request: Request,
    community_id: AreaId = None,
    who: Principal = need(P.VISITS_WORK),
) -> list[RulePrecision]:
    """Per rule: each outcome's count, tasks open, and confirmed / (confirmed + false alarm)."""
    return platform.service(Visits).precision(
        who.context(), community_id=community_id, resource=resource_of(request)
    )


@router.post("/visits/{visit_id}/outcome", response_model=VisitOut, summary="Record what a visit found")
def record_outcome(
    visit_id: RowId,
    body: OutcomeIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.VISITS_WORK),
) -> VisitOut:
    """Confirmed, explained, no one home (stays on the list) or false alarm, with a note."""
    return platform.service(Visits).record_outcome(
        who.context(), visit_id, body, resource=resource_of(request)
    )


@router.post("/flats/{flat_id}/visited", response_model=FlatVisitedOut, summary="Mark a flat visited")
def mark_visited(
    flat_id: RowId,
    body: VisitedIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.VISITS_WORK),
) -> FlatVisitedOut:
    """The officer visited the flat on a day (today by default; never in the future)."""
    return platform.service(Visits).mark_visited(who.context(), flat_id, body, resource=resource_of(request))
