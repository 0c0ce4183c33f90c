"""The community watch: a phone view of the warnings of the caller's community, live, to take on.

For the community's guards, neighbourhood-committee workers and community officer: each sees the
open warnings of their own areas (the alert API's reach), as they arrive, and acknowledges them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
# First in the bar: the home of the roles who work a community on foot.
NAV = (NavLink("/watch", "Watch", "watch", P.COMMUNITY_WATCH, order=5),)


@router.get("/watch", response_class=HTMLResponse)
def watch_page(request: Request, who: Principal = page_need(P.COMMUNITY_WATCH)) -> HTMLResponse:
    """The open warnings of the caller's community, live, with acknowledgement."""
    return render(request, "watch.html", "watch", "Community watch", who)
