"""The shops' facts rules read (`facts.source("shops")`): which door and alarm zone guard which shop, and
whether each shop is armed, cached and forgotten when places change.

Three small frames, loaded together in one read so that a rule never sees a door of a shop it
does not know: `doors` (device -> shop), `zones` (alarm panel device and zone -> shop) and
`shops` (state, where, since when). Arming or disarming a shop announces RegistryChanged
"shops" (a door added announces "places"), which empties the cache in every process; the time
limit is a backstop only.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.places.errors import PlacesError
from safecity.places.events import PLACES
from safecity.places.models import AlarmZone, Door, Shop
from safecity.places.schedule import WeeklyHours
from safecity.rules import FactSource

NAME = "shops"
# The RegistryChanged group of shops' own state: arming a shop (twice a day each, on schedule) must
# not make the housing caches of "places" reload their tenants.
SHOPS_GROUP = "shops"
SHOP_COLUMNS: dict[str, pl.DataType] = {
    "shop_id": pl.Int64(),
    "shop_name": pl.String(),
    "community": pl.String(),
    "armed": pl.Boolean(),
    "armed_changed_at": pl.Datetime("us", "UTC"),
    "armed_changed_by": pl.String(),
    "shop_lat": pl.Float64(),
    "shop_lon": pl.Float64(),
}


@dataclass(frozen=True, slots=True)
class ShopView:
    """Shops, their doors and their alarm zones as of one read."""

    shops: pl.DataFrame  # SHOP_COLUMNS
    doors: pl.DataFrame  # device, shop_id
    zones: pl.DataFrame  # device, zone, shop_id, zone_id
    zone_hours: dict[int, WeeklyHours] = field(default_factory=dict)  # zones armed on hours of their own


class ShopFacts:
    """Shops as rules see them now; one read of three small tables, kept until places change."""

    depends_on = frozenset({PLACES, SHOPS_GROUP})  # doors added to shops come as "places"

    def __init__(self, session_factory: sessionmaker[Session], *, ttl_s: float = 300.0) -> None:
        self._factory = session_factory
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._view: ShopView | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        """Forget the cached view (a shop was armed, disarmed, registered, or a door added)."""
        with self._lock:
            self._view = None

    def view(self) -> ShopView:
        """The current view, read once after each change."""
        with self._lock:
            if self._view is None or time.monotonic() - self._loaded_at > self._ttl_s:
                with self._factory() as session:
                    self._view = _read(session)
                self._loaded_at = time.monotonic()
            return self._view


def _read(session: Session) -> ShopView:
    shops = pl.DataFrame(
        [
            tuple(r)
            for r in session.execute(
                select(
                    Shop.id,
                    Shop.name,
                    Shop.community_id,
                    Shop.armed,
                    Shop.armed_changed_at,
                    Shop.armed_changed_by,
                    Shop.lat,
                    Shop.lon,
                )
            )
        ],
        schema=SHOP_COLUMNS,
        orient="row",
    )
    doors = pl.DataFrame(
        [
            tuple(r)
            for r in session.execute(select(Door.device_id, Door.shop_id).where(Door.shop_id.is_not(None)))
        ],
        schema={"device": pl.String(), "shop_id": pl.Int64()},
        orient="row",
    )
    rows = session.execute(
        select(
            AlarmZone.device_id, AlarmZone.zone, AlarmZone.shop_id, AlarmZone.id, AlarmZone.armed_hours
        ).where(AlarmZone.shop_id.is_not(None))
    ).all()
    zones = pl.DataFrame(
        [tuple(r)[:4] for r in rows],
        schema={"device": pl.String(), "zone": pl.String(), "shop_id": pl.Int64(), "zone_id": pl.Int64()},
        orient="row",
    )
    zone_hours = {}
    for *_, zone_id, armed_hours in rows:
        try:
            hours = WeeklyHours.parse(armed_hours, field="armed_hours")
        except PlacesError:
            continue  # checked when registered; a row written around that follows its shop only
        if not hours.empty:
            zone_hours[zone_id] = hours
    return ShopView(shops=shops, doors=doors, zones=zones, zone_hours=zone_hours)


SHOP_FACTS = FactSource(NAME, ShopFacts)

__all__ = ["NAME", "SHOPS_GROUP", "SHOP_FACTS", "ShopFacts", "ShopView"]
