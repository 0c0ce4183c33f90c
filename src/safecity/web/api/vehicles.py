"""Residents' vehicles: the plates a compound's gate cameras let in, registered by the community's
staff for its compounds or by a resident for their own; the use cases (places/vehicles.py) decide
who may register where and audit it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.places import Vehicles
from safecity.places.vehicles import VehicleIn, VehicleOut
from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep

router = APIRouter(prefix="/api/v1", tags=["places"])


@router.post("/vehicles", status_code=201, response_model=VehicleOut, summary="Register a resident's vehicle")
def register_vehicle(
    body: VehicleIn, platform: PlatformDep, request: Request, who: Principal = need(P.VISITORS_REGISTER)
) -> VehicleOut:
    """A plate the compound's gates know as a resident's (a resident: their own, where they live)."""
    return platform.service(Vehicles).register(who.context(), body, resource=resource_of(request))


@router.get("/vehicles", response_model=list[VehicleOut], summary="Residents' vehicles")
def list_vehicles(
    platform: PlatformDep,
    request: Request,
    compound_id: Annotated[str | None, Query(max_length=32)] = None,
    who: Principal = need(P.VISITORS_REGISTER),
) -> list[VehicleOut]:
    """Vehicles of the caller's compounds (a resident: their own), by plate; each read is audited."""
    return platform.service(Vehicles).vehicles(
        who.context(), compound_id=compound_id, resource=resource_of(request)
    )
