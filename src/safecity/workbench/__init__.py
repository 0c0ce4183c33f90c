"""The investigation workbench: collision, companions and the other analyses over the whole pool.

Every analysis is written once as an Ibis expression (`engine.py`, decision 0016) and runs on
DuckDB over the local lake by default or on Spark over the same Parquet files; the use cases
(`service.py`) justify each question by an open case, bound it by the case's window and area,
and audit it.
"""

from safecity.workbench.collision import CollisionHit, CollisionResult
from safecity.workbench.companions import Companion, CompanionsResult
from safecity.workbench.engine import Engine, EngineKind
from safecity.workbench.errors import QueryRefused
from safecity.workbench.service import CollisionAnswer, CompanionsAnswer, Workbench
from safecity.workbench.windows import Window

__all__ = [
    "CollisionAnswer",
    "CollisionHit",
    "CollisionResult",
    "Companion",
    "CompanionsAnswer",
    "CompanionsResult",
    "Engine",
    "EngineKind",
    "QueryRefused",
    "Window",
    "Workbench",
]
