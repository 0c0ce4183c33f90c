"""The server's whitelist versions of every door, and when each was made, as facts for rules.

Rules reach it as `facts.source("door_versions")`. A door is out of step from the moment the
server made the version after the one it holds: that time is the `created_at` of the delta
making version `held + 1` (places/models.py `WhitelistDelta`; the last 64 of a door are kept).
When that delta is gone (the door is further behind, or the door was re-keyed, which drops its
deltas) the oldest time still known stands in: later than the truth, so a warning comes later,
never wrongly.

The current versions are cached: forgotten when places change, and when a rebuild makes a new
version (the `door_whitelists` group, announced by places/doors.py): the rebuild runs after the
registration that caused it has committed, so the `places` change alone would reload too early.
When a version was made is read only for doors seen behind (few), and remembered.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

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
    "_next": pl.Int64(),
    "_made_at": pl.Datetime("ms", "UTC"),
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


class DoorVersions:
    """Each door's current list version; when a version was made, looked up for the doors behind."""

    depends_on = frozenset({PLACES, WHITELISTS})

    def __init__(self, session_factory: sessionmaker[Session], *, max_age_s: float = MAX_AGE_S) -> None:
        self._factory = session_factory
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._current: pl.DataFrame | None = None
        self._loaded_at = 0.0
        # (door, version) -> when the server made it: fixed once made, so kept across reloads.
        # Only versions right after one a door was seen holding are asked for: few.
        self._made: dict[tuple[str, int], datetime] = {}

    def invalidate(self) -> None:
        """Forget the versions (a list changed, or a door was added)."""
        with self._lock:
            self._current = None

    def current(self) -> pl.DataFrame:
        """One row per door with a list: device, current_version, changed_at and its place."""
        with self._lock:
            old = time.monotonic() - self._loaded_at > self._max_age_s
            if self._current is None or old:
                self._current = self._read()
                self._loaded_at = time.monotonic()
            return self._current

    def behind(self, reports: pl.DataFrame) -> pl.DataFrame:
        """The reports (device, ts, held_version, ...) made while the door was behind the server.

        Adds the door's place, current_version, changed_at (of the current version) and behind_since
        (when the server made the version after the held one).
        """
        joined = reports.join(self.current(), on="device", how="inner").filter(
            pl.col("held_version") < pl.col("current_version")
        )
        if joined.is_empty():
            return joined.with_columns(behind_since=pl.col("changed_at"))
        wanted = joined.select("device", (pl.col("held_version") + 1).alias("_next")).unique()
        made = self._made_at([(str(d), int(v)) for d, v in wanted.iter_rows()])
        joined = joined.with_columns(_next=pl.col("held_version") + 1).join(
            made, on=["device", "_next"], how="left"
        )
        # A report from before the next version was made was in step at its own time.
        return (
            joined.with_columns(behind_since=pl.coalesce("_made_at", "changed_at"))
            .filter(pl.col("ts") >= pl.col("behind_since"))
            .drop("_next", "_made_at")
        )

    def _made_at(self, wanted: list[tuple[str, int]]) -> pl.DataFrame:
        """device, _next, _made_at: the making time of each version, or the oldest still known."""
        with self._lock:
            return self._made_locked(wanted)

    def _made_locked(self, wanted: list[tuple[str, int]]) -> pl.DataFrame:
        missing = [w for w in wanted if w not in self._made]
        if missing:
            devices = sorted({d for d, _ in missing})
            with self._factory() as session:
                kept = session.execute(
                    select(WhitelistDelta.device_id, WhitelistDelta.version, WhitelistDelta.created_at).where(
                        WhitelistDelta.device_id.in_(devices)
                    )
                ).all()
            found = {(str(d), int(v)): at for d, v, at in kept}
            oldest: dict[str, datetime] = {}
            for (device, _), at in found.items():
                oldest[device] = min(at, oldest.get(device, at))
            for key in missing:
                if key in found:
                    self._made[key] = found[key]
                elif key[0] in oldest:
                    # Its delta is gone (kept only 64): made before the oldest kept. Not cached,
                    # since the oldest kept moves on.
                    found[key] = oldest[key[0]]
            if len(self._made) > 100_000:
                self._made.clear()
        else:
            found = {}
        rows = [(d, v, self._made.get((d, v), found.get((d, v)))) for d, v in wanted]
        return pl.DataFrame(rows, schema=MADE, orient="row")

    def _read(self) -> pl.DataFrame:
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
        return pl.DataFrame([tuple(r) for r in lists], schema=LISTS, orient="row")


FACT_SOURCE = FactSource(NAME, DoorVersions)

__all__ = ["FACT_SOURCE", "NAME", "DoorVersions"]
