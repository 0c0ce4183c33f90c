"""The watch list desk (布控): officers list a wanted person by identity number, close their entries."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/watchlist", "Wanted", "watchlist", P.WATCHLIST_WRITE, order=22),)


@router.get("/watchlist", response_class=HTMLResponse)
def watchlist_page(request: Request, who: Principal = page_need(P.WATCHLIST_WRITE)) -> HTMLResponse:
    """A form to list a person by identity number, and the active entries of the caller's stations."""
    return render(request, "watchlist.html", "watchlist", "Wanted persons", who)
