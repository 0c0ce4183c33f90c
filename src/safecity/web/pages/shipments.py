"""The hazardous-chemical shipments' pages (危化品): the shipments list and one shipment's map.

Officers with `hazmat.read` open `/shipments`, the shipments from or to their areas, filtered by
status; `/shipments/{id}` draws the planned route, the restricted zones and permitted stop places,
the vehicle's live position and its path with a time slider, the open warnings with their
evidence on the map, and the registry facts (quantities loaded and delivered, stock movements).

A shipment's page is refused (403, audited) before anything is drawn when the shipment is out of
the caller's reach (neither end in their areas), as the API would refuse each of its reads; the
data itself comes from the API.
"""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.tracking.hazmat_errors import HazmatNotFound
from safecity.tracking.shipments import shipment_in_reach
from safecity.web.auth import page_need
from safecity.web.deps import PlatformDep, RowId
from safecity.web.pages.shell import NavLink, render

router = APIRouter(include_in_schema=False)
NAV = (NavLink("/shipments", "Shipments 危化品", "shipments", P.HAZMAT_READ, order=26),)
STATUSES = {
    "planned": "Planned 计划",
    "loaded": "Loaded 已装车",
    "in_transit": "In transit 运输中",
    "delivered": "Delivered 已送达",
    "closed": "Closed 已关闭",
}


@router.get("/shipments", response_class=HTMLResponse)
def shipments_page(request: Request, who: Principal = page_need(P.HAZMAT_READ)) -> HTMLResponse:
    """Shipments from or to the caller's areas: product, quantity, ends, vehicle, windows, warnings."""
    return render(request, "shipments.html", "shipments", "Shipments 危化品", who, statuses=STATUSES)


@router.get("/shipments/{shipment_id}", response_class=HTMLResponse)
def shipment_page(
    shipment_id: RowId, request: Request, platform: PlatformDep, who: Principal = page_need(P.HAZMAT_READ)
) -> HTMLResponse:
    """One shipment on the map: route, zones, live position, path, warnings and its ledger."""
    # An unknown shipment is the page's to say, from the API's 404.
    with platform.session_factory() as session, contextlib.suppress(HazmatNotFound):
        shipment_in_reach(session, who.context(), shipment_id)
    return render(request, "shipment.html", "shipments", "Shipment 危化品运输", who, shipment_id=shipment_id)
