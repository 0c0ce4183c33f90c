"""The community officer's visit list (走访核查) on a phone: tasks by place and flat, outcomes, round."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/visits", "Visits", "visits", P.VISITS_WORK, order=25),)


@router.get("/visits", response_class=HTMLResponse)
def visits_page(request: Request, who: Principal = page_need(P.VISITS_WORK)) -> HTMLResponse:
    """Tasks from housing warnings by building and flat, outcome buttons, and the walking round on a map."""
    return render(request, "visits.html", "visits", "Visits", who)
