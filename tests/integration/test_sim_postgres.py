"""Loading a generated city into a real PostgreSQL registry (127.0.0.1:5432, database `test`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker
from tests.servicecheck import require_service

import safecity.models  # noqa: F401 - every table, for create_all
from safecity.registry import service
from safecity.sim import City, CityAlreadyLoaded, generate_city, load_city
from safecity.store.db import Base, make_session_factory

pytestmark = pytest.mark.integration

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_registry() -> Iterator[sessionmaker[Session]]:
    """A registry in a schema of its own, dropped afterwards (others test in the same database)."""
    require_service("127.0.0.1", 5432, "PostgreSQL")
    schema = f"sim_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    Base.metadata.create_all(engine)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def city(tmp_path) -> City:
    """A tiny city of its own (load_city writes the device secrets next to it)."""
    return generate_city(seed=21, scale="tiny", out_dir=tmp_path / "city")


def test_city_loads_into_postgresql_and_new_rows_get_fresh_ids(
    city: City, pg_registry: sessionmaker[Session]
) -> None:
    report = load_city(city, pg_registry)
    assert report.bikes == city.counts["bikes"]
    first = city.table("bikes").row(0, named=True)
    reg = service.BikeRegistration(
        tag_id="ABCDEF0123",
        frame_number="PG-NEW-1",
        model="m",
        colour="c",
        owner_id_number="330302199001010013",
        owner_name="测试",
    )
    with pg_registry() as session, session.begin():
        loaded = service.get_bike_by_tag(session, tag_id=first["tag_id"])
        assert loaded is not None
        assert loaded.registered_at == first["registered_at"]
        bike = service.register_bike(session, reg=reg, by="test", now=datetime(2026, 11, 23, tzinfo=UTC))
        assert bike.id == city.counts["bikes"] + 1
        assert bike.owner_id == city.counts["people"] + 1
        community = service.get_area(session, area_id="C010101")
        assert community is not None
        assert community.boundary is not None
        assert community.boundary["type"] == "Polygon"


def test_postgresql_registry_refuses_a_second_city_unless_replaced(
    city: City, pg_registry: sessionmaker[Session]
) -> None:
    load_city(city, pg_registry)
    with pytest.raises(CityAlreadyLoaded):
        load_city(city, pg_registry)
    assert load_city(city, pg_registry, replace=True).replaced
