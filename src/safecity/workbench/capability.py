"""The investigation workbench capability: analyses over the whole pool, inside cases."""

from __future__ import annotations

from safecity.core.capabilities import Capability, Service
from safecity.rules.facts import FactSource
from safecity.workbench.catalogue import Catalogue
from safecity.workbench.forged import MISMATCH as PLATE_MISMATCH
from safecity.workbench.forged import UNREGISTERED as PLATE_UNREGISTERED
from safecity.workbench.plates import KIND as PLATE_CLONE
from safecity.workbench.retention import CASE_WORKSPACES
from safecity.workbench.service import Workbench
from safecity.workbench.settings import SECTION
from safecity.workbench.vehicle_facts import NAME as VEHICLE_REGISTRY
from safecity.workbench.vehicle_facts import VehicleRegistryFacts
from safecity.workbench.vehicle_registry import VehicleRegistry
from safecity.workbench.workspace import Workspaces

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
        CASE_WORKSPACES,
        Service(Catalogue, Catalogue.build),
        Service(Workspaces, Workspaces.build),
        Service(Workbench, Workbench.build),
    ),
)

__all__ = ["CAPABILITY"]
