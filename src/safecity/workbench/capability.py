"""The investigation workbench capability: analyses over the whole pool, inside cases."""

from __future__ import annotations

from safecity.core.capabilities import Capability, Service
from safecity.workbench.catalogue import Catalogue
from safecity.workbench.plates import KIND as PLATE_CLONE
from safecity.workbench.retention import CASE_WORKSPACES
from safecity.workbench.service import Workbench
from safecity.workbench.settings import SECTION
from safecity.workbench.workspace import Workspaces

CAPABILITY = Capability(
    name="workbench",
    summary=(
        "Investigation workbench: data collision (碰撞) and companions over the lake, on DuckDB or Spark; "
        "cases as workspaces"
    ),
    requires=("registry", "security"),
    extensions=(
        SECTION,
        PLATE_CLONE,
        CASE_WORKSPACES,
        Service(Catalogue, Catalogue.build),
        Service(Workspaces, Workspaces.build),
        Service(Workbench, Workbench.build),
    ),
)

__all__ = ["CAPABILITY"]
