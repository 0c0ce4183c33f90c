"""What the housing rules know of places: doors, buildings, flats, tenants and visitors by card.

Rules reach it as `facts.source("places")` (a `rules.facts.FactSource`). It loads the registry
once into frames and keeps them until places change (`RegistryChanged("places")`, announced by
every use case that registers a place, a tenancy or a visitor pass), then reloads lazily on the
next read. Cards are identity-number PSEUDONYMS (`people.id_pseudonym`, the form swipes reach the
rules in): no rule ever sees an identity number.

Swipe batches are looked up by 64-bit hashes of the card in sorted arrays (places/lookup.py): a
Polars `is_in` or join against the 1.4 million tenants of a Wenzhou-size city rebuilds a hash
table per batch (120-250 ms per 50,000 swipes here), a bucketed search of sorted hashes 3.5 ms.
`swipes(batch)` enriches a batch once and hands the same frame to every rule that asks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import func, select, union
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.finding import Ref, SubjectFacts
from safecity.core.kinds import RecordKind
from safecity.places.events import PLACES
from safecity.places.lookup import SortedKeys, card_hashes, place_key
from safecity.places.models import (
    COMPOUND,
    SHOP,
    Building,
    Compound,
    Door,
    Flat,
    Landlord,
    Shop,
    ShopStaff,
    Tenancy,
    VisitorPass,
)
from safecity.rules import FactSource

NAME = "places"
BUILDING = "building"
DOOR = "door"
DOORS = {
    "device": pl.String,
    "door_name": pl.String,
    "compound_id": pl.String,
    "building_id": pl.String,
    "shop_id": pl.Int64,
    "community_id": pl.String,
}
BUILDINGS = {
    "building_id": pl.String,
    "building_name": pl.String,
    "compound_id": pl.String,
    "community_id": pl.String,
    "capacity": pl.Int64,
}
FLATS = {
    "flat_id": pl.Int64,
    "flat_number": pl.String,
    "building_id": pl.String,
    "compound_id": pl.String,
    "capacity": pl.Int64,
    "use": pl.String,
    "landlord_id": pl.Int64,
}
TENANTS = {
    "person_id": pl.Int64,
    "tenancy_id": pl.Int64,
    "flat_id": pl.Int64,
    "starts_at": pl.Datetime("us", "UTC"),
}
VISITORS = {"person_id": pl.Int64, "flat_id": pl.Int64, "building_id": pl.String}


@dataclass(frozen=True, slots=True)
class RegistryFrames:
    """The registry's places as read, before codes and keys (columns: the schemas above)."""

    doors: pl.DataFrame
    buildings: pl.DataFrame
    flats: pl.DataFrame
    tenants: pl.DataFrame  # open tenancies
    visitors: pl.DataFrame  # passes not revoked that name a flat
    cards: pl.DataFrame  # person_id, card: identity pseudonyms under the current key
    registered: (
        pl.Series
    )  # person ids ever registered to places (tenancy, pass, landlord, shop owner or staff)


@dataclass(frozen=True, slots=True)
class PlaceView:
    """One load of the registry's places.

    * doors: device, door_name, compound_id, building_id, shop_id, community_id, compound_code, building_code
    * buildings: building_id, building_name, compound_id, community_id, capacity (its flats'), building_code
    * flats: flat_id, flat_number, building_id, compound_id, capacity, use, landlord_id
    * tenants (open tenancies): card, person_id, tenancy_id, flat_id, building_id, compound_id,
      starts_at, landlord_id
    * residents: who lives where by (card, building) key: tenants, and visitors whose pass names a flat
    """

    doors: pl.DataFrame
    buildings: pl.DataFrame
    flats: pl.DataFrame
    tenants: pl.DataFrame
    residents: pl.DataFrame
    resident_keys: SortedKeys
    card_index: (
        SortedKeys  # every card ever registered to places: tenants, visitors, landlords, shops' people
    )
    card_homes: pl.DataFrame  # aligned: building_code, compound_code, flat_id, via of its first home; multi
    home_arrays: HomeArrays  # the same as numpy arrays, for gathering a batch's rows


TENANT, VISITOR = 1, 2  # `HomeArrays.via`; 0: none


@dataclass(frozen=True, slots=True)
class HomeArrays:
    """`PlaceView.card_homes` as one numpy array, a row per card of the card index (-1 or 0: none).

    Columns: building_code, compound_code, flat_id, via (TENANT, VISITOR or 0), multi (1: the
    card lives in more than one building). One row holds a card's home, so a batch gathers one
    cache line per swipe (five gathers of separate arrays cost 3 ms a batch, this 0.3 ms).
    """

    rows: np.ndarray

    @classmethod
    def of(cls, homes: pl.DataFrame) -> HomeArrays:
        via = homes["via"].replace_strict(
            {"tenant": TENANT, "visitor": VISITOR}, default=0, return_dtype=pl.Int64
        )
        columns = [
            homes["building_code"].fill_null(-1),
            homes["compound_code"].fill_null(-1),
            homes["flat_id"].fill_null(-1),
            via.fill_null(0),
            homes["multi"].fill_null(False).cast(pl.Int64),
        ]
        return cls(
            np.stack([c.cast(pl.Int64).to_numpy() for c in columns], axis=1)
            if homes.height
            else np.zeros((0, 5), dtype=np.int64)
        )

    def of_cards(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """building_code, compound_code, flat_id, via, multi (bool) of these card rows."""
        picked = np.take(self.rows, rows, axis=0)
        return picked[:, 0], picked[:, 1], picked[:, 2], picked[:, 3], picked[:, 4] == 1


class PlaceFacts:
    """The places view of the registry, cached until places change."""

    depends_on = frozenset({PLACES})

    def __init__(self, session_factory: sessionmaker[Session], *, min_reload_s: float = 0.0) -> None:
        self._factory = session_factory
        self._min_reload_s = min_reload_s
        self._lock = threading.Lock()
        self._view: PlaceView | None = None
        self._stale = False
        self._loaded_at = 0.0
        # Codes only ever grow, so rule state indexed by code (hour histograms) survives reloads.
        self._codes: dict[str, int] = {}
        self._last: tuple[pl.DataFrame, pl.DataFrame, PlaceView] | None = None

    def invalidate(self) -> None:
        """Mark what is loaded as out of date (a tenancy, a door or a flat changed)."""
        with self._lock:
            self._stale = True

    def view(self) -> PlaceView:
        """The current view, reloaded if places changed (at most every `min_reload_s`)."""
        with self._lock:
            # Loading a Wenzhou-size registry takes seconds, and registrations come every few:
            # the old view serves until `min_reload_s` after the last load (registrations reach
            # the rules that much later; the doors are told at once by AccessChanged).
            due = time.monotonic() - self._loaded_at >= self._min_reload_s
            if self._view is None or (self._stale and due):
                self._stale = False
                with self._factory() as session:
                    self._view = self.assemble(self.read(session))
                self._loaded_at = time.monotonic()
                self._last = None
            return self._view

    def code(self, entity: str, key: str) -> int:
        """The stable small integer of a building or compound id (one numbering for both)."""
        return self._codes.setdefault(f"{entity}:{key}", len(self._codes))

    def codes(self) -> int:
        """How many codes were given so far (rule state indexed by code has this many rows)."""
        return len(self._codes)

    def swipes(self, batch: pl.DataFrame) -> pl.DataFrame:
        """The batch's door swipes with where they were made and who the card is (see `enriched`)."""
        return self.enriched(batch)[0]

    def enriched(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, PlaceView]:
        """The batch's door swipes enriched, and the view they were enriched with (same per batch).

        Rules that keep state by card row take the view from here, not from `view()`: places may
        change between two calls, and rows of one view mean nothing in another.

        Adds: door_name, compound_id, building_id, shop_id, community_id, compound_code,
        building_code (-1 if none), door_row (the door's row in the view), card_h (u64), known
        (card registered to places), card_row (its row in the view's `card_index`, -1 if
        unknown: stable until the view reloads), home_building_code and home_compound_code (of the
        card's first home, -1 if none), flat_id and via ("tenant" | "visitor") of the card in the
        building it swiped at, granted (bool).
        """
        last = self._last
        if last is not None and last[0] is batch:
            return last[1], last[2]
        view = self.view()
        swipes = batch.filter(pl.col("kind") == RecordKind.DOOR_SWIPE.value)
        swipes = swipes.join(view.doors, on="device", how="left")
        hashes = card_hashes(swipes["subject"])  # a missing card hashes to a fixed value: no card's
        # One search finds the card and its first home; only cards living in several buildings
        # (a tenant registered twice, a visitor with passes in two places) take a second one.
        row = view.card_index.find(hashes)
        known = row >= 0
        home_building, home_compound, home_flat, home_via, multi = view.home_arrays.of_cards(
            np.maximum(row, 0)
        )
        home_building = np.where(known, home_building, -1)
        home_compound = np.where(known, home_compound, -1)
        building = swipes["building_code"].fill_null(-1).to_numpy()
        at_home = (home_building >= 0) & (home_building == building)
        flat = np.where(at_home, home_flat, -1)
        via = np.where(at_home, home_via, 0)
        other = np.flatnonzero(known & ~at_home & multi)
        if other.size:
            where = view.resident_keys.find(place_key(hashes[other], building[other]))
            found = where >= 0
            lived = view.residents[where[found]]
            flat[other[found]] = lived["flat_id"].to_numpy()
            via[other[found]] = np.where(lived["via"].to_numpy() == "tenant", TENANT, VISITOR)
        swipes = swipes.with_columns(
            pl.Series("card_h", hashes, dtype=pl.UInt64),
            pl.Series("known", known),
            pl.Series("card_row", row, dtype=pl.Int64),
            pl.Series("home_building_code", home_building, dtype=pl.Int64),
            pl.Series("home_compound_code", home_compound, dtype=pl.Int64),
            pl.Series("flat_id", flat, dtype=pl.Int64),
            pl.Series("via", via, dtype=pl.Int8),
            (pl.col("code") == "granted").fill_null(False).alias("granted"),
        ).with_columns(
            pl.when(pl.col("flat_id") >= 0).then(pl.col("flat_id")),
            pl.when(pl.col("via") == TENANT)
            .then(pl.lit("tenant"))
            .when(pl.col("via") == VISITOR)
            .then(pl.lit("visitor"))
            .alias("via"),
        )
        self._last = (batch, swipes, view)
        return swipes, view

    def device_facts(self, devices: list[str]) -> dict[str, SubjectFacts]:
        """Where each door is (facts for people, refs for code); devices that are no door are left out."""
        doors = self.view().doors.filter(pl.col("device").is_in(devices))
        return {
            row["device"]: SubjectFacts(door_facts(row), door_refs(row))
            for row in doors.iter_rows(named=True)
        }

    def read(self, session: Session) -> RegistryFrames:
        """The registry's places as plain frames (one query each)."""
        buildings = _frame(
            session.execute(
                select(
                    Building.id,
                    Building.name,
                    Building.compound_id,
                    Compound.community_id,
                    func.coalesce(func.sum(Flat.capacity), 0),
                )
                .join(Compound, Building.compound_id == Compound.id)
                .outerjoin(Flat, Flat.building_id == Building.id)
                .group_by(Building.id, Building.name, Building.compound_id, Compound.community_id)
            ).all(),
            BUILDINGS,
        )
        flats = _frame(
            session.execute(
                select(
                    Flat.id,
                    Flat.number,
                    Flat.building_id,
                    Building.compound_id,
                    Flat.capacity,
                    Flat.use,
                    Flat.landlord_id,
                ).join(Building, Flat.building_id == Building.id)
            ).all(),
            FLATS,
        )
        tenants = _frame(
            session.execute(
                select(Tenancy.person_id, Tenancy.id, Tenancy.flat_id, Tenancy.starts_at).where(
                    Tenancy.checked_out_at.is_(None)
                )
            ).all(),
            TENANTS,
        )
        visitors = _frame(
            session.execute(
                select(VisitorPass.person_id, VisitorPass.flat_id, Flat.building_id)
                .join(Flat, VisitorPass.flat_id == Flat.id)
                .where(VisitorPass.revoked_at.is_(None))
            ).all(),
            VISITORS,
        )
        ever = session.execute(
            union(
                select(Tenancy.person_id),
                select(VisitorPass.person_id),
                select(Landlord.person_id),
                select(Shop.owner_person_id),
                select(ShopStaff.person_id),
            )
        ).all()
        return RegistryFrames(
            doors=self._doors(session),
            buildings=buildings,
            flats=flats,
            tenants=tenants,
            visitors=visitors,
            cards=registry.id_pseudonym_frame(session),
            registered=pl.Series("person_id", [p for (p,) in ever], dtype=pl.Int64),
        )

    def assemble(self, frames: RegistryFrames) -> PlaceView:
        """The view rules read: codes given, tenants and visitors by card, the lookup keys built."""
        doors = frames.doors.with_columns(
            pl.Series("compound_code", self._codes_of(COMPOUND, frames.doors["compound_id"]), dtype=pl.Int64),
            pl.Series("building_code", self._codes_of(BUILDING, frames.doors["building_id"]), dtype=pl.Int64),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("door_row"),
        )
        buildings = frames.buildings.with_columns(
            pl.Series(
                "building_code", self._codes_of(BUILDING, frames.buildings["building_id"]), dtype=pl.Int64
            ),
            pl.Series(
                "compound_code", self._codes_of(COMPOUND, frames.buildings["compound_id"]), dtype=pl.Int64
            ),
        )
        cards = frames.cards
        tenants = frames.tenants.join(cards, on="person_id").join(
            frames.flats.select("flat_id", "building_id", "compound_id", "landlord_id"), on="flat_id"
        )
        visitors = frames.visitors.join(cards, on="person_id")
        residents = (
            pl.concat(
                [
                    tenants.select("card", "flat_id", "building_id", pl.lit("tenant").alias("via")),
                    visitors.select("card", "flat_id", "building_id", pl.lit("visitor").alias("via")),
                ]
            )
            .unique(["card", "building_id"], keep="first", maintain_order=True)
            .join(
                buildings.select("building_id", "building_code", "compound_code"),
                on="building_id",
                maintain_order="left",
            )
        )
        known = pl.concat(
            [cards.filter(pl.col("person_id").is_in(frames.registered.implode()))["card"], residents["card"]]
        ).unique(maintain_order=True)
        homes = (
            pl.DataFrame({"card": known})
            .join(
                residents.unique("card", keep="first", maintain_order=True).select(
                    "card", "building_code", "compound_code", "flat_id", "via"
                ),
                on="card",
                how="left",
                maintain_order="left",
            )
            .with_columns(
                pl.col("card")
                .is_in(residents.filter(pl.col("card").is_duplicated())["card"].implode())
                .alias("multi")
            )
        )
        return PlaceView(
            doors=doors,
            buildings=buildings,
            flats=frames.flats,
            tenants=tenants,
            residents=residents,
            resident_keys=SortedKeys(
                place_key(card_hashes(residents["card"]), residents["building_code"].to_numpy())
            ),
            card_index=SortedKeys(card_hashes(homes["card"])),
            card_homes=homes.drop("card"),
            home_arrays=HomeArrays.of(homes),
        )

    def _doors(self, session: Session) -> pl.DataFrame:
        rows = session.execute(
            select(
                Door.device_id,
                Door.name,
                func.coalesce(Door.compound_id, Building.compound_id),
                Door.building_id,
                Door.shop_id,
            ).outerjoin(Building, Door.building_id == Building.id)
        ).all()
        communities = dict(session.execute(select(Compound.id, Compound.community_id)).all())
        shops = dict(session.execute(select(Shop.id, Shop.community_id)).all())
        with_community = [
            (*row, communities.get(row[2]) if row[2] is not None else shops.get(row[4])) for row in rows
        ]
        return _frame(with_community, DOORS)

    def _codes_of(self, entity: str, keys: pl.Series) -> list[int]:
        """Codes of a column of ids (-1 for none), each distinct id coded once."""
        distinct = {k: self.code(entity, k) for k in keys.drop_nulls().unique().to_list()}
        return [-1 if k is None else distinct[k] for k in keys.to_list()]


def _frame(rows: Any, schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def door_facts(row: dict[str, Any]) -> dict[str, Any]:
    """A door's place as a warning shows it."""
    return {
        k: row[k]
        for k in ("door_name", "compound_id", "building_id", "shop_id", "community_id")
        if row.get(k) is not None
    }


def door_refs(row: dict[str, Any]) -> tuple[Ref, ...]:
    """Typed references to a door and the places it guards (the shared contract of place findings)."""
    refs = [Ref(DOOR, str(row["device"]))]
    if row.get("compound_id") is not None:
        refs.append(Ref(COMPOUND, str(row["compound_id"])))
    if row.get("building_id") is not None:
        refs.append(Ref(BUILDING, str(row["building_id"])))
    if row.get("shop_id") is not None:
        refs.append(Ref(SHOP, str(row["shop_id"])))
    return tuple(refs)


RELOAD_S = 10.0  # the platform's places facts reload at most this often (see PlaceFacts.view)
FACT_SOURCE = FactSource(NAME, partial(PlaceFacts, min_reload_s=RELOAD_S))

__all__ = [
    "BUILDING",
    "DOOR",
    "FACT_SOURCE",
    "NAME",
    "PlaceFacts",
    "PlaceView",
    "RegistryFrames",
    "SortedKeys",
    "card_hashes",
]
