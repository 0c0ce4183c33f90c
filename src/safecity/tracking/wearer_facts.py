"""What the wearer rules know: which wearer a tracker's records are about, and their safe zones compiled.

Records are matched to wearers by their `device` column, the registered tracker device id: it is
on every record of every path. A GT06 or JT/T 808 terminal's `tracker_fix` has the terminal id
(IMEI, phone number) as its subject, and its `alarm`s and `heartbeat`s have none (so the pipeline
makes the device id their subject); the server stamps all of them with the device the terminal
is bound to (registry/terminals.py). A JSON-over-MQTT tracker's records carry the device it
signed in as. Matching on the subject would need a different key per path; the device is one.

Only wearers who are active and have a consent in force are watched. The view is loaded once and
again after RegistryChanged("wearers") (`invalidate`); each load gets a new `version`, so the
safe-zone rule knows to recompile and carry its hysteresis over.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.rules.facts import FactSource
from safecity.tracking.errors import InvalidGeometry
from safecity.tracking.geofence import SafeZones, Zone
from safecity.tracking.models import Consent, SafeZone, Wearer, WearerStatus, WornTracker
from safecity.tracking.wearer_zones import zone_of_row

log = structlog.get_logger(__name__)

NAME = "wearers"  # the fact source's name, and the RegistryChanged group it depends on
ROW = "wearer_row"  # the enriched column: the wearer's row in the view (-1: no wearer)

_DEVICES_SCHEMA = {"device": pl.String, ROW: pl.Int64}


@dataclass(frozen=True, slots=True)
class WearerView:
    """The watched wearers at one load: row i of each list is wearer row i."""

    version: int
    wearer_ids: list[int]
    person_ids: list[int]
    names: list[str]
    areas: list[str]
    notes: list[str]
    enrolled_at: list[datetime]
    devices: pl.DataFrame  # device -> wearer_row
    zones: list[tuple[Zone, ...]]
    zone_names: list[tuple[str, ...]]
    row_of: dict[int, int] = field(default_factory=dict)  # wearer id -> row

    def __len__(self) -> int:
        return len(self.wearer_ids)

    def safe_zones(self, *, exact_within_m: float = 100.0) -> SafeZones:
        """Every watched wearer's zones compiled for the kernels (subject i is wearer row i)."""
        return SafeZones(self.zones, exact_within_m=exact_within_m)

    def facts(self, row: int) -> dict[str, object]:
        """What a warning says of the wearer at `row`."""
        return {
            "wearer_id": self.wearer_ids[row],
            "wearer": self.names[row],
            "area_id": self.areas[row],
            "notes": self.notes[row],
        }


class WearerFacts:
    """The cached view of watched wearers, and each batch matched to it once (shared by the rules)."""

    depends_on = frozenset({NAME})

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._lock = threading.Lock()
        self._view: WearerView | None = None
        self._loads = 0
        self._last: tuple[pl.DataFrame, WearerView, pl.DataFrame] | None = None

    def invalidate(self) -> None:
        """Forget the view (a wearer, tracker, guardian, consent or zone changed)."""
        with self._lock:
            self._view = None

    def view(self) -> WearerView:
        """The watched wearers, loaded if forgotten."""
        with self._lock:
            if self._view is None:
                self._loads += 1
                self._view = _load(self._factory, self._loads)
            return self._view

    def matched(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, WearerView]:
        """The batch's records of worn trackers, with `wearer_row` and the wearer's area as `area`.

        The area is replaced so that evidence routes each warning to the wearer's station, not to
        wherever the record placed the tracker. Computed once per batch for all the rules.
        """
        view = self.view()
        last = self._last
        if last is not None and last[0] is batch and last[1] is view:
            return last[2], view
        rows = batch.join(view.devices, on="device", how="inner")
        areas = pl.Series("area", view.areas, dtype=pl.String)
        if rows.height:
            rows = rows.with_columns(area=areas.gather(rows[ROW]))
        self._last = (batch, view, rows)
        return rows, view


def _load(factory: sessionmaker[Session], version: int) -> WearerView:
    with factory() as session:
        consented = select(Consent.wearer_id).where(Consent.withdrawn_at.is_(None))
        wearers = list(
            session.scalars(
                select(Wearer)
                .where(Wearer.status == WearerStatus.ACTIVE, Wearer.id.in_(consented))
                .order_by(Wearer.id)
            )
        )
        ids = [w.id for w in wearers]
        row_of = {w: i for i, w in enumerate(ids)}
        people = {
            p.id: p.name for p in registry.people_by_ids(session, sorted({w.person_id for w in wearers}))
        }
        worn = session.execute(
            select(WornTracker.device_id, WornTracker.wearer_id).where(WornTracker.removed_at.is_(None))
        ).all()
        zone_rows = list(session.scalars(select(SafeZone).order_by(SafeZone.id)))
    zones: list[list[Zone]] = [[] for _ in ids]
    names: list[list[str]] = [[] for _ in ids]
    for z in zone_rows:
        row = row_of.get(z.wearer_id)
        if row is None:
            continue
        try:
            zones[row].append(zone_of_row(z))
        except InvalidGeometry:  # checked when set; a row spoilt by hand is left out, loudly
            log.warning("safe zone unreadable", zone_id=z.id, wearer_id=z.wearer_id)
            continue
        names[row].append(z.name)
    devices = pl.DataFrame(
        [(d, row_of[w]) for d, w in worn if w in row_of], schema=_DEVICES_SCHEMA, orient="row"
    )
    return WearerView(
        version=version,
        wearer_ids=ids,
        person_ids=[w.person_id for w in wearers],
        names=[people.get(w.person_id, "") for w in wearers],
        areas=[w.area_id for w in wearers],
        notes=[w.notes for w in wearers],
        enrolled_at=[w.enrolled_at for w in wearers],
        devices=devices,
        zones=[tuple(z) for z in zones],
        zone_names=[tuple(n) for n in names],
        row_of=row_of,
    )


FACT_SOURCE = FactSource(NAME, WearerFacts)

__all__ = ["FACT_SOURCE", "NAME", "ROW", "WearerFacts", "WearerView"]
