"""The alert console: city map, live alert list and the explained detail of one alert."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/", "Console", "console", P.ALERTS_READ, order=10),)


@router.get("/", response_class=HTMLResponse)
def console_page(request: Request, who: Principal = page_need(P.ALERTS_READ)) -> HTMLResponse:
    """The alert console: city map, live alert list and the explained detail of one alert."""
    return render(request, "console.html", "console", "Console", who, can_escalate=who.can(P.DISPATCH_CALLS))
