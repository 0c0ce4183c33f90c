"""The face review desk (人脸核验): face hits waiting for a trained reviewer, who compares the
camera's face with the enrolled photos and confirms or rejects; only a confirmed hit alerts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.recognition.lost import LostPersonSearch
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.deps import PlatformDep
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/review", "Face review 人脸核验", "review", P.FACES_REVIEW, order=16),)


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, who: Principal = page_need(P.FACES_REVIEW)) -> HTMLResponse:
    """Pending face hits of the caller's areas, oldest first, each with the images to compare."""
    return render(request, "review.html", "review", "Face review", who)


@router.get("/lost", response_class=HTMLResponse)
def lost_page(
    request: Request, platform: PlatformDep, who: Principal = page_need(P.SUBJECTS_TRACE)
) -> HTMLResponse:
    """A lost person's photo searched across the recent face sightings, under a case, on the map."""
    keep_hours = platform.service(LostPersonSearch).keep_hours
    return render(request, "lost.html", "lost", "Lost person's photo", who, keep_hours=keep_hours)
