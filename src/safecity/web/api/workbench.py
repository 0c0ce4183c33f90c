"""The investigation workbench over HTTP: data collision and companions, always under a case.

The use cases (justify, bound by the case, run on the engine, audit) are
`safecity.workbench.Workbench`'s; the routes parse the question and shape the answer. They are
POSTs because a question carries drawn areas and device lists, not because they change anything.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep
from safecity.workbench import Workbench
from safecity.workbench.schemas import (
    CollisionIn,
    CollisionOut,
    CompanionsIn,
    CompanionsOut,
    Justification,
    collision_out,
    companions_out,
)

router = APIRouter(prefix="/api/v1/workbench", tags=["workbench"])


@router.post("/collision", response_model=CollisionOut, summary="Data collision (碰撞), under a case")
def collide(
    body: CollisionIn, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> CollisionOut:
    """Subjects of every kind seen in at least k of the windows, ranked, with each window's evidence."""
    _note_case(request, body)
    answer = platform.service(Workbench).collide(
        who,
        [w.window() for w in body.windows],
        k=body.k,
        kinds=body.kinds,
        offset=body.offset,
        limit=body.limit,
        case_id=body.case_id,
        purpose=body.purpose,
        resource=resource_of(request),
    )
    return collision_out(answer, body.offset)


@router.post("/companions", response_model=CompanionsOut, summary="Companions of a subject, under a case")
def find_companions(
    body: CompanionsIn, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> CompanionsOut:
    """Subjects seen with this one at the same places within the time tolerance, ranked, with evidence."""
    _note_case(request, body)
    answer = platform.service(Workbench).companions(
        who,
        body.subject_kind,
        body.subject,
        start=body.start,
        end=body.end,
        tolerance_s=body.tolerance_s,
        ring=body.ring,
        min_meetings=body.min_meetings,
        min_places=body.min_places,
        case_id=body.case_id,
        purpose=body.purpose,
        resource=resource_of(request),
    )
    return companions_out(answer)


def _note_case(request: Request, body: Justification) -> None:
    """Name the body's case and purpose for the audit record of a refusal."""
    request.state.audit_case_id = body.case_id
    request.state.audit_purpose = body.purpose


__all__ = ["router"]
