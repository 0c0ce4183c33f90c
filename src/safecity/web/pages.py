"""Server-rendered console pages: the alert console with its map, and the e-bike registry desk.

The pages are shells: all data arrives from the JSON API, fetched by static scripts, so the
pages carry no inline script or style and run under a strict Content-Security-Policy.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

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
from safecity.web.ratelimit import RateLimited, limit_login

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"

# Copied from npm by `make assets`; the console cannot draw its map without them.
VENDOR_ASSETS: tuple[str, ...] = (
    "vendor/maplibre-gl-csp.js",
    "vendor/maplibre-gl-csp-worker.js",
    "vendor/maplibre-gl.css",
)

templates = Jinja2Templates(directory=TEMPLATES_DIR)
router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class NavLink:
    """One entry of the top bar, shown to those whose role holds its permission."""

    href: str
    label: str
    key: str
    permission: P


NAV: tuple[NavLink, ...] = (
    NavLink("/", "Console", "console", P.ALERTS_READ),
    NavLink("/bikes", "Bikes", "bikes", P.BIKES_READ),
    NavLink("/me", "My account", "me", P.SELF_READ),
)


def missing_vendor_assets(static_dir: Path | None = None) -> list[str]:
    """The front-end library files that `make assets` has not copied yet."""
    static_dir = static_dir or STATIC_DIR
    return [name for name in VENDOR_ASSETS if not (static_dir / name).is_file()]


def asset_version(static_dir: Path | None = None) -> str:
    """A short token that changes whenever our own static files change, to bust browser caches."""
    static_dir = static_dir or STATIC_DIR
    stamps = [int(p.stat().st_mtime) for p in static_dir.glob("*.*") if p.is_file()]
    return format(max(stamps, default=0), "x")


def _render(
    request: Request,
    template: str,
    page: str,
    title: str,
    who: Principal | None,
    *,
    status_code: int = 200,
    **extra: object,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {
            "page": page,
            "title": title,
            "nav": [link for link in NAV if who is not None and who.can(link.permission)],
            "who": who,
            "home": home_of(who) if who is not None else "/",
            "csrf": request.cookies.get(CSRF_COOKIE, ""),
            "version": asset_version(),
            "missing_assets": missing_vendor_assets(),
            **extra,
        },
        status_code=status_code,
    )


def home_of(who: Principal) -> str:
    """The first page a role may use."""
    return next((link.href for link in NAV if who.can(link.permission)), "/me")


def landing_of(who: Principal, target: str) -> str:
    """Where a sign-in goes on: the page asked for if the role may open it, else the role's home."""
    path = target.partition("?")[0]
    page = next((link for link in NAV if link.href == path), None)
    return target if target and (page is None or who.can(page.permission)) else home_of(who)


@router.get("/", response_class=HTMLResponse)
def console_page(request: Request, who: Principal = page_need(P.ALERTS_READ)) -> HTMLResponse:
    """The alert console: city map, live alert list and the explained detail of one alert."""
    return _render(request, "console.html", "console", "Console", who)


@router.get("/bikes", response_class=HTMLResponse)
def bikes_page(request: Request, who: Principal = page_need(P.BIKES_READ)) -> HTMLResponse:
    """The e-bike desk: register, look up, report stolen and mark recovered."""
    return _render(request, "bikes.html", "bikes", "E-bikes", who)


@router.get("/me", response_class=HTMLResponse)
def me_page(request: Request, who: Principal = page_need(P.SELF_READ)) -> HTMLResponse:
    """The caller's account and, for citizens, which units accessed their data."""
    return _render(request, "me.html", "me", "My account", who)


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
    response = _render(
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
        response = _render(
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


def refusal_page(request: Request, exc: AccessDenied) -> HTMLResponse:
    """A refused console page as a page (not JSON), with a way back to what the role may use."""
    who: Principal | None = getattr(request.state, "principal", None)
    return _render(
        request,
        "refused.html",
        "refused",
        "Not allowed",
        who,
        status_code=exc.status,
        message=exc.message,
        home=home_of(who) if who is not None else "/login",
    )
