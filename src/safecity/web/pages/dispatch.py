"""The command centre's pages: the dispatch desk (指挥调度) and the officer's handset (警务通).

`/dispatch` is the dispatcher's and commander's desk: a 110 call taken on a form (the place by a
click on the map or by coordinates), the live incidents, one incident's ranked units with their
routes and ETAs, the run card sent to every department in one action, its orders and timeline,
the units moving on the map, and the orders that are late. `/handset` is the officer's phone
(390 px): sign on to a unit, then accept, drive, arrive and report back on its orders, or report
an incident from the street. Both read and write through the dispatch API, which checks reach.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.dispatch.runcards import CARDS
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import page_need
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (
    NavLink("/dispatch", "Dispatch 指挥调度", "dispatch", P.DISPATCH_READ, order=12),
    NavLink("/handset", "Handset 警务通", "handset", P.ORDERS_HANDSET, order=13),
)


def _cards() -> list[tuple[str, str, int]]:
    return [(card.kind, card.label, card.priority) for card in CARDS.values()]


@router.get("/dispatch", response_class=HTMLResponse)
def dispatch_page(request: Request, who: Principal = page_need(P.DISPATCH_READ)) -> HTMLResponse:
    """The dispatch desk: calls, incidents, ranked units, run-card orders, late orders, the live map."""
    return render(
        request,
        "dispatch.html",
        "dispatch",
        "Command 指挥调度",
        who,
        cards=_cards(),
        can_order=who.can(P.DISPATCH_ORDER),
        can_call=who.can(P.DISPATCH_CALLS),
    )


@router.get("/handset", response_class=HTMLResponse)
def handset_page(request: Request, who: Principal = page_need(P.ORDERS_HANDSET)) -> HTMLResponse:
    """The officer's phone: sign on to a unit and work its orders."""
    return render(request, "handset.html", "handset", "Handset 警务通", who, cards=_cards())
