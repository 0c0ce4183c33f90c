"""The tracking capability: things that move (issue 11). In this branch, hazardous chemicals only;
the wearers' extensions are listed beside `HAZMAT_EXTENSIONS` when the branches merge."""

from __future__ import annotations

from safecity.core.capabilities import Capability
from safecity.tracking.hazmat_capability import EXTENSIONS as HAZMAT_EXTENSIONS

CAPABILITY = Capability(
    name="tracking",
    summary="Things that move: hazardous-chemical shipments, their stock and their warnings.",
    requires=("registry", "alerts", "security"),
    extensions=(*HAZMAT_EXTENSIONS,),
)
