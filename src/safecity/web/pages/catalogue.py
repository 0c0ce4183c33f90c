"""The data catalogue page (数据目录): the pool's sources by category, with figures and freshness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.deps import PlatformDep
from safecity.web.pages.shell import render
from safecity.workbench.catalogue import Catalogue

router = APIRouter(include_in_schema=False)
# No top-bar link: the investigator's bar is full at 1366 px (tests/browser/test_topbar.py); the
# workbench links here.


@router.get("/catalogue", response_class=HTMLResponse)
def catalogue_page(
    request: Request, platform: PlatformDep, who: Principal = page_need(P.CATALOGUE_READ)
) -> HTMLResponse:
    """Every source by category and sub-category: owner, sensitivity, records, last record, status."""
    sources = platform.service(Catalogue).sources()
    return render(request, "catalogue.html", "catalogue", "Catalogue 数据目录", who, sources=sources)
