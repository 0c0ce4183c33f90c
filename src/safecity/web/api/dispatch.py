"""Command-centre routes: the road network, units, incidents, run-card orders (派单) and the handset.

Each route calls one use case of `dispatch` (Units, Incidents, Orders), which checks the caller's
reach (a unit's crew works its own orders anywhere) and audits what it changes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from safecity.dispatch.coverage import CirclesOut, Coverage, RepositionOut
from safecity.dispatch.incidents import Incidents
from safecity.dispatch.kpis import KpiReport, ResponseKpis
from safecity.dispatch.models import UnitStatus
from safecity.dispatch.networks import RoadNetworks
from safecity.dispatch.orders import Orders
from safecity.dispatch.runcards import CARDS
from safecity.dispatch.schemas import (
    Candidate,
    IncidentIn,
    IncidentOut,
    OrderOut,
    OrderUpdateIn,
    StatusIn,
    TimelineEntry,
    UnitIn,
    UnitOut,
)
from safecity.dispatch.units import Units
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep, RowId
from safecity.web.openapi import ErrorOut

router = APIRouter(prefix="/api/v1", tags=["dispatch"])
# The routes that route on the road network answer 503 while none is configured.
NO_NETWORK: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "No road network is configured or its file cannot be read."}
}
UnitId = Annotated[str, Field(min_length=1, max_length=32)]
AlertId = Annotated[str, Field(min_length=1, max_length=64)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DispatchIn(_In):
    units: dict[str, UnitId] = Field(
        default_factory=dict, description="department -> the unit chosen (default: the quickest available)"
    )
    versions: dict[str, int] = Field(
        default_factory=dict,
        description="department -> the chosen unit's version as seen (refused if changed)",
    )


class EscalateIn(_In):
    kind: str | None = Field(
        None, max_length=32, description="incident type (default: from the alert's rule)"
    )
    priority: int | None = Field(None, ge=1, le=3, description="1 most urgent (default: from its severity)")

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        if value is not None and value not in CARDS:
            raise ValueError(f"unknown incident type {value!r}; the types are {', '.join(sorted(CARDS))}")
        return value


class IncidentMergeIn(_In):
    into_id: int = Field(ge=1, le=2**31 - 1, description="the incident this one repeats")


class IncidentCloseIn(_In):
    outcome: str = Field(min_length=1, max_length=4000)


@router.get(
    "/dispatch/network",
    responses=NO_NETWORK,
    summary="The road network: what was loaded and what can be routed",
)
def road_network(platform: PlatformDep, who: Principal = need(P.DISPATCH_READ)) -> dict[str, Any]:
    """Junctions, segments, pieces cut off, turn restrictions applied (a 503 if none is configured)."""
    return platform.service(RoadNetworks).report().as_dict()


@router.get("/dispatch/run-cards", summary="Incident types and the orders each sends")
def run_cards(who: Principal = need(P.DISPATCH_READ)) -> list[dict[str, Any]]:
    return [
        {
            "kind": card.kind,
            "label": card.label,
            "priority": card.priority,
            "lines": [
                {
                    "department": line.department,
                    "task": line.task,
                    "deadline_min": line.deadline_min,
                    "unit": line.unit,
                }
                for line in card.lines
            ],
        }
        for card in CARDS.values()
    ]


@router.get("/units", response_model=list[UnitOut], summary="Units of the caller's areas")
def list_units(
    platform: PlatformDep,
    status: Annotated[UnitStatus | None, Query()] = None,
    department: Annotated[str | None, Query(max_length=32)] = None,
    who: Principal = need(P.DISPATCH_READ),
) -> list[UnitOut]:
    return platform.service(Units).list(
        who.context(), status=status.value if status else None, department=department
    )


@router.post("/units", status_code=201, response_model=UnitOut, summary="Register a unit")
def add_unit(
    body: UnitIn, platform: PlatformDep, request: Request, who: Principal = need(P.UNITS_MANAGE)
) -> UnitOut:
    return platform.service(Units).add(who.context(), body, resource=resource_of(request))


@router.post("/units/{unit_id}/status", response_model=UnitOut, summary="Set a unit's status")
def set_unit_status(
    unit_id: UnitId,
    body: StatusIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.DISPATCH_ORDER),
) -> UnitOut:
    """Refused out of order (saying what it may become) or if it changed since `version`."""
    return platform.service(Units).set_status(
        who.context(), unit_id, body.status, expected_version=body.version, resource=resource_of(request)
    )


@router.get("/handset/unit", response_model=UnitOut | None, summary="The unit the caller is signed on to")
def my_unit(platform: PlatformDep, who: Principal = need(P.ORDERS_HANDSET)) -> UnitOut | None:
    return platform.service(Units).mine(who.context())


@router.post("/units/{unit_id}/sign-on", response_model=UnitOut, summary="Join a unit's crew (the handset)")
def sign_on(
    unit_id: UnitId, platform: PlatformDep, request: Request, who: Principal = need(P.ORDERS_HANDSET)
) -> UnitOut:
    return platform.service(Units).sign_on(who.context(), unit_id, resource=resource_of(request))


@router.post("/units/{unit_id}/sign-off", response_model=UnitOut, summary="Leave a unit's crew")
def sign_off(
    unit_id: UnitId, platform: PlatformDep, request: Request, who: Principal = need(P.ORDERS_HANDSET)
) -> UnitOut:
    return platform.service(Units).sign_off(who.context(), unit_id, resource=resource_of(request))


@router.get("/units/{unit_id}/orders", response_model=list[OrderOut], summary="A unit's open orders")
def unit_orders(
    unit_id: UnitId, platform: PlatformDep, who: Principal = need(P.ORDERS_HANDSET)
) -> list[OrderOut]:
    """Its crew, or anyone whose areas hold the unit."""
    return platform.service(Orders).of_unit(who.context(), unit_id)


@router.post(
    "/incidents",
    status_code=201,
    response_model=IncidentOut,
    responses=NO_NETWORK,
    summary="Take an incident (a 110 call)",
)
def create_incident(
    body: IncidentIn, platform: PlatformDep, request: Request, who: Principal = need(P.DISPATCH_CALLS)
) -> IncidentOut:
    """Refused off the road network (with the distance) or outside the caller's areas; lists the
    possible duplicates."""
    return platform.service(Incidents).create(who.context(), body, resource=resource_of(request))


@router.post(
    "/alerts/{alert_id}/incident",
    status_code=201,
    response_model=IncidentOut,
    responses=NO_NETWORK,
    summary="Make an alert an incident in one action (its evidence and correlation id kept)",
)
def escalate_alert(
    alert_id: AlertId,
    body: EscalateIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.DISPATCH_CALLS),
) -> IncidentOut:
    """At its newest located evidence; refused (409) if it is a live incident already."""
    return platform.service(Incidents).escalate(
        who.context(), alert_id, kind=body.kind, priority=body.priority, resource=resource_of(request)
    )


@router.get("/incidents", response_model=list[IncidentOut], summary="Incidents of the caller's areas")
def list_incidents(
    platform: PlatformDep,
    live: Annotated[bool, Query(description="only those not closed")] = True,
    who: Principal = need(P.DISPATCH_READ),
) -> list[IncidentOut]:
    return platform.service(Incidents).list(who.context(), live_only=live)


@router.get("/incidents/{incident_id}", response_model=IncidentOut, summary="One incident")
def get_incident(
    incident_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.DISPATCH_READ)
) -> IncidentOut:
    return platform.service(Incidents).get(who.context(), incident_id, resource=resource_of(request))


@router.get(
    "/incidents/{incident_id}/timeline", response_model=list[TimelineEntry], summary="An incident's timeline"
)
def incident_timeline(
    incident_id: RowId, platform: PlatformDep, who: Principal = need(P.DISPATCH_READ)
) -> list[TimelineEntry]:
    return platform.service(Incidents).timeline(who.context(), incident_id)


@router.get("/incidents/{incident_id}/orders", response_model=list[OrderOut], summary="An incident's orders")
def incident_orders(
    incident_id: RowId, platform: PlatformDep, who: Principal = need(P.DISPATCH_READ)
) -> list[OrderOut]:
    return platform.service(Orders).of_incident(who.context(), incident_id)


@router.get(
    "/incidents/{incident_id}/candidates",
    response_model=list[Candidate],
    responses=NO_NETWORK,
    summary="Units that could go, quickest first, with route and ETA",
)
def incident_candidates(
    incident_id: RowId,
    platform: PlatformDep,
    department: Annotated[str | None, Query(max_length=32)] = None,
    who: Principal = need(P.DISPATCH_ORDER),
) -> list[Candidate]:
    return platform.service(Orders).candidates(who.context(), incident_id, department=department)


@router.post(
    "/incidents/{incident_id}/dispatch",
    status_code=201,
    response_model=list[OrderOut],
    responses=NO_NETWORK,
    summary="Send the run card: orders to every department on it, in one action",
)
def dispatch_incident(
    incident_id: RowId,
    body: DispatchIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.DISPATCH_ORDER),
) -> list[OrderOut]:
    """All or nothing: a unit another dispatcher took meanwhile refuses the whole send (409)."""
    return platform.service(Orders).dispatch(
        who.context(), incident_id, units=body.units, versions=body.versions, resource=resource_of(request)
    )


@router.post(
    "/incidents/{incident_id}/merge", response_model=IncidentOut, summary="Merge a duplicate into another"
)
def merge_incident(
    incident_id: RowId,
    body: IncidentMergeIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.DISPATCH_ORDER),
) -> IncidentOut:
    return platform.service(Incidents).merge(
        who.context(), incident_id, body.into_id, resource=resource_of(request)
    )


@router.post("/incidents/{incident_id}/close", response_model=IncidentOut, summary="Close an incident")
def close_incident(
    incident_id: RowId,
    body: IncidentCloseIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.DISPATCH_ORDER),
) -> IncidentOut:
    """Its open orders are cancelled and their units freed."""
    return platform.service(Incidents).close(
        who.context(), incident_id, body.outcome, resource=resource_of(request)
    )


@router.post(
    "/orders/{order_id}", response_model=OrderOut, summary="Update an order: status, note, report back"
)
def update_order(
    order_id: RowId,
    body: OrderUpdateIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.ORDERS_HANDSET),
) -> OrderOut:
    """The order's unit crew, or anyone whose areas hold its incident; refused out of order."""
    return platform.service(Orders).update(who.context(), order_id, body, resource=resource_of(request))


@router.get(
    "/orders/late", response_model=list[OrderOut], summary="Orders past their deadline, most overdue first"
)
def late_orders(platform: PlatformDep, who: Principal = need(P.DISPATCH_READ)) -> list[OrderOut]:
    return platform.service(Orders).late(who.context())


@router.get("/dispatch/kpis", response_model=KpiReport, summary="Response times: call to dispatch to arrival")
def response_kpis(
    platform: PlatformDep,
    by: Annotated[str, Query(pattern="^(district|kind|priority|hour|day)$")] = "district",
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    who: Principal = need(P.DISPATCH_READ),
) -> KpiReport:
    """Mean, median and 90th percentile in minutes over the incidents of the caller's areas, with
    Shaoxing's 5.9 minutes as the reference."""
    return platform.service(ResponseKpis).report(who.context(), by=by, days=days)


@router.get(
    "/dispatch/circles",
    response_model=CirclesOut,
    responses=NO_NETWORK,
    summary="The 1/3/5-minute response circles of the available units, and each district's coverage",
)
def response_circles(platform: PlatformDep, who: Principal = need(P.DISPATCH_READ)) -> CirclesOut:
    """From where the units are now; coverage is the share of each district's incidents of the last
    30 days reached in time, a gap where it is under the target within 5 minutes."""
    return platform.service(Coverage).circles(who.context())


@router.get(
    "/dispatch/reposition",
    response_model=RepositionOut,
    response_model_by_alias=True,
    responses=NO_NETWORK,
    summary="Where the available units should stand to cover the most demand (a suggestion)",
)
def reposition(
    platform: PlatformDep,
    demand: Annotated[Literal["incidents", "population"], Query()] = "incidents",
    minutes: Annotated[float, Query(ge=1, le=15)] = 5.0,
    exact: Annotated[
        bool, Query(description="The planning optimum (HiGHS, up to 30 s), with its gap")
    ] = False,
    who: Principal = need(P.DISPATCH_READ),
) -> RepositionOut:
    """Maximal covering location: the live heuristic by default, the exact optimum with `exact`
    (and the heuristic's gap to it); which unit drives to which post. Nothing is ordered."""
    return platform.service(Coverage).reposition(who.context(), demand=demand, minutes=minutes, exact=exact)
