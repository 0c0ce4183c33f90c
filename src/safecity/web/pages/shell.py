"""What every console page shares: the top bar, the template context, static assets, the refusal page."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from safecity.security import AccessDenied, Principal
from safecity.security import Permission as P
from safecity.web.auth import CSRF_COOKIE

WEB_DIR = Path(__file__).parent.parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"

# Copied from npm by `make assets`; the console cannot draw its map, or Chinese text on a machine
# without Chinese fonts, without them.
VENDOR_ASSETS: tuple[str, ...] = (
    "vendor/maplibre-gl-csp.js",
    "vendor/maplibre-gl-csp-worker.js",
    "vendor/maplibre-gl.css",
    "vendor/noto-sans-sc/400.css",
    "vendor/noto-sans-sc/700.css",
)

templates = Jinja2Templates(directory=TEMPLATES_DIR)


@dataclass(frozen=True, slots=True)
class NavLink:
    """One entry of the top bar, shown to those whose role holds its permission.

    `order` places it among the entries of every page module (lower first); a role's home page
    is the first entry it may open.
    """

    href: str
    label: str
    key: str
    permission: P
    order: int = 50


@functools.cache
def page_modules() -> tuple[ModuleType, ...]:
    """Every module of the pages package but this one, by name."""
    package = importlib.import_module("safecity.web.pages")
    return tuple(
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name)
        if info.name != "shell"
    )


@functools.cache
def nav() -> tuple[NavLink, ...]:
    """The top bar's entries of every page module, in their order."""
    links = [link for module in page_modules() for link in getattr(module, "NAV", ())]
    return tuple(sorted(links, key=lambda link: (link.order, link.href)))


def missing_vendor_assets(static_dir: Path | None = None) -> list[str]:
    """The front-end library files that `make assets` has not copied yet."""
    static_dir = static_dir or STATIC_DIR
    return [name for name in VENDOR_ASSETS if not (static_dir / name).is_file()]


def asset_version(static_dir: Path | None = None) -> str:
    """A short token that changes whenever our own static files change, to bust browser caches."""
    static_dir = static_dir or STATIC_DIR
    stamps = [int(p.stat().st_mtime) for p in static_dir.glob("*.*") if p.is_file()]
    return format(max(stamps, default=0), "x")


def render(
    request: Request,
    template: str,
    page: str,
    title: str,
    who: Principal | None,
    *,
    status_code: int = 200,
    **extra: object,
) -> HTMLResponse:
    """A page in the console's frame: top bar for the caller's role, CSRF token, asset versions."""
    return templates.TemplateResponse(
        request,
        template,
        {
            "page": page,
            "title": title,
            "nav": [link for link in nav() if who is not None and who.can(link.permission)],
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
    return next((link.href for link in nav() if who.can(link.permission)), "/me")


def landing_of(who: Principal, target: str) -> str:
    """Where a sign-in goes on: the page asked for if the role may open it, else the role's home."""
    path = target.partition("?")[0]
    page = next((link for link in nav() if link.href == path), None)
    return target if target and (page is None or who.can(page.permission)) else home_of(who)


def refusal_page(request: Request, exc: AccessDenied) -> HTMLResponse:
    """A refused console page as a page (not JSON), with a way back to what the role may use."""
    who: Principal | None = getattr(request.state, "principal", None)
    return render(
        request,
        "refused.html",
        "refused",
        "Not allowed",
        who,
        status_code=exc.status,
        message=exc.message,
        home=home_of(who) if who is not None else "/login",
    )
