"""Loading a city's housing into the registry (SQLite and PostgreSQL): the rows as generated, door
controllers with working secrets, tenants' pseudonyms, refusal of a second load, and a replaced
city taking its places with it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.places.models import Building, Compound, Door, Flat, Landlord, Shop, Tenancy
from safecity.registry.models import Device, Person
from safecity.security.pseudonym import Pseudonymizer
from safecity.sim import City, load_city
from safecity.sim.housing import Housing, generate_housing
from safecity.sim.housing_loader import HousingAlreadyLoaded, door_secrets, load_housing

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def housing(tiny_city: City) -> Housing:
    return generate_housing(tiny_city, seed=4)


def _count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_housing_loads_as_generated(
    tiny_city: City, housing: Housing, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    report = load_housing(tiny_city, housing, session_factory, pseudonymizer=pseudonymizer, now=NOW)
    counts = housing.counts
    for model, table in (
        (Compound, "compounds"),
        (Building, "buildings"),
        (Flat, "flats"),
        (Landlord, "landlords"),
        (Tenancy, "tenancies"),
        (Shop, "shops"),
        (Door, "doors"),
    ):
        assert _count(session_factory, model) == counts[table], table
    assert report.tenancies == counts["tenancies"]
    assert _count(session_factory, Person) == tiny_city.counts["people"] + counts["people"]
    secrets = door_secrets(housing)
    with session_factory() as session:
        device_id, secret = next(iter(secrets.items()))
        device = session.get(Device, device_id)
        assert device is not None and device.kind == "door_controller"
        assert registry.is_secret_valid(secret, device.secret_hash)
        tenancy = session.scalars(select(Tenancy).order_by(Tenancy.id)).first()
        assert tenancy is not None and tenancy.checked_out_at is None and tenancy.starts_at < NOW
        person = session.get(Person, tenancy.person_id)
        assert person is not None and tenancy.name == person.name
        assert person.id_pseudonym == pseudonymizer.pseudonym(person.id_number)
        shop = session.scalars(select(Shop)).first()
        assert shop is not None and set(shop.business_hours or {}) == {
            "mon",
            "tue",
            "wed",
            "thu",
            "fri",
            "sat",
            "sun",
        }


def test_a_second_load_is_refused_and_a_replaced_city_takes_its_places(
    tiny_city: City, housing: Housing, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    load_housing(tiny_city, housing, session_factory, pseudonymizer=pseudonymizer, now=NOW)
    with pytest.raises(HousingAlreadyLoaded, match="already holds places"):
        load_housing(tiny_city, housing, session_factory, pseudonymizer=pseudonymizer, now=NOW)
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer, replace=True)
    assert _count(session_factory, Tenancy) == 0 and _count(session_factory, Door) == 0
    load_housing(tiny_city, housing, session_factory, pseudonymizer=pseudonymizer, now=NOW)
    assert _count(session_factory, Tenancy) == housing.counts["tenancies"]
