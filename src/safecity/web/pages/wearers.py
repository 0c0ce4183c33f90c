"""The elderly locators' pages (老人): the wearers list and one wearer's map, for officers and guardians.

Officers (`wearers.read`) open `/wearers`, the wearers of their areas; a guardian (`wearers.guard`,
a citizen account linked to the guardian's person) opens `/family`, the wearers they look after.
Both are the same shell, told which API to read; the detail page draws the live position, the path
of the last 24 hours with a time slider, the safe zones, open warnings, and the missing-person
report with its search area (reported, found or withdrawn from the page).

A wearer's page is refused (403, audited) before anything is drawn when the wearer is out of the
caller's reach, as the API would refuse each of its reads; the data itself comes from the API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.tracking.wearer_errors import WearerNotFound
from safecity.tracking.wearers import wearer_in_reach
from safecity.web.auth import page_need
from safecity.web.deps import PlatformDep, RowId
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (
    NavLink("/wearers", "Wearers 老人", "wearers", P.WEARERS_READ, order=24),
    # After "My account", which stays a citizen's start page (not every citizen guards someone).
    NavLink("/family", "My family 家人", "family", P.WEARERS_GUARD, order=91),
)

# Where each kind of reader reads a wearer: officers by area, guardians their own.
OFFICER = {"mode": "officer", "base": "/wearers", "list_api": "/api/v1/wearers", "one_api": "/api/v1/wearers"}
GUARDIAN = {
    "mode": "guardian",
    "base": "/family",
    "list_api": "/api/v1/my/wearers",
    "one_api": "/api/v1/my/wearers",
}


def _check_reach(platform: PlatformDep, who: Principal, wearer_id: int) -> None:
    """Refuse (AccessDenied, answered as the refusal page and audited) a wearer out of reach.

    A wearer that does not exist is left to the page, which says so from the API's 404.
    """
    with platform.session_factory() as session:
        try:
            wearer_in_reach(session, who.context(), wearer_id)
        except WearerNotFound:
            return


@router.get("/wearers", response_class=HTMLResponse)
def wearers_page(request: Request, who: Principal = page_need(P.WEARERS_READ)) -> HTMLResponse:
    """The wearers of the caller's areas: trackers, open warnings, open missing-person reports."""
    return render(request, "wearers.html", "wearers", "Wearers 老人", who, reader=OFFICER)


@router.get("/wearers/{wearer_id}", response_class=HTMLResponse)
def wearer_page(
    wearer_id: RowId, request: Request, platform: PlatformDep, who: Principal = page_need(P.WEARERS_READ)
) -> HTMLResponse:
    """One wearer on the map: live position, the day's path, safe zones, warnings, a missing report."""
    _check_reach(platform, who, wearer_id)
    return render(request, "wearer.html", "wearers", "Wearer 老人", who, reader=OFFICER, wearer_id=wearer_id)


@router.get("/family", response_class=HTMLResponse)
def family_page(request: Request, who: Principal = page_need(P.WEARERS_GUARD)) -> HTMLResponse:
    """The wearers the signed-in guardian looks after."""
    return render(request, "wearers.html", "family", "My family 家人", who, reader=GUARDIAN)


@router.get("/family/{wearer_id}", response_class=HTMLResponse)
def family_member_page(
    wearer_id: RowId, request: Request, platform: PlatformDep, who: Principal = page_need(P.WEARERS_GUARD)
) -> HTMLResponse:
    """One of the guardian's wearers on the map; anyone else's is refused."""
    _check_reach(platform, who, wearer_id)
    return render(
        request, "wearer.html", "family", "My family 家人", who, reader=GUARDIAN, wearer_id=wearer_id
    )
