"""A small rental town written straight into the registry, and door swipes as ingest delivers them.

Community C1 holds compounds CP1..CP5, each with one building B<n> (a door D<n>) and a gate
G<n>. Building B1 has flats 101 (capacity 2) and 102 (capacity 3): tenants T1, T2 in 101 and T3
in 102. Tenant T4 lives in B2. Three visitors hold passes naming flat 101. Card U belongs to no
one the places registry knows. Swipe subjects are pseudonyms, as ingest hands them to the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.ids import id_number_check_char
from safecity.core.record import RECORD_SCHEMA
from safecity.places.models import Building, Compound, Door, Flat, Landlord, Tenancy, VisitorPass
from safecity.registry.models import Area
from safecity.security.pseudonym import Pseudonymizer
from tests.conftest import T0

COMPOUNDS = 5


def id_number(n: int) -> str:
    """A valid GB 11643 number, distinct for each n."""
    first17 = f"330302199001{1 + n % 28:02d}{n:03d}"[:17].ljust(17, "1")
    return first17 + id_number_check_char(first17)


@dataclass
class Town:
    """Cards (pseudonyms) by name, flat ids by number, tenancy ids by tenant."""

    cards: dict[str, str] = field(default_factory=dict)
    person_ids: dict[str, int] = field(default_factory=dict)
    flats: dict[str, int] = field(default_factory=dict)
    tenancies: dict[str, int] = field(default_factory=dict)
    landlord_id: int = 0
    numbers: dict[str, str] = field(default_factory=dict)


def build_town(factory: sessionmaker[Session], pseudonymizer: Pseudonymizer, *, at: datetime = T0) -> Town:
    """Write the town; tenancies start a month before `at`."""
    town = Town()
    with factory() as s, s.begin():
        s.add(Area(id="D1", kind="district", name="Lucheng"))
        s.flush()
        s.add(Area(id="S1", kind="station", name="Wuma", parent_id="D1", station_id="S1"))
        s.flush()
        s.add(Area(id="C1", kind="community", name="C1", parent_id="S1", station_id="S1"))
        s.flush()
        for n in range(1, COMPOUNDS + 1):
            s.add(
                Compound(id=f"CP{n}", name=f"Compound {n}", community_id="C1", lat=28.0, lon=120.6 + n / 100)
            )
            s.flush()
            s.add(Building(id=f"B{n}", compound_id=f"CP{n}", name=f"{n}号楼"))
            for device, compound, building in ((f"G{n}", f"CP{n}", None), (f"D{n}", None, f"B{n}")):
                registry.create_device(
                    s,
                    device_id=device,
                    kind="door_controller",
                    name=device,
                    lat=28.0,
                    lon=120.6,
                    area_id="C1",
                    now=at,
                )
                s.flush()
                s.add(Door(device_id=device, compound_id=compound, building_id=building, name=device))
        people = {}
        for i, name in enumerate(("L", "T1", "T2", "T3", "T4", "V1", "V2", "V3", "U"), 1):
            number = id_number(i)
            person = registry.get_or_create_person(
                s, id_number=number, name=name, phone=None, now=at, pseudonymize=pseudonymizer.pseudonym
            )
            people[name] = person
            town.cards[name] = pseudonymizer.pseudonym(number)
            town.person_ids[name] = person.id
            town.numbers[name] = number
        landlord = Landlord(
            person_id=people["L"].id, kind="sub_landlord", registered_at=at, registered_by="t"
        )
        s.add(landlord)
        s.flush()
        town.landlord_id = landlord.id
        for number, building, capacity in (("101", "B1", 2), ("102", "B1", 3), ("201", "B2", 2)):
            flat = Flat(building_id=building, number=number, capacity=capacity, landlord_id=landlord.id)
            s.add(flat)
            s.flush()
            town.flats[number] = flat.id
        start = at - timedelta(days=30)
        for tenant, flat in (("T1", "101"), ("T2", "101"), ("T3", "102"), ("T4", "201")):
            tenancy = Tenancy(
                flat_id=town.flats[flat],
                person_id=people[tenant].id,
                starts_at=start,
                registered_at=start,
                registered_by="t",
                registered_via="typed",
            )
            s.add(tenancy)
            s.flush()
            town.tenancies[tenant] = tenancy.id
        for visitor in ("V1", "V2", "V3"):
            s.add(
                VisitorPass(
                    compound_id="CP1",
                    flat_id=town.flats["101"],
                    person_id=people[visitor].id,
                    valid_from=start,
                    valid_until=at + timedelta(days=30),
                    registered_by="t",
                    registered_at=start,
                )
            )
    return town


class Swipes:
    """Builds swipe batches with unique event ids."""

    def __init__(self) -> None:
        self._n = 0

    def __call__(self, rows: list[dict[str, Any]]) -> pl.DataFrame:
        """A record batch of door swipes: each row names card (pseudonym), device, ts, and code."""
        full = []
        for row in rows:
            self._n += 1
            base = {
                "event_id": f"s{self._n}",
                "corr_id": f"s{self._n}",
                "kind": "door_swipe",
                "subject_kind": "id_card",
                "subject": None,
                "device": "D1",
                "ts": T0,
                "lat": 28.0,
                "lon": 120.6,
                "cell": 1,
                "area": "C1",
                "code": "granted",
                "value": None,
                "attrs": None,
                "source": "mqtt",
                "received_at": T0,
            }
            base.update(row)
            full.append(base)
        return pl.DataFrame(full, schema=RECORD_SCHEMA)
