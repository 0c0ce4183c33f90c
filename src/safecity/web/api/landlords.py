"""Landlord routes beyond the tenant list: which of my tenants have not swiped for a while.

The use case (places.TenantSwipes) reads the tenants the caller lets (an officer: of their
areas), their swipes at their compound's doors from the lake, and audits the read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.places import TenantSwipes
from safecity.places.visit_schemas import QuietTenantOut
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep

router = APIRouter(prefix="/api/v1", tags=["places"])


@router.get(
    "/my/quiet-tenants",
    response_model=list[QuietTenantOut],
    summary="My tenants who have not swiped for a while",
)
def quiet_tenants(
    platform: PlatformDep,
    request: Request,
    days: Annotated[
        int, Query(ge=1, le=60, description="No swipe at their compound's doors for this long.")
    ] = 7,
    who: Principal = need(P.TENANTS_READ),
) -> list[QuietTenantOut]:
    """Open tenants whose card opened none of their compound's doors for `days` (moved out unannounced?)."""
    return platform.service(TenantSwipes).quiet(who.context(), days=days, resource=resource_of(request))
