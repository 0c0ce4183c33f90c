"""Missing-person routes: report a wearer missing, follow the search, close it as found or withdrawn.

A guardian reports and follows the wearers they guard (their citizen account); officers those of
their areas. Each route calls one use case of `tracking.MissingPersons`, which checks the reach and
audits the read or change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.core.clock import UtcTime
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.tracking.missing import MissingPersons
from safecity.tracking.missing_schemas import (
    FixesOut,
    FoundIn,
    MissingIn,
    MissingOut,
    MissingStats,
    MissingSummary,
    WithdrawIn,
)
from safecity.tracking.wearer_track import WearerTracks
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep, RowId

router = APIRouter(prefix="/api/v1", tags=["missing persons"])


@router.post(
    "/wearers/{wearer_id}/missing",
    status_code=201,
    response_model=MissingOut,
    summary="Report a wearer missing: the last fix, the day's path and the search area at once",
)
def report_missing(
    wearer_id: RowId,
    body: MissingIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.MISSING_REPORT),
) -> MissingOut:
    """Raises a critical warning to the station where the wearer was last placed and tells the guardians."""
    return platform.service(MissingPersons).report(
        who.context(), wearer_id, body, resource=resource_of(request)
    )


@router.get("/wearers/{wearer_id}/fixes", response_model=FixesOut, summary="A wearer's fixes for the map")
def wearer_fixes(
    wearer_id: RowId,
    platform: PlatformDep,
    request: Request,
    start: Annotated[UtcTime | None, Query(description="Default: 24 hours before end.")] = None,
    end: Annotated[UtcTime | None, Query(description="Default: now.")] = None,
    who: Principal = need(P.MISSING_REPORT),
) -> FixesOut:
    """Oldest first, at most a week at a time; officers of the wearer's area or their guardians; audited."""
    return platform.service(WearerTracks).fixes(
        who.context(), wearer_id, start=start, end=end, resource=resource_of(request)
    )


@router.get("/missing", response_model=list[MissingSummary], summary="Missing-person reports, newest first")
def list_missing(
    platform: PlatformDep,
    request: Request,
    status: Annotated[str | None, Query(pattern="^(open|found|withdrawn)$")] = None,
    who: Principal = need(P.MISSING_REPORT),
) -> list[MissingSummary]:
    """Reports of the caller's areas (a guardian: of their wearers)."""
    return platform.service(MissingPersons).reports(
        who.context(), status=status, resource=resource_of(request)
    )


@router.get("/missing/stats", response_model=MissingStats, summary="How quickly missing wearers are found")
def missing_stats(platform: PlatformDep, who: Principal = need(P.MISSING_REPORT)) -> MissingStats:
    """Counts by outcome and the time from report to found (median, 90th percentile, longest)."""
    return platform.service(MissingPersons).stats(who.context())


@router.get(
    "/missing/{report_id}", response_model=MissingOut, summary="A report with the path and area as of now"
)
def get_missing(
    report_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.MISSING_REPORT)
) -> MissingOut:
    """The path and the search area are brought up to date at each read; the read is audited."""
    return platform.service(MissingPersons).view(who.context(), report_id, resource=resource_of(request))


@router.post("/missing/{report_id}/found", response_model=MissingOut, summary="The wearer is found")
def found_missing(
    report_id: RowId,
    body: FoundIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.MISSING_REPORT),
) -> MissingOut:
    """Where and when; the time from report to found is kept, and the warning closes as confirmed."""
    return platform.service(MissingPersons).found(
        who.context(), report_id, body, resource=resource_of(request)
    )


@router.post("/missing/{report_id}/withdraw", response_model=MissingOut, summary="Not missing after all")
def withdraw_missing(
    report_id: RowId,
    body: WithdrawIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.MISSING_REPORT),
) -> MissingOut:
    """The report is taken back with the reason; the warning closes as a false alarm."""
    return platform.service(MissingPersons).withdraw(
        who.context(), report_id, body, resource=resource_of(request)
    )
