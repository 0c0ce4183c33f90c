"""The shops' facts rules read (`facts.source("shops")`): which door and alarm zone guard which shop,
whether each shop is armed, and whose cards its doors know, cached and forgotten when places change.

Four small frames, loaded together in one read so that a rule never sees a door of a shop it
does not know: `doors` (device -> shop), `zones` (alarm panel device and zone -> shop), `shops`
(state, where, since when) and `cards` (a shop's owner and every staff entry with when it held,
by card pseudonym: who a swipe at an armed shop was). Arming or disarming a shop announces
RegistryChanged "shops" (a door added, or staff added or removed, announces "places"), which
empties the cache in every process; the time limit is a backstop only.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.places.errors import PlacesError
from safecity.places.events import PLACES
from safecity.places.models import AlarmZone, Door, Shop, ShopStaff
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
CARD_COLUMNS: dict[str, pl.DataType] = {
    "shop_id": pl.Int64(),
    "subject": pl.String(),  # the identity card's pseudonym, as swipes carry it
    "holder": pl.String(),  # owner | staff
    "holder_name": pl.String(),  # staff: the name the owner gave; the owner: null
    "held_from": pl.Datetime("us", "UTC"),  # staff: added; the owner: null
    "held_until": pl.Datetime("us", "UTC"),  # staff: removed or their end date, whichever first; else null
}
OWNER, STAFF, FORMER_STAFF = "owner", "staff", "former_staff"


@dataclass(frozen=True, slots=True)
class ShopView:
    """Shops, their doors and their alarm zones as of one read."""

    shops: pl.DataFrame  # SHOP_COLUMNS
    doors: pl.DataFrame  # device, shop_id
    zones: pl.DataFrame  # device, zone, shop_id, zone_id
    zone_hours: dict[int, WeeklyHours] = field(default_factory=dict)  # zones armed on hours of their own
    cards: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CARD_COLUMNS))


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
    return ShopView(shops=shops, doors=doors, zones=zones, zone_hours=zone_hours, cards=_cards(session))


def _cards(session: Session) -> pl.DataFrame:
    """Each shop's owner and staff (every staff entry kept) by card pseudonym, with when they held it."""
    held: list[tuple[int, int, str, str | None, datetime | None, datetime | None]] = [
        (shop_id, owner, OWNER, None, None, None)
        for shop_id, owner in session.execute(select(Shop.id, Shop.owner_person_id))
    ]
    staff = session.execute(
        select(
            ShopStaff.shop_id,
            ShopStaff.person_id,
            ShopStaff.name,
            ShopStaff.added_at,
            ShopStaff.removed_at,
            ShopStaff.until,
        )
    )
    for shop_id, person_id, name, added_at, removed_at, until in staff:
        ends = [t for t in (removed_at, until) if t is not None]
        held.append((shop_id, person_id, STAFF, name, added_at, min(ends) if ends else None))
    pseudonyms = {
        p.id: p.id_pseudonym
        for p in registry.people_by_ids(session, [h[1] for h in held])
        if p.id_pseudonym is not None
    }
    rows = [(shop, pseudonyms[person], *rest) for shop, person, *rest in held if person in pseudonyms]
    return pl.DataFrame(rows, schema=CARD_COLUMNS, orient="row")


SHOP_FACTS = FactSource(NAME, ShopFacts)

__all__ = [
    "CARD_COLUMNS",
    "FORMER_STAFF",
    "NAME",
    "OWNER",
    "SHOPS_GROUP",
    "SHOP_FACTS",
    "STAFF",
    "ShopFacts",
    "ShopView",
]
