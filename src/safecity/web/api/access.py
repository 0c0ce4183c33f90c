"""Sign-in, tokens, accounts and a person's own view: who has accessed my data.

Sign-in answers bearer tokens to API clients, or (202) a one-time-code enrolment to complete
with `/auth/enrol`; the console's form sign-in (web/pages/login.py, enrol.py) puts the same
tokens into HttpOnly cookies. Refusals are audited by the AccessDenied handler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from safecity.security import Enrolment, NotAuthenticated, Principal, SignedIn, accounts, admin
from safecity.security import Permission as P
from safecity.security.schemas import (
    AccessOut,
    EnrolIn,
    EnrolmentOut,
    LoginIn,
    MeOut,
    PasswordIn,
    RefreshIn,
    TokenOut,
    UserCreatedOut,
    UserIn,
    UserOut,
)
from safecity.web.auth import (
    REFRESH_COOKIE,
    need,
    public,
    resource_of,
    set_session_cookies,
)
from safecity.web.deps import PlatformDep, client_of
from safecity.web.ratelimit import limit_login

router = APIRouter(prefix="/api/v1", tags=["access"])


def me_out(who: Principal) -> MeOut:
    """The caller as it sees itself."""
    return MeOut(
        username=who.username,
        display_name=who.display_name,
        role=who.role.value,
        kind=who.kind.value,
        unit=who.unit,
        areas=list(who.home_areas),
        city_wide=who.city_wide,
        permissions=sorted(p.value for p in who.permissions),
    )


def token_out(signed: SignedIn) -> TokenOut:
    """Tokens plus who they belong to."""
    return TokenOut(
        access_token=signed.access_token,
        refresh_token=signed.refresh_token,
        expires_in=signed.expires_in,
        user=me_out(signed.principal),
    )


def enrolment_out(started: Enrolment, now: datetime) -> EnrolmentOut:
    """An enrolment as its user sees it: the token, the new key and its otpauth:// URI."""
    return EnrolmentOut(
        enrolment_token=started.token,
        expires_in=started.expires_in(now),
        username=started.username,
        totp_secret=started.secret,
        totp_uri=started.uri,
    )


@router.post(
    "/auth/login",
    response_model=TokenOut,
    summary="Sign in",
    responses={
        202: {
            "model": EnrolmentOut,
            "description": "The password is right, but the account must first set up its one-time "
            "code: no session yet (complete it with POST /api/v1/auth/enrol).",
        },
        401: {"description": "Any failure, whatever the reason: `bad_credentials`."},
    },
)
def login(
    body: LoginIn,
    platform: PlatformDep,
    request: Request,
    _: None = public("signing in is how one gets a token; rate limited per address"),
) -> Any:
    """Password (and one-time code where required) for an access token and a refresh token.

    Every failure gets the same 401 `bad_credentials`. An account still to set up its one-time
    code gets 202 with an enrolment instead of tokens.
    """
    limit_login(request)
    signed = platform.security.login(
        username=body.username, password=body.password, totp=body.totp, client=client_of(request)
    )
    if isinstance(signed, Enrolment):
        started = enrolment_out(signed, platform.security.now())
        return JSONResponse(started.model_dump(), status_code=202, headers={"Cache-Control": "no-store"})
    return token_out(signed)


@router.post("/auth/enrol", response_model=TokenOut, summary="Complete a one-time-code set-up")
def enrol(
    body: EnrolIn,
    platform: PlatformDep,
    request: Request,
    _: None = public("the enrolment token is its own credential; rate limited per address"),
) -> TokenOut:
    """The enrolment token from a 202 sign-in and a code from the app: the key becomes the
    account's and the session opens. A wrong code is 401 `enrolment_code_wrong` (five end the
    enrolment); a spent, replaced or expired token is 401 `enrolment_invalid`."""
    limit_login(request)
    signed = platform.security.enrol(token=body.enrolment_token, code=body.totp, client=client_of(request))
    return token_out(signed)


@router.post("/auth/refresh", response_model=TokenOut, summary="Rotate a refresh token")
def refresh(
    body: RefreshIn,
    platform: PlatformDep,
    request: Request,
    response: Response,
    _: None = public("a refresh token is its own credential; rate limited per address"),
) -> TokenOut:
    """A new access token and a new refresh token; the old refresh token stops working.

    The console sends its refresh cookie instead of a body: it gets new cookies, and the tokens
    are left out of the answer so that page scripts never hold them.
    """
    limit_login(request)
    token = body.refresh_token or request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise NotAuthenticated("refresh_invalid", "no refresh token was sent")
    signed = platform.security.refresh(token, client=client_of(request))
    if body.refresh_token:
        return token_out(signed)
    set_session_cookies(response, request, signed)
    return TokenOut(
        access_token="", refresh_token="", expires_in=signed.expires_in, user=me_out(signed.principal)
    )


@router.post("/auth/logout", status_code=204, response_class=Response, summary="Sign out")
def logout(platform: PlatformDep, who: Principal = need(P.SELF_READ)) -> Response:
    """End this sign-in session: its tokens stop working at once."""
    platform.security.logout(who)
    return Response(status_code=204)


@router.get("/auth/me", response_model=MeOut, summary="Who am I")
def me(who: Principal = need(P.SELF_READ)) -> MeOut:
    """The signed-in account, its role, areas and permissions."""
    return me_out(who)


@router.get("/me/access-log", response_model=list[AccessOut], summary="Who accessed my data")
def my_access_log(platform: PlatformDep, who: Principal = need(P.SELF_READ)) -> list[AccessOut]:
    """When a unit looked at my record or my bikes' sightings: the unit and the kind, no case details."""
    if who.person_id is None:
        return []
    tags = [b.tag_id for b in platform.registry.owned_bikes(who.context())]
    records = platform.security.accessed(who.person_id, tags)
    return [AccessOut(at=r.at, unit=r.unit, what=_what(r.action)) for r in records if r.actor != who.username]


def _what(action: str) -> str:
    return {
        "people.read": "your registration record was looked up",
        "subjects.trace": "sightings were looked up",
        "alerts.read": "an alert about your bike was viewed",
        "alerts.export": "an alert about your bike was exported",
        "bikes.register": "a bike was registered to your identity card",
        "bikes.owner_confirmed": "a bike registered to you was confirmed with your code",
        "me.link_requested": "someone asked to link an account to your identity",
        "me.linked": "an account was linked to your identity with your code",
        "verifications.read": "a claim about you was looked at, to check your identity card",
        "verifications.confirm": "a claim about you was confirmed at a police station",
        "watchlist.add": "your bike was listed as stolen",
        "watchlist.close": "your bike's stolen listing was closed",
    }.get(action, "your data was handled")


@router.get("/me/bikes", summary="My registered bikes")
def my_bikes(platform: PlatformDep, who: Principal = need(P.SELF_READ)) -> list[dict[str, object]]:
    """The caller's own bikes (citizen accounts linked to a registry person)."""
    return [
        b.model_dump(include={"id", "tag_id", "model", "colour", "status"})
        for b in platform.registry.owned_bikes(who.context())
    ]


# --- accounts (administrators) ---------------------------------------------------------------


@router.post("/users", status_code=201, response_model=UserCreatedOut, summary="Create an account")
def create_user(
    body: UserIn, platform: PlatformDep, request: Request, who: Principal = need(P.USERS_MANAGE)
) -> UserCreatedOut:
    """Create an account; one that uses a one-time code gets it set up by its user at first sign-in."""
    for area in body.areas:
        who.require_area(area, what=f"area {area}")
    new = accounts.NewAccount(
        username=body.username,
        display_name=body.display_name,
        role=body.role,
        unit=body.unit,
        password=body.password,
        areas=tuple(body.areas),
        city_wide=body.city_wide,
        person_id=body.person_id,
        with_totp=body.totp,
    )
    result = admin.create_user(
        platform.security, who.context(), new, resource=resource_of(request), status=201
    )
    return UserCreatedOut(user=result.user)


@router.get("/users", response_model=list[UserOut], summary="Accounts")
def list_users(platform: PlatformDep, _: Principal = need(P.USERS_MANAGE)) -> list[UserOut]:
    """Every account."""
    return admin.list_users(platform.security)


def _account_action(
    platform: PlatformDep,
    request: Request,
    who: Principal,
    username: str,
    change: admin.AccountChange,
    body: PasswordIn | None = None,
) -> admin.AccountResult:
    return admin.change_user(
        platform.security,
        who.context(),
        username,
        change,
        resource=resource_of(request),
        password=body.password if body else None,
    )


@router.post("/users/{username}/disable", response_model=UserOut, summary="Disable an account")
def disable_user(
    username: str, platform: PlatformDep, request: Request, who: Principal = need(P.USERS_MANAGE)
) -> UserOut:
    """Disable an account and end all its sessions at once."""
    return _account_action(platform, request, who, username, admin.AccountChange.DISABLE).user


@router.post("/users/{username}/enable", response_model=UserOut, summary="Re-enable an account")
def enable_user(
    username: str, platform: PlatformDep, request: Request, who: Principal = need(P.USERS_MANAGE)
) -> UserOut:
    """Let a disabled account sign in again."""
    return _account_action(platform, request, who, username, admin.AccountChange.ENABLE).user


@router.post("/users/{username}/unlock", response_model=UserOut, summary="Clear a lockout")
def unlock_user(
    username: str, platform: PlatformDep, request: Request, who: Principal = need(P.USERS_MANAGE)
) -> UserOut:
    """Clear failed sign-ins and any lockout."""
    return _account_action(platform, request, who, username, admin.AccountChange.UNLOCK).user


@router.post("/users/{username}/password", response_model=UserOut, summary="Set a password")
def set_user_password(
    username: str,
    body: PasswordIn,
    platform: PlatformDep,
    request: Request,
    who: Principal = need(P.USERS_MANAGE),
) -> UserOut:
    """Replace the password; every session of the account ends."""
    return _account_action(platform, request, who, username, admin.AccountChange.PASSWORD, body).user


@router.post("/users/{username}/totp", response_model=UserOut, summary="Reset the one-time code")
def reset_user_totp(
    username: str, platform: PlatformDep, request: Request, who: Principal = need(P.USERS_MANAGE)
) -> UserOut:
    """Forget the account's one-time-code key: its user sets up a new one at the next sign-in."""
    return _account_action(platform, request, who, username, admin.AccountChange.TOTP).user


__all__ = ["enrolment_out", "me_out", "router", "token_out"]
