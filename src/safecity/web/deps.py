"""FastAPI dependencies: the running platform and its parts, as Annotated types for routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Path, Request

if TYPE_CHECKING:
    from safecity.platform import Platform


def get_platform(request: Request) -> Platform:
    """The platform the app was built with."""
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated["Platform", Depends(get_platform)]


# Row ids in the URL: bounded so that no client can make the database choke on a huge integer.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Row id.")]
