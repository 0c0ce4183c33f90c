"""HTTP API routers, one module per domain: thin (parse, call one service function, shape the answer).

A capability's routes are one module here with a module-level `router`; `routers()` finds every
such module, so adding a capability's API adds a file and edits nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """The `router` of every module of this package, by module name."""
    found: list[APIRouter] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        router = getattr(importlib.import_module(f"{__name__}.{info.name}"), "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found
