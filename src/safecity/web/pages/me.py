"""The caller's own account and, for citizens, which units accessed their data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
# Last in the bar: every role has it, so it is the home of roles with no other page.
NAV = (NavLink("/me", "My account", "me", P.SELF_READ, order=90),)


@router.get("/me", response_class=HTMLResponse)
def me_page(request: Request, who: Principal = page_need(P.SELF_READ)) -> HTMLResponse:
    """The caller's account and, for citizens, which units accessed their data."""
    return render(request, "me.html", "me", "My account", who)
