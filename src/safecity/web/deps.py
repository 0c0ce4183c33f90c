"""FastAPI dependencies and request helpers: the running platform, the caller's address, row ids.

The bottom of the web package: auth, rate limits, routes and pages import it; it imports none of them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Path, Request
from pydantic import BeforeValidator

from safecity.core.clock import UtcTime

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

_NUMBER = re.compile(r"\s*[-+]?\d+(\.\d*)?\s*")


def _iso_only(value: Any) -> Any:
    # Pydantic reads a bare number as seconds since 1970; a time in a query is ISO 8601 or refused.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("give an ISO 8601 time with a zone, such as 2026-11-22T08:00:00Z")
    return value


IsoTime = Annotated[UtcTime, BeforeValidator(_iso_only)]  # a query's time: ISO 8601 with a zone
