"""The investigation workbench page (研判台): collision, companions and paths inside a case.

`/workbench` is the investigator's desk: pick an open case and say why, add space-time windows by
clicking the map, collide them, put up to five subjects' paths on the map side by side with one
time slider or ask who travels with one, pin evidence and keep notes in the case, and export the
case file. Every question goes through the workbench API, which justifies it by the case and audits
it (each subject's path on its own).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.deps import PlatformDep
from safecity.web.pages.shell import NavLink, render
from safecity.workbench.collision import TRACEABLE

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/workbench", "Workbench 研判", "workbench", P.SUBJECTS_TRACE, order=14),)


@router.get("/workbench", response_class=HTMLResponse)
def workbench_page(
    request: Request, platform: PlatformDep, who: Principal = page_need(P.SUBJECTS_TRACE)
) -> HTMLResponse:
    """The workbench: a case, its windows on the map, collision, companions, paths and the workspace.

    The page is told the platform's time: its default windows are the platform's last hour, which
    in a demo running its city at 30x is not the browser's.
    """
    return render(
        request,
        "workbench.html",
        "workbench",
        "Workbench 研判台",
        who,
        kinds=TRACEABLE,
        username=who.actor.name,
        now=platform.clock.now().isoformat(),
    )
