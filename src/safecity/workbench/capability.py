"""The investigation workbench capability: analyses over the whole pool, inside cases."""

from __future__ import annotations

from safecity.core.capabilities import Capability, Service
from safecity.workbench.service import Workbench
from safecity.workbench.settings import SECTION

CAPABILITY = Capability(
    name="workbench",
    summary="Investigation workbench: data collision (碰撞) and companions over the lake, on DuckDB or Spark",
    requires=("registry", "security"),
    extensions=(SECTION, Service(Workbench, Workbench.build)),
)

__all__ = ["CAPABILITY"]
