"""The shop owner's phone page: arm and disarm the shop, and set the business hours that arm it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/shop", "My shop", "shop", P.SHOPS_ARM, order=30),)


@router.get("/shop", response_class=HTMLResponse)
def shop_page(request: Request, who: Principal = page_need(P.SHOPS_ARM)) -> HTMLResponse:
    """The owner's shops: armed state, arm and disarm, business hours."""
    return render(request, "shop.html", "shop", "My shop", who)
