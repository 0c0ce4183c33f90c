"""Server-rendered console pages, one module per capability, found the way API routers are.

A capability's pages are one module here with a module-level `router` and, for the top bar, a
`NAV` tuple of `shell.NavLink`s; `routers()` and `shell.nav()` find them, so adding a page adds a
file and edits nothing else. The pages are shells: their data arrives from the JSON API, fetched
by static scripts, so they carry no inline script or style and run under a strict
Content-Security-Policy.
"""

from __future__ import annotations

from fastapi import APIRouter

from safecity.web.pages.shell import (
    STATIC_DIR,
    VENDOR_ASSETS,
    NavLink,
    asset_version,
    missing_vendor_assets,
    page_modules,
    refusal_page,
)


def routers() -> list[APIRouter]:
    """The `router` of every page module, by module name."""
    return [
        module.router for module in page_modules() if isinstance(getattr(module, "router", None), APIRouter)
    ]


__all__ = [
    "STATIC_DIR",
    "VENDOR_ASSETS",
    "NavLink",
    "asset_version",
    "missing_vendor_assets",
    "page_modules",
    "refusal_page",
    "routers",
]
