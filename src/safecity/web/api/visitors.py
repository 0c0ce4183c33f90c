"""Visitor-pass routes: guards, committee workers and officers for their compounds, residents for their flats.

The use cases (places/visitors.py) decide who may issue, see and revoke which pass, and audit it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.places import Visitors
from safecity.places.schemas import VisitorPassIn, VisitorPassOut
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep, RowId

router = APIRouter(prefix="/api/v1", tags=["places"])


@router.post(
    "/visitor-passes", status_code=201, response_model=VisitorPassOut, summary="Let a visitor in for a while"
)
def register_pass(
    body: VisitorPassIn, platform: PlatformDep, request: Request, who: Principal = need(P.VISITORS_REGISTER)
) -> VisitorPassOut:
    """A time-limited pass (at most 7 days) that the compound's door controllers honour at once."""
    return platform.service(Visitors).register(who.context(), body, resource=resource_of(request))


@router.get("/visitor-passes", response_model=list[VisitorPassOut], summary="Visitor passes")
def list_passes(
    platform: PlatformDep,
    request: Request,
    compound_id: Annotated[str | None, Query(max_length=32)] = None,
    expired: bool = False,
    who: Principal = need(P.VISITORS_REGISTER),
) -> list[VisitorPassOut]:
    """Passes in force (with `expired`, ended ones too) of the caller's compounds, or a resident's own."""
    return platform.service(Visitors).passes(
        who.context(), compound_id=compound_id, expired=expired, resource=resource_of(request)
    )


@router.post("/visitor-passes/{pass_id}/revoke", response_model=VisitorPassOut, summary="End a visitor pass")
def revoke_pass(
    pass_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.VISITORS_REGISTER)
) -> VisitorPassOut:
    """The visitor's card stops opening the doors at once."""
    return platform.service(Visitors).revoke(who.context(), pass_id, resource=resource_of(request))
