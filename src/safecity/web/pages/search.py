"""The search and links page (搜索与关联): one box over the registries, and the links of what it finds.

`/search` is the investigator's: pick an open case and say why, type fragments (a name, pinyin
initials, part of an identity number or phone, a plate with wildcards), and open any result's
links, drawn as rings around it, or the shortest connection between two. Every question goes
through the workbench API, which justifies it by the case and audits it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import render
from safecity.workbench.explore import KINDS

router = APIRouter(include_in_schema=False)
# No top-bar link: the investigator's bar is full at 1366 px (tests/browser/test_topbar.py); the
# workbench links here.


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, who: Principal = page_need(P.SUBJECTS_TRACE)) -> HTMLResponse:
    """The search box, its results grouped by kind, and the links graph of a chosen result."""
    return render(request, "search.html", "workbench", "Search 搜索与关联", who, kinds=KINDS)
