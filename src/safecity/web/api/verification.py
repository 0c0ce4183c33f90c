"""Claims about people, confirmed by them: a citizen links their account, the desk confirms in person.

Nobody attaches an account or a bike to a person on that person's behalf: the person confirms
with the code sent to their phone on record, or at a police station, where an officer who may
verify people checks their identity card (security/linking.py).
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request

from safecity.security import AccessDenied, Principal, linking
from safecity.security import Permission as P
from safecity.security.schemas import (
    ClaimOut,
    ConfirmInPersonIn,
    LinkCodeIn,
    LinkedOut,
    LinkIn,
    LinkRequestedOut,
)
from safecity.web.auth import need, resource_of
from safecity.web.deps import PlatformDep, RowId

router = APIRouter(prefix="/api/v1", tags=["verification"])


@router.post("/me/person", status_code=202, response_model=LinkRequestedOut, summary="Link my account")
def request_link(
    body: LinkIn, platform: PlatformDep, request: Request, who: Principal = need(P.SELF_LINK)
) -> LinkRequestedOut:
    """A citizen names their identity number; a code goes to the phone on record (same answer either way)."""
    message = linking.request_link(
        platform.security, who.context(), body.id_number, resource=resource_of(request)
    )
    return LinkRequestedOut(message=message)


@router.post("/me/person/confirm", response_model=LinkedOut, summary="Confirm the link with my code")
def confirm_link(
    body: LinkCodeIn, platform: PlatformDep, request: Request, who: Principal = need(P.SELF_LINK)
) -> LinkedOut:
    """The code from the text message links the account to its person."""
    person_id = linking.confirm_link(
        platform.security, who.context(), body.code, resource=resource_of(request)
    )
    return LinkedOut(person_id=person_id)


@router.get("/verifications", response_model=list[ClaimOut], summary="Open claims about people of my areas")
def open_claims(
    platform: PlatformDep, request: Request, who: Principal = need(P.PEOPLE_VERIFY)
) -> list[ClaimOut]:
    """What waits for a person to confirm at the desk: bikes registered to them, accounts asking for them."""
    claims = linking.open_claims(platform.security, who.context(), resource=resource_of(request))
    return [ClaimOut(**asdict(c)) for c in claims]


@router.post(
    "/verifications/{claim_id}/confirm", response_model=ClaimOut, summary="Confirm a claim in person"
)
def confirm_in_person(
    claim_id: RowId,
    body: ConfirmInPersonIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.PEOPLE_VERIFY),
) -> ClaimOut:
    """The person is at the desk with their identity card: the claim takes effect."""
    if not body.identity_card_seen:
        raise AccessDenied(
            "identity_not_checked",
            "confirm only after seeing the person's identity card",
            field="identity_card_seen",
        )
    claim = linking.confirm_in_person(
        platform.security, who.context(), claim_id, resource=resource_of(request)
    )
    return ClaimOut(**asdict(claim))
