"""The device-health page: door controllers' online, usage and swipe rates per place, with the 90 % line."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/health", "Device health", "health", P.DEVICES_READ, order=40),)


@router.get("/health", response_class=HTMLResponse)
def health_page(request: Request, who: Principal = page_need(P.DEVICES_READ)) -> HTMLResponse:
    """Tables and bar charts of the three rates, and the doors dragging them down."""
    return render(request, "health.html", "health", "Device health", who)
