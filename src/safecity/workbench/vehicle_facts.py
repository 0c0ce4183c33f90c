"""The vehicle registry in memory, for the forged-plate rules and search: one frame, one row per plate.

The rules look up every plate read of every batch; a query per batch (let alone per read) would
put the database on the hot path. The registry is loaded once into a Polars frame, and again
after `RegistryChanged("vehicle_registry")`, which every import announces (`invalidate`). Rules reach
it as `facts.source("vehicle_registry")` (a `rules.facts.FactSource`); the workbench's search
shares the same copy.
"""

from __future__ import annotations

import threading
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.record import UTC_MS
from safecity.workbench.vehicle_models import VehicleRegistration

NAME = "vehicle_registry"  # the fact source's name, and the RegistryChanged group it depends on

REGISTRY_SCHEMA: dict[str, Any] = {
    "registration_id": pl.Int64,
    "plate": pl.String,
    "plate_colour": pl.String,
    "vehicle_type": pl.String,
    "body_colour": pl.String,
    "make_model": pl.String,
    "status": pl.String,
    "registered_at": UTC_MS,
}


class VehicleRegistryFacts:
    """Every registration, loaded on first use and again after the registry changed."""

    depends_on = frozenset({NAME})

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._lock = threading.Lock()
        self._frame: pl.DataFrame | None = None

    def invalidate(self) -> None:
        """Forget the registry (an import changed it)."""
        with self._lock:
            self._frame = None

    def frame(self) -> pl.DataFrame:
        """The registrations (`REGISTRY_SCHEMA`), one row per plate."""
        with self._lock:
            if self._frame is None:
                self._frame = self.load().sort("plate")
            return self._frame

    def lookup(self, plates: pl.Series) -> pl.DataFrame:
        """The registrations of these plates (a plate not registered has no row).

        A binary search in the frame sorted by plate: a batch's few hundred plates cost
        microseconds where a join would hash the whole registry each batch.
        """
        frame = self.frame()
        wanted = plates.drop_nulls().unique().sort()
        if frame.is_empty() or wanted.is_empty():
            return frame.clear()
        at = frame["plate"].search_sorted(wanted, side="left").clip(upper_bound=frame.height - 1)
        found = frame[at]
        return found.filter(found["plate"] == wanted)

    def of(self, plates: list[str]) -> dict[str, dict[str, Any]]:
        """The registrations of these plates, by plate (a plate not registered is left out)."""
        rows = self.lookup(pl.Series(plates, dtype=pl.String))
        return {r["plate"]: r for r in rows.iter_rows(named=True)}

    def load(self) -> pl.DataFrame:
        """Every registration, read from the database."""
        return _load(self._factory)


def _load(factory: sessionmaker[Session]) -> pl.DataFrame:
    v = VehicleRegistration
    with factory() as session:
        rows = session.execute(
            select(
                v.id,
                v.plate,
                v.plate_colour,
                v.vehicle_type,
                v.body_colour,
                v.make_model,
                v.status,
                v.registered_at,
            )
        )
        return pl.DataFrame([tuple(r) for r in rows], schema=REGISTRY_SCHEMA, orient="row")


__all__ = ["NAME", "REGISTRY_SCHEMA", "VehicleRegistryFacts"]
