"""Signing in and out of the console: the form, its CSRF check, the session cookies."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from safecity.security import AccessDenied, Principal
from safecity.security import Permission as P
from safecity.web.auth import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
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


def _safe_next(target: str | None) -> str:
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
    response = render(
        request, "login.html", "login", "Sign in", None, next=_safe_next(next), csrf_value=token
    )
    set_cookie(response, request, CSRF_COOKIE, token, max_age=12 * 3600)
    return response


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
    """Check the form; on success put the tokens in HttpOnly cookies and go on."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    error: str | None = None
    if not expected or not secrets.compare_digest(csrf, expected):
        error = "The form expired. Please sign in again."
    else:
        try:
            limit_login(request)
            signed = platform_of(request).security.login(
                username=username, password=password, totp=totp or None, client=client_of(request)
            )
        except (AccessDenied, RateLimited) as exc:
            error = exc.message if isinstance(exc, AccessDenied) else str(exc)
    if error is not None:
        token = secrets.token_urlsafe(24)
        response = render(
            request,
            "login.html",
            "login",
            "Sign in",
            None,
            status_code=401,
            next=_safe_next(next),
            csrf_value=token,
            error=error,
            username=username,
        )
        set_cookie(response, request, CSRF_COOKIE, token, max_age=12 * 3600)
        return response
    done = RedirectResponse(landing_of(signed.principal, _safe_next(next)), status_code=303)
    set_session_cookies(done, request, signed)
    return done


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
