"""FastAPI dependencies and request helpers: the running platform, the caller's address, row ids.

The bottom of the web package: auth, rate limits, routes and pages import it; it imports none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Path, Request

if TYPE_CHECKING:
    from safecity.platform import Platform


def platform_of(request: Request) -> Platform:
    """The platform the app was built with."""
    platform: Platform = request.app.state.platform
    return platform


def client_of(request: Request) -> str:
    """The caller's address as the audit trail records it."""
    return request.client.host if request.client else ""


PlatformDep = Annotated["Platform", Depends(platform_of)]


# Row ids in the URL: bounded so that no client can make the database choke on a huge integer.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Row id.")]
