"""Door controllers' routes: officers register doors; controllers poll their whitelist and ask per swipe.

A controller authenticates like every device, with HTTP Basic (its device id and secret), and
may read only its own door. The contract (payloads, versions, what the controller keeps) is in
docs/doors.md; the use cases are places/doors.py.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from safecity.ingest.adapters.http import CHALLENGE, basic_credentials
from safecity.places import Doors
from safecity.places.door_schemas import CheckIn, CheckOut, DoorIn, DoorOut, RekeyedOut
from safecity.places.whitelist import ENCODER
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import device_auth, need, resource_of
from safecity.web.deps import PlatformDep
from safecity.web.errors import error_response

router = APIRouter(prefix="/api/v1", tags=["doors"])
DeviceId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="The door controller's id.")]

_LIST_SCHEMA = {
    "description": "The full list (`type: whitelist`) or a delta (`type: whitelist_delta`), docs/doors.md.",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_DEVICE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "bad device credentials"},
    403: {"description": "the credentials are another device's, or the device is not a door"},
}


@router.post("/doors", status_code=201, response_model=DoorOut, summary="Register a door controller")
def add_door(
    body: DoorIn, platform: PlatformDep, request: Request, who: Principal = need(P.PLACES_MANAGE)
) -> DoorOut:
    """A controller at a compound's gate, a building's entrance or a shop of the caller's areas.

    A device id not yet registered becomes a `door_controller` device; its secret is in the
    answer, this once.
    """
    return platform.service(Doors).add_door(who.context(), body, resource=resource_of(request))


@router.post(
    "/doors/{device_id}/rekey",
    response_model=RekeyedOut,
    summary="Give a door a new salt (a stolen controller)",
)
def rekey(
    device_id: DeviceId, platform: PlatformDep, request: Request, who: Principal = need(P.PLACES_MANAGE)
) -> RekeyedOut:
    """The door's list under a new salt, as a new version its controller takes whole: the keys a
    stolen controller holds match nothing any more (docs/doors.md)."""
    return platform.service(Doors).rekey(who.context(), device_id, resource=resource_of(request))


def _door(request: Request, platform: PlatformDep, device_id: str) -> JSONResponse | None:
    """None if the request carries this door's own credentials; else the refusal to answer."""
    creds = basic_credentials(request.headers.get("authorization", ""))
    if creds is None:
        message = "send HTTP Basic credentials: the door controller's id and secret"
        return error_response(401, "unauthenticated", message, headers=CHALLENGE)
    auth = platform.devices.authenticate(*creds)
    if not auth.ok:
        return error_response(401, "unauthenticated", auth.reason, headers=CHALLENGE)
    if creds[0] != device_id:
        message = f"device {creds[0]} may read its own door only, not {device_id}"
        return error_response(403, "forbidden", message, field="device_id")
    return None


@router.get(
    "/doors/{device_id}/whitelist",
    summary="A door's whitelist, or what changed since a version",
    responses={200: _LIST_SCHEMA, **_DEVICE_ERRORS},
)
def whitelist(
    device_id: DeviceId,
    request: Request,
    platform: PlatformDep,
    since: Annotated[int | None, Query(ge=0, description="The version the controller holds.")] = None,
    _: None = device_auth(),
) -> Response:
    """A delta from `since` when the server still bridges it, else the full list (apply by its type)."""
    refused = _door(request, platform, device_id)
    if refused is not None:
        return refused
    answer = platform.service(Doors).whitelist(device_id, since=since)
    return Response(ENCODER.encode(answer), media_type="application/json")


@router.post(
    "/doors/{device_id}/check",
    response_model=CheckOut,
    summary="Ask whether to open for a card (recorded as the swipe)",
    responses=_DEVICE_ERRORS,
)
async def check(
    device_id: DeviceId, body: CheckIn, request: Request, platform: PlatformDep, _: None = device_auth()
) -> CheckOut | JSONResponse:
    """Granted or denied with the reason; the swipe is stored as a door_swipe (a retry is not doubled)."""
    refused = _door(request, platform, device_id)
    if refused is not None:
        return refused
    return await platform.service(Doors).check(device_id, body)
