"""Shared fixtures: a fresh registry database per test (SQLite, and PostgreSQL when it runs) and a clock.

Every test that asks for `session_factory` runs twice: on SQLite and on a real PostgreSQL
(a throw-away database created for the test session). The PostgreSQL run is an integration
test: skipped with a reason when the server is down, a failure when CI=true.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import ManualClock
from safecity.security.keys import load_pseudonym_keys
from safecity.security.pseudonym import Pseudonymizer
from safecity.store.db import Base, make_engine, make_session_factory
from tests.servicecheck import require_service

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = os.environ.get(
    "SAFECITY_TEST_PG_ADMIN_URL", f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/test"
)


# Modules that use the machine's one Mosquitto (1883) or NATS (4222) with fixed topics and
# streams: under pytest-xdist they run on one worker, one after another.
SHARED_BROKERS = {
    "tests/faults/test_mqtt_faults.py",
    "tests/integration/test_door_controller_mqtt.py",
    "tests/integration/test_mqtt_images.py",
    "tests/integration/test_mqtt_ingest.py",
    "tests/integration/test_nats_bus.py",
    "tests/integration/test_platform_distributed.py",
    "tests/integration/test_visits_distributed.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup` a module stays on one worker (its module fixtures are built once)
    and the modules on the shared brokers share one worker."""
    root = Path(str(config.rootpath))
    for item in items:
        module = Path(str(item.path)).relative_to(root).as_posix()
        group = "shared-brokers" if module in SHARED_BROKERS else module
        item.add_marker(pytest.mark.xdist_group(group))


def _load_models() -> None:
    for name in (
        "safecity.registry.models",
        "safecity.ingest.models",
        "safecity.alerts.models",
        "safecity.places.models",
        "safecity.tracking.models",
        "safecity.tracking.missing_models",
        "safecity.tracking.hazmat_models",
        "safecity.dispatch.models",
    ):
        importlib.import_module(name)


@pytest.fixture
def clock() -> ManualClock:
    """A clock stopped at 2026-11-22 08:00 UTC."""
    return ManualClock(T0)


@pytest.fixture
def pseudonymizer(tmp_path: Path) -> Pseudonymizer:
    """Pseudonyms under a fresh key (version 1) in a key file of the test's own."""
    return Pseudonymizer(load_pseudonym_keys(tmp_path / "secrets" / "pseudonym.keys", generate=True))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session (tables made by `create_all`)."""
    yield from _throwaway_database(f"safecity_test_{os.getpid()}")


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (for what runs the migrations itself)."""
    yield from _throwaway_database(f"safecity_empty_{os.getpid()}_{uuid.uuid4().hex[:8]}")


def _throwaway_database(name: str) -> Iterator[str]:
    require_service(PG_HOST, PG_PORT, "PostgreSQL")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def session_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A registry with every table and no rows."""
    _load_models()
    engine = make_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()
