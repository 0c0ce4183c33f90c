"""The landlord app (mobile web): own flats with occupancy, register tenants from a card reader, check out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/landlord", "My flats", "landlord", P.TENANTS_REGISTER, order=30),)


@router.get("/landlord", response_class=HTMLResponse)
def landlord_page(request: Request, who: Principal = page_need(P.TENANTS_REGISTER)) -> HTMLResponse:
    """Own flats with occupancy; register a tenant from the card reader or typed; check a tenant out."""
    return render(request, "landlord.html", "landlord", "My flats", who)
