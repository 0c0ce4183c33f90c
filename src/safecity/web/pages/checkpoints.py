"""The checkpoint view (卡口): hits of watch-listed plates arriving live, with the camera's image
(faces blurred), and the officer's record of each stop."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/checkpoints", "Checkpoint 卡口", "checkpoints", P.CHECKPOINT_WORK, order=15),)


@router.get("/checkpoints", response_class=HTMLResponse)
def checkpoints_page(request: Request, who: Principal = page_need(P.CHECKPOINT_WORK)) -> HTMLResponse:
    """Live hits of the caller's areas, newest first, each with its image and the stop's outcome."""
    return render(request, "checkpoints.html", "checkpoints", "Checkpoint hits", who)
