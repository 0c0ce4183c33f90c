"""Server-rendered console pages: the alert console with its map, and the e-bike registry desk.

The pages are shells: all data arrives from the JSON API, fetched by static scripts, so the
pages carry no inline script or style and run under a strict Content-Security-Policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

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
    """One entry of the top bar."""

    href: str
    label: str
    key: str


NAV: tuple[NavLink, ...] = (
    NavLink("/", "Console", "console"),
    NavLink("/bikes", "Bikes", "bikes"),
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


def _render(request: Request, template: str, page: str, title: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {
            "page": page,
            "title": title,
            "nav": NAV,
            "version": asset_version(),
            "missing_assets": missing_vendor_assets(),
        },
    )


@router.get("/", response_class=HTMLResponse)
def console_page(request: Request) -> HTMLResponse:
    """The alert console: city map, live alert list and the explained detail of one alert."""
    return _render(request, "console.html", "console", "Console")


@router.get("/bikes", response_class=HTMLResponse)
def bikes_page(request: Request) -> HTMLResponse:
    """The e-bike desk: register, look up, report stolen and mark recovered."""
    return _render(request, "bikes.html", "bikes", "E-bikes")
