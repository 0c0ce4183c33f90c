"""The e-bike desk: register, look up, report stolen and mark recovered."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/bikes", "Bikes", "bikes", P.BIKES_READ, order=20),)


@router.get("/bikes", response_class=HTMLResponse)
def bikes_page(request: Request, who: Principal = page_need(P.BIKES_READ)) -> HTMLResponse:
    """The e-bike desk: register, look up, report stolen and mark recovered."""
    return render(request, "bikes.html", "bikes", "E-bikes", who)
