"""The server's whitelist versions of every door, and when each was made, as facts for rules.

Rules reach it as `facts.source("door_versions")`. A door is out of step from the moment the
server made the version after the one it holds: that time is the `created_at` of the delta
making version `held + 1` (places/models.py `WhitelistDelta`; the last 64 of a door are kept).
When that delta is gone (the door is further behind, or the door was re-keyed, which drops its
deltas) the oldest time still known stands in: later than the truth, so a warning comes later,
never wrongly.

Cached; forgotten when places change, and when a rebuild makes a new version (the
`door_whitelists` group, announced by places/doors.py): the rebuild runs after the registration
that caused it has committed, so the `places` change alone would reload too early.
"""

from __future__ import annotations

import threading
import time

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.places.events import PLACES, WHITELISTS
from safecity.places.models import Building, Door, DoorWhitelist, WhitelistDelta
from safecity.rules import FactSource

NAME = "door_versions"
MAX_AGE_S = 60.0  # reloaded at least this often anyway: a change announced in another process may be lost
MADE: dict[str, pl.DataType] = {
    "device": pl.String(),
    "version": pl.Int64(),
    "made_at": pl.Datetime("ms", "UTC"),
}
LISTS: dict[str, pl.DataType] = {
    "device": pl.String(),
    "current_version": pl.Int64(),
    "changed_at": pl.Datetime("ms", "UTC"),
    "door_name": pl.String(),
    "compound_id": pl.String(),
    "building_id": pl.String(),
    "shop_id": pl.Int64(),
}
CURRENT: dict[str, pl.DataType] = {**LISTS, "oldest_made_at": pl.Datetime("ms", "UTC")}


class DoorVersions:
    """Each door's current list version and the making time of every version still known."""

    depends_on = frozenset({PLACES, WHITELISTS})

    def __init__(self, session_factory: sessionmaker[Session], *, max_age_s: float = MAX_AGE_S) -> None:
        self._factory = session_factory
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._frames: tuple[pl.DataFrame, pl.DataFrame] | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        """Forget the versions (a list changed, or a door was added)."""
        with self._lock:
            self._frames = None

    def current(self) -> pl.DataFrame:
        """One row per door with a list: device, current_version, changed_at, its place, oldest_made_at."""
        return self._load()[0]

    def behind(self, reports: pl.DataFrame) -> pl.DataFrame:
        """The reports (device, ts, held_version, ...) made while the door was behind the server.

        Adds the door's place, current_version, changed_at (of the current version) and behind_since
        (when the server made the version after the held one).
        """
        current, made = self._load()
        joined = reports.join(current, on="device", how="inner").filter(
            pl.col("held_version") < pl.col("current_version")
        )
        if joined.is_empty():
            return joined.with_columns(behind_since=pl.col("changed_at")).drop("oldest_made_at")
        nxt = made.rename({"version": "_next", "made_at": "_next_made_at"})
        joined = joined.with_columns(_next=pl.col("held_version") + 1).join(
            nxt, on=["device", "_next"], how="left"
        )
        since = pl.coalesce("_next_made_at", "oldest_made_at", "changed_at")
        # A report from before the next version was made was in step at its own time.
        return (
            joined.with_columns(behind_since=since)
            .filter(pl.col("ts") >= pl.col("behind_since"))
            .drop("_next", "_next_made_at", "oldest_made_at")
        )

    def _load(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        with self._lock:
            old = time.monotonic() - self._loaded_at > self._max_age_s
            if self._frames is None or old:
                self._frames = self._read()
                self._loaded_at = time.monotonic()
            return self._frames

    def _read(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        with self._factory() as session:
            lists = session.execute(
                select(
                    DoorWhitelist.device_id,
                    DoorWhitelist.version,
                    DoorWhitelist.changed_at,
                    Door.name,
                    func.coalesce(Door.compound_id, Building.compound_id),
                    Door.building_id,
                    Door.shop_id,
                )
                .join(Door, Door.device_id == DoorWhitelist.device_id)
                .outerjoin(Building, Building.id == Door.building_id)
            ).all()
            deltas = session.execute(
                select(WhitelistDelta.device_id, WhitelistDelta.version, WhitelistDelta.created_at)
            ).all()
        made = pl.DataFrame([tuple(r) for r in deltas], schema=MADE, orient="row")
        oldest = made.group_by("device").agg(oldest_made_at=pl.col("made_at").min())
        current = (
            pl.DataFrame([tuple(r) for r in lists], schema=LISTS, orient="row")
            .join(oldest, on="device", how="left")
            .select(list(CURRENT))
        )
        return current, made


FACT_SOURCE = FactSource(NAME, DoorVersions)

__all__ = ["FACT_SOURCE", "NAME", "DoorVersions"]
