"""Loading a city into the registry (SQLite and PostgreSQL): counts, hierarchy, secrets,
refusal and replacement, and fresh ids for what is registered afterwards."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.registry.models import Area, Device, EBike, Person, WatchlistEntry
from safecity.security.pseudonym import Pseudonymizer
from safecity.sim import City, CityAlreadyLoaded, load_city


def _count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_load_city_creates_the_expected_rows(
    tiny_city: City, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    report = load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    counts = tiny_city.counts
    areas = counts["districts"] + counts["stations"] + counts["communities"]
    assert (report.areas, report.people, report.bikes, report.devices) == (
        areas,
        counts["people"],
        counts["bikes"],
        counts["base_stations"],
    )
    assert _count(session_factory, Area) == areas
    assert _count(session_factory, Person) == counts["people"]
    assert _count(session_factory, EBike) == counts["bikes"]
    assert _count(session_factory, Device) == counts["base_stations"]
    assert not report.replaced


def test_loaded_areas_keep_hierarchy_stations_and_boundaries(
    tiny_city: City, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    with session_factory() as session:
        community = session.scalars(select(Area).where(Area.kind == "community")).first()
        assert community is not None
        station = registry.station_of_area(session, area_id=community.id)
        assert station is not None
        assert station.id == community.station_id == community.parent_id
        assert station.station_id == station.id
        assert community.boundary is not None
        assert community.boundary["type"] == "Polygon"
        assert community.lat is not None
        assert community.lon is not None


def test_bike_rows_match_the_city_and_keep_utc_times(
    tiny_city: City, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    first = tiny_city.table("bikes").row(0, named=True)
    with session_factory() as session:
        bike = registry.get_bike_by_tag(session, tag_id=first["tag_id"])
        assert bike is not None
        assert bike.id == first["bike_id"]
        assert bike.frame_number == first["frame_number"]
        assert bike.registered_at == first["registered_at"]
        assert bike.registered_at.tzinfo is not None
        assert bike.owner.id == first["owner_id"]


def test_device_secrets_are_written_and_only_their_hashes_stored(
    tiny_city: City, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    report = load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    secrets = tiny_city.device_secrets()
    assert report.secrets_path == tiny_city.secrets_path
    assert set(secrets) == set(tiny_city.table("devices")["id"])
    with session_factory() as session:
        directory = registry.device_directory(session)
    hashes = dict(zip(directory["device"], directory["secret_hash"], strict=True))
    assert all(registry.is_secret_valid(secret, hashes[device]) for device, secret in secrets.items())
    assert not any(secret in hashes.values() for secret in secrets.values())
    assert directory["active"].all()


def test_second_load_is_refused_with_a_clear_message(
    tiny_city: City, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    with pytest.raises(CityAlreadyLoaded, match="already holds a city .* replace=True"):
        load_city(tiny_city.out_dir, session_factory, pseudonymizer=pseudonymizer)
    assert _count(session_factory, EBike) == tiny_city.counts["bikes"]


def test_replace_swaps_the_city_and_drops_its_watchlist(
    tiny_city: City, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    with session_factory() as session, session.begin():
        registry.report_stolen(
            session, bike_id=1, reported_by="owner", basis="report 1", owner="S0101", now=now
        )
    report = load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer, replace=True)
    assert report.replaced
    assert _count(session_factory, WatchlistEntry) == 0
    assert _count(session_factory, EBike) == tiny_city.counts["bikes"]


def test_new_registrations_after_a_load_get_fresh_ids(
    tiny_city: City, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    reg = registry.BikeRegistration(
        tag_id="ABCDEF0123",
        frame_number="NEW-1",
        model="m",
        colour="c",
        owner_id_number="330302199001010013",
        owner_name="测试",
    )
    with session_factory() as session, session.begin():
        bike = registry.register_bike(
            session,
            reg=reg,
            by="test",
            now=datetime(2026, 11, 23, tzinfo=UTC),
            pseudonymize=pseudonymizer.pseudonym,
        )
        assert bike.id == tiny_city.counts["bikes"] + 1
    assert pl.read_parquet(tiny_city.secrets_path).height == tiny_city.counts["base_stations"]


def test_loaded_people_carry_the_pseudonyms_of_their_numbers(
    tiny_city: City, session_factory: sessionmaker[Session], pseudonymizer: Pseudonymizer
) -> None:
    load_city(tiny_city, session_factory, pseudonymizer=pseudonymizer)
    with session_factory() as session:
        people = session.scalars(select(Person)).all()
    assert people
    for person in people:
        assert person.id_pseudonym == pseudonymizer.pseudonym(person.id_number)
        assert person.phone_pseudonym == (pseudonymizer.pseudonym(person.phone) if person.phone else None)
