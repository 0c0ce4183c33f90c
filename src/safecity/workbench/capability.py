"""The investigation workbench capability: analyses over the whole pool, inside cases."""

from __future__ import annotations

from typing import Any

from safecity.core.capabilities import Capability, Service
from safecity.core.worker import Every
from safecity.rules.facts import FactSource
from safecity.workbench.catalogue import Catalogue
from safecity.workbench.explore import Explorer
from safecity.workbench.forged import MISMATCH as PLATE_MISMATCH
from safecity.workbench.forged import UNREGISTERED as PLATE_UNREGISTERED
from safecity.workbench.links import Links
from safecity.workbench.plates import KIND as PLATE_CLONE
from safecity.workbench.retention import CASE_WORKSPACES
from safecity.workbench.search import SearchIndex
from safecity.workbench.service import Workbench
from safecity.workbench.settings import SECTION, WorkbenchSettings
from safecity.workbench.vehicle_entities import VEHICLE_ENTITIES
from safecity.workbench.vehicle_facts import NAME as VEHICLE_REGISTRY
from safecity.workbench.vehicle_facts import VehicleRegistryFacts
from safecity.workbench.vehicle_registry import VehicleRegistry
from safecity.workbench.workspace import Workspaces


def _workers(platform: Any) -> list[Any]:
    """The search index's sync with the registries (its first sync is the first search's)."""
    interval_s = platform.settings.section(WorkbenchSettings).search_sync_interval_s
    return [Every("search-index", interval_s, platform.service(SearchIndex).sync)]


CAPABILITY = Capability(
    name="workbench",
    summary=(
        "Investigation workbench: data collision (碰撞) and companions over the lake, on DuckDB or Spark; "
        "cases as workspaces; the city's vehicle registry and forged plates"
    ),
    requires=("registry", "security"),
    extensions=(
        SECTION,
        PLATE_CLONE,
        PLATE_MISMATCH,  # issue 13 item 6: forged plates against the city's vehicle registry
        PLATE_UNREGISTERED,
        FactSource(VEHICLE_REGISTRY, VehicleRegistryFacts),
        Service(VehicleRegistry, VehicleRegistry.build),
        VEHICLE_ENTITIES,
        CASE_WORKSPACES,
        Service(Catalogue, Catalogue.build),
        Service(Workspaces, Workspaces.build),
        Service(SearchIndex, SearchIndex.build),
        Service(Links, Links.build),
        Service(Workbench, Workbench.build),
        Service(Explorer, Explorer.build),
    ),
    build=_workers,
)

__all__ = ["CAPABILITY"]
