"""Shop routes: officers register shops of their areas; owners arm, disarm and set the hours of their own,
and (with the officers of the area) add and remove the staff whose cards open the shop's door.

The use cases (places/shops.py, places/shop_staff.py) decide who may act on which shop and audit
every change and every read of staff.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.places.shop_schemas import ArmedOut, ScheduleIn, ShopIn, ShopOut, StaffIn, StaffOut
from safecity.places.shop_staff import ShopStaffRoster
from safecity.places.shops import Shops
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep, RowId

router = APIRouter(prefix="/api/v1", tags=["shops"])
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post("/shops", status_code=201, response_model=ShopOut, summary="Register a shop")
def register_shop(
    body: ShopIn, platform: PlatformDep, request: Request, who: Principal = need(P.PLACES_MANAGE)
) -> ShopOut:
    """A shop with anti-theft door control in a community of the caller's areas, and its owner."""
    return platform.service(Shops).register(who.context(), body, resource=resource_of(request))


@router.get("/shops", response_model=list[ShopOut], summary="Shops of my areas")
def list_shops(
    platform: PlatformDep,
    community_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 500,
    who: Principal = need(P.PLACES_READ),
) -> list[ShopOut]:
    """Shops of the caller's areas with their armed state, by id."""
    return platform.service(Shops).shops(who.context(), community_id=community_id, limit=limit)


@router.get("/my/shops", response_model=list[ShopOut], summary="The shops I own")
def my_shops(platform: PlatformDep, who: Principal = need(P.SHOPS_ARM)) -> list[ShopOut]:
    """A shop owner's own shops with their armed state and hours."""
    return platform.service(Shops).shops(who.context())


@router.post("/shops/{shop_id}/arm", response_model=ArmedOut, summary="Arm my shop")
def arm_shop(
    shop_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.SHOPS_ARM)
) -> ArmedOut:
    """From now on a door opening or an intrusion raises an alarm for the area's patrol."""
    return platform.service(Shops).arm(who.context(), shop_id, armed=True, resource=resource_of(request))


@router.post("/shops/{shop_id}/disarm", response_model=ArmedOut, summary="Disarm my shop")
def disarm_shop(
    shop_id: RowId, platform: PlatformDep, request: Request, who: Principal = need(P.SHOPS_ARM)
) -> ArmedOut:
    """Doors open freely until the shop is armed again (by hand, or at its next closing time)."""
    return platform.service(Shops).arm(who.context(), shop_id, armed=False, resource=resource_of(request))


@router.put("/shops/{shop_id}/schedule", response_model=ShopOut, summary="Set my shop's hours")
def set_schedule(
    shop_id: RowId,
    body: ScheduleIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.SHOPS_ARM),
) -> ShopOut:
    """Business hours (local time) and whether they arm and disarm the shop."""
    return platform.service(Shops).set_schedule(who.context(), shop_id, body, resource=resource_of(request))


@router.get("/shops/{shop_id}/staff", response_model=list[StaffOut], summary="My shop's staff")
def list_staff(
    shop_id: RowId,
    platform: PlatformDep,
    request: Request,
    ended: bool = False,
    who: Principal = need(P.SHOPS_STAFF),
) -> list[StaffOut]:
    """Staff whose cards open the shop's doors (`ended=true`: past ones too), numbers masked."""
    roster = platform.service(ShopStaffRoster)
    return roster.staff(who.context(), shop_id, ended=ended, resource=resource_of(request))


@router.post("/shops/{shop_id}/staff", status_code=201, response_model=StaffOut, summary="Add a staff member")
def add_staff(
    shop_id: RowId,
    body: StaffIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.SHOPS_STAFF),
) -> StaffOut:
    """Their card (as read, or typed) opens the shop's doors within seconds, until removed or `until`."""
    roster = platform.service(ShopStaffRoster)
    return roster.add(who.context(), shop_id, body, resource=resource_of(request))


@router.post(
    "/shops/{shop_id}/staff/{staff_id}/remove", response_model=StaffOut, summary="Remove a staff member"
)
def remove_staff(
    shop_id: RowId,
    staff_id: RowId,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.SHOPS_STAFF),
) -> StaffOut:
    """Their card stops opening the shop's doors within seconds."""
    roster = platform.service(ShopStaffRoster)
    return roster.remove(who.context(), shop_id, staff_id, resource=resource_of(request))
