"""Setting up the one-time code at first sign-in: the key as a QR code, confirmed by a code.

The sign-in form sends an account without a one-time code here, its enrolment token in an
HttpOnly cookie that only this path receives. The page shows the new key to its user alone: as
a QR code drawn on the server as inline SVG (no script, no outside source, so the strict
Content-Security-Policy holds), as text to type, and as an otpauth:// link for an app on the same
phone. A valid code completes the sign-in.
"""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from safecity.security import Enrolment, EnrolmentRefused
from safecity.web.auth import ENROL_COOKIE, ENROL_PATH, public
from safecity.web.deps import client_of, platform_of
from safecity.web.pages.login import csrf_ok, login_form, safe_next, signed_in
from safecity.web.pages.shell import render
from safecity.web.ratelimit import RateLimited, limit_login

router = APIRouter(include_in_schema=False)

EXPIRED = "Setting up your one-time code has expired or was finished elsewhere: please sign in again."


def qr_svg(uri: str) -> Markup:
    """The otpauth:// URI as an inline SVG QR code (dark modules on a white quiet zone)."""
    code = segno.make(uri, error="m")
    svg = code.svg_inline(
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
        svgclass="enrol-qr",
        lineclass=None,
        omitsize=True,  # a viewBox only: the page's CSS sizes it
        title="QR code of your key",
    )
    return Markup(svg)  # noqa: S704 (segno's own markup of a URI we made; it holds no user input)


def grouped(secret: str) -> str:
    """The key in groups of four, easier to type from the screen."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _page(request: Request, started: Enrolment, next_path: str, *, error: str | None = None) -> HTMLResponse:
    now = platform_of(request).security.now()
    response = render(
        request,
        "enrol.html",
        "enrol",
        "Set up your one-time code",
        None,
        status_code=401 if error else 200,
        enrolment=started,
        minutes=max(1, -(-started.expires_in(now) // 60)),  # rounded up
        qr=qr_svg(started.uri),
        key=grouped(started.secret),
        next=safe_next(next_path),
        error=error,
    )
    response.headers["Cache-Control"] = "no-store"  # the key must not stay in any cache
    return response


def _expired(request: Request, next_path: str) -> HTMLResponse:
    response = login_form(request, next_path=next_path, error=EXPIRED)
    response.delete_cookie(ENROL_COOKIE, path=ENROL_PATH)
    return response


@router.get(ENROL_PATH, response_class=HTMLResponse)
def enrol_page(
    request: Request,
    next: str | None = None,
    _: None = public("shows a new key to whoever holds its enrolment cookie, after their password"),
) -> HTMLResponse:
    """The new key as a QR code and as text, and the form for a code from the app."""
    token = request.cookies.get(ENROL_COOKIE, "")
    try:
        started = platform_of(request).security.enrolment(token)
    except EnrolmentRefused:
        return _expired(request, next or "")
    return _page(request, started, next or "")


@router.post(ENROL_PATH, response_class=HTMLResponse)
def enrol_submit(
    request: Request,
    totp: Annotated[str, Form(max_length=8)] = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
    _: None = public("the enrolment form posts here; rate limited per address"),
) -> Response:
    """Confirm the key with a code: the sign-in completes, or the page says what to fix."""
    security = platform_of(request).security
    token = request.cookies.get(ENROL_COOKIE, "")
    if not csrf_ok(request, csrf):
        return _expired(request, next)
    try:
        limit_login(request)
        signed = security.enrol(token=token, code=totp, client=client_of(request))
    except RateLimited as exc:
        return _again(request, token, next, str(exc))
    except EnrolmentRefused as exc:
        if exc.code != "enrolment_code_wrong":
            return _expired(request, next)
        return _again(request, token, next, exc.message[0].upper() + exc.message[1:] + ".")
    done = signed_in(request, signed, next)
    done.delete_cookie(ENROL_COOKIE, path=ENROL_PATH)
    return done


def _again(request: Request, token: str, next_path: str, error: str) -> HTMLResponse:
    """The same key shown again with what went wrong (or the sign-in form if it has gone)."""
    try:
        started = platform_of(request).security.enrolment(token)
    except EnrolmentRefused:
        return _expired(request, next_path)
    return _page(request, started, next_path, error=error)


__all__ = ["grouped", "qr_svg", "router"]
