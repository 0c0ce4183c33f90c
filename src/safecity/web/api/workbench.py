"""The investigation workbench over HTTP: collision and companions under a case, and the case's workspace.

The use cases (justify, bound by the case, run on the engine, audit) are
`safecity.workbench.Workbench`'s; the routes parse the question and shape the answer. They are
POSTs because a question carries drawn areas and device lists, not because they change anything.
"""

from __future__ import annotations

import functools
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse

from safecity.security import Permission as P
from safecity.security import Principal
from safecity.web.auth import need, note_case, resource_of
from safecity.web.deps import PlatformDep, RowId
from safecity.workbench import Workbench
from safecity.workbench.casefile import render_case_file
from safecity.workbench.casefile_pdf import render_case_file_pdf
from safecity.workbench.cjkfont import CjkFont
from safecity.workbench.schemas import (
    ClonedPlatesIn,
    ClonedPlatesOut,
    CollisionIn,
    CollisionOut,
    CompanionsIn,
    CompanionsOut,
    ForgedPlatesIn,
    ForgedPlatesOut,
    NoteIn,
    NoteOut,
    PinIn,
    PinOut,
    SavedQueryOut,
    WorkspaceOut,
    cloned_plates_out,
    collision_out,
    companions_out,
    forged_plates_out,
    workspace_out,
)
from safecity.workbench.workspace import Workspaces

CaseId = Annotated[str, Path(max_length=32, description="The case's id, e.g. C2026-000042.")]

router = APIRouter(prefix="/api/v1", tags=["workbench"])

# The console's Chinese font (woff2 chunks copied from npm by `make assets`): the PDF embeds it too.
FONT_DIR = FilePath(__file__).resolve().parents[1] / "static" / "vendor" / "noto-sans-sc" / "files"


@router.post(
    "/workbench/collision", response_model=CollisionOut, summary="Data collision (碰撞), under a case"
)
def collide(
    body: CollisionIn, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> CollisionOut:
    """Subjects of every kind seen in at least k of the windows, ranked, with each window's evidence."""
    note_case(request, body)
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


@router.post(
    "/workbench/companions", response_model=CompanionsOut, summary="Companions of a subject, under a case"
)
def find_companions(
    body: CompanionsIn, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> CompanionsOut:
    """Subjects seen with this one at the same places within the time tolerance, ranked, with evidence."""
    note_case(request, body)
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


@router.post(
    "/workbench/cloned-plates", response_model=ClonedPlatesOut, summary="Cloned plates (套牌), under a case"
)
def cloned_plates(
    body: ClonedPlatesIn, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> ClonedPlatesOut:
    """Plates read at two places further apart than a car could drive in the time between, fastest first."""
    note_case(request, body)
    answer = platform.service(Workbench).cloned_plates(
        who,
        start=body.start,
        end=body.end,
        max_kmh=body.max_kmh,
        min_distance_m=body.min_distance_m,
        plates=body.plates,
        case_id=body.case_id,
        purpose=body.purpose,
        resource=resource_of(request),
    )
    return cloned_plates_out(answer)


@router.get("/cases/{case_id}/workspace", response_model=WorkspaceOut, summary="A case's workspace")
def get_workspace(
    case_id: CaseId, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> WorkspaceOut:
    """The case, the questions asked under it (newest first), its pinned evidence and notes (members only)."""
    return workspace_out(platform.service(Workspaces).workspace(who, case_id, resource=resource_of(request)))


@router.get("/cases/{case_id}/queries/{query_id}", response_model=SavedQueryOut, summary="A saved question")
def get_saved_query(
    case_id: CaseId,
    query_id: RowId,
    request: Request,
    platform: PlatformDep,
    who: Principal = need(P.SUBJECTS_TRACE),
) -> SavedQueryOut:
    """One question asked under the case, with its answer as it was given."""
    found = platform.service(Workspaces).saved_query(who, case_id, query_id, resource=resource_of(request))
    return SavedQueryOut.model_validate(found, from_attributes=True)


@router.post(
    "/cases/{case_id}/pins", status_code=201, response_model=PinOut, summary="Pin evidence to a case"
)
def pin(
    case_id: CaseId,
    body: PinIn,
    request: Request,
    platform: PlatformDep,
    who: Principal = need(P.SUBJECTS_TRACE),
) -> PinOut:
    """Pin a subject, a sighting, an alert, an incident or a saved question to an open case."""
    pinned = platform.service(Workspaces).pin(
        who,
        case_id,
        kind=body.kind,
        ref=body.ref,
        label=body.label,
        note=body.note,
        resource=resource_of(request),
    )
    return PinOut.model_validate(pinned, from_attributes=True)


@router.delete("/cases/{case_id}/pins/{pin_id}", status_code=204, summary="Take a pin off a case")
def unpin(
    case_id: CaseId,
    pin_id: RowId,
    request: Request,
    platform: PlatformDep,
    who: Principal = need(P.SUBJECTS_TRACE),
) -> Response:
    """Remove a pin from an open case."""
    platform.service(Workspaces).unpin(who, case_id, pin_id, resource=resource_of(request))
    return Response(status_code=204)


@router.post(
    "/cases/{case_id}/notes", status_code=201, response_model=NoteOut, summary="Add a note to a case"
)
def add_note(
    case_id: CaseId,
    body: NoteIn,
    request: Request,
    platform: PlatformDep,
    who: Principal = need(P.SUBJECTS_TRACE),
) -> NoteOut:
    """Add a note to an open case's log."""
    note = platform.service(Workspaces).note(who, case_id, body.text, resource=resource_of(request))
    return NoteOut.model_validate(note, from_attributes=True)


@router.get(
    "/cases/{case_id}/file",
    response_class=HTMLResponse,
    summary="The case file (HTML), audited as an export",
)
def case_file(
    case_id: CaseId, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> HTMLResponse:
    """Everything in the case's workspace as one printable page: the case, notes, pins, every
    question asked with its answer. Saved as a file; the export is audited."""
    workspace, answers = platform.service(Workspaces).case_file(
        who, case_id, resource=resource_of(request), export="html"
    )
    html = render_case_file(
        workspace,
        answers,
        exported_by=who.actor.name,
        exported_at=platform.clock.now(),
        font_css=str(request.url_for("static", path="vendor/noto-sans-sc/400.css")),
    )
    return HTMLResponse(
        html,
        headers={"Content-Disposition": f'attachment; filename="case-{workspace.case.id}.html"'},
    )


@router.post(
    "/workbench/forged-plates",
    response_model=ForgedPlatesOut,
    summary="Forged plates (假牌) against the vehicle registry, under a case",
)
def forged_plates(
    body: ForgedPlatesIn, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> ForgedPlatesOut:
    """Plates read on a vehicle unlike their registration, or of the given provinces and not registered."""
    note_case(request, body)
    answer = platform.service(Workbench).forged_plates(
        who,
        start=body.start,
        end=body.end,
        fields=body.fields,
        provinces=body.provinces,
        min_confidence=body.min_confidence,
        plates=body.plates,
        case_id=body.case_id,
        purpose=body.purpose,
        resource=resource_of(request),
    )
    return forged_plates_out(answer)


@router.get(
    "/cases/{case_id}/file.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The case file as a PDF."}},
    summary="The case file (PDF), audited as an export",
)
def case_file_pdf(
    case_id: CaseId, request: Request, platform: PlatformDep, who: Principal = need(P.SUBJECTS_TRACE)
) -> Response:
    """The case file as a PDF to hand on: what the HTML file holds, on numbered A4 pages, with the
    Chinese font embedded. Saved as a file; the export is audited (format pdf)."""
    font = _case_file_font(platform.settings.data_dir / "fonts")
    # Refused before the export is recorded: without the font there would be no file, only boxes.
    font.require()
    workspace, answers = platform.service(Workspaces).case_file(
        who, case_id, resource=resource_of(request), export="pdf"
    )
    pdf = render_case_file_pdf(
        workspace, answers, exported_by=who.actor.name, exported_at=platform.clock.now(), font=font
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="case-{workspace.case.id}.pdf"'},
    )


@functools.cache
def _case_file_font(cache: FilePath) -> CjkFont:
    """One font per cache folder (`<data_dir>/fonts`), so its chunk index is read once a process."""
    return CjkFont(FONT_DIR, cache)


__all__ = ["router"]
