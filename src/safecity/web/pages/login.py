"""Signing in and out of the console: the form, its CSRF check, the session cookies."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from safecity.security import AccessDenied, Enrolment, Principal, SignedIn
from safecity.security import Permission as P
from safecity.web.auth import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    ENROL_COOKIE,
    ENROL_PATH,
    REFRESH_COOKIE,
    page_need,
    public,
    set_cookie,
    set_session_cookies,
)
from safecity.web.deps import client_of, platform_of
from safecity.web.pages.shell import landing_of, render
from safecity.web.ratelimit import RateLimited, limit_login

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    # Only local paths: never bounce a signed-in browser to another site.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, next: str | None = None, _: None = public("the sign-in form itself")
) -> HTMLResponse:
    """The sign-in form; sets the CSRF cookie the form echoes."""
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", "login", "Sign in", None, next=safe_next(next), csrf_value=token)
    set_cookie(response, request, CSRF_COOKIE, token, max_age=12 * 3600)
    return response


def csrf_ok(request: Request, csrf: str) -> bool:
    """Whether a form's CSRF field matches the browser's sc_csrf cookie."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    return bool(expected) and secrets.compare_digest(csrf, expected)


def login_form(request: Request, *, next_path: str, error: str, username: str = "") -> HTMLResponse:
    """The sign-in form again (401) with an error, and a fresh CSRF token."""
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        "login",
        "Sign in",
        None,
        status_code=401,
        next=safe_next(next_path),
        csrf_value=token,
        error=error,
        username=username,
    )
    set_cookie(response, request, CSRF_COOKIE, token, max_age=12 * 3600)
    return response


def signed_in(request: Request, signed: SignedIn, next_path: str) -> RedirectResponse:
    """Go on to the page asked for (or the role's home) with the session in HttpOnly cookies."""
    done = RedirectResponse(landing_of(signed.principal, safe_next(next_path)), status_code=303)
    set_session_cookies(done, request, signed)
    return done


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    totp: Annotated[str, Form(max_length=8)] = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
    _: None = public("the sign-in form posts here; rate limited per address"),
) -> Response:
    """Check the form; on success put the tokens in HttpOnly cookies and go on, or on to setting up
    the one-time code when the account has none yet."""
    if not csrf_ok(request, csrf):
        return login_form(request, next_path=next, error="The form expired. Please sign in again.")
    platform = platform_of(request)
    try:
        limit_login(request)
        signed = platform.security.login(
            username=username, password=password, totp=totp or None, client=client_of(request)
        )
    except (AccessDenied, RateLimited) as exc:
        error = exc.message if isinstance(exc, AccessDenied) else str(exc)
        return login_form(request, next_path=next, error=error, username=username)
    if isinstance(signed, Enrolment):
        target = ENROL_PATH + (f"?next={quote(safe_next(next), safe='')}" if safe_next(next) else "")
        going = RedirectResponse(target, status_code=303)
        ttl = signed.expires_in(platform.security.now())
        set_cookie(going, request, ENROL_COOKIE, signed.token, max_age=ttl, httponly=True, path=ENROL_PATH)
        return going
    return signed_in(request, signed, next)


@router.post("/logout")
def logout_submit(
    request: Request,
    csrf: Annotated[str, Form(max_length=64)] = "",
    who: Principal = page_need(P.SELF_READ),
) -> Response:
    """End the session and clear the cookies."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf, expected):
        raise AccessDenied("csrf_failed", "the sign-out form expired; reload the page and try again")
    platform_of(request).security.logout(who)
    response = RedirectResponse("/login", status_code=303)
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, "/api/v1/auth")):
        response.delete_cookie(name, path=path)
    return response
