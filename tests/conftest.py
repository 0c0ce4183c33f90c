"""Shared fixtures: a fresh registry database per test and a manual clock."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import ManualClock
from safecity.store.db import Base, make_engine, make_session_factory

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _load_models() -> None:
    for name in ("safecity.registry.models", "safecity.ingest.models", "safecity.alerts.models"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            pass


@pytest.fixture
def clock() -> ManualClock:
    """A clock stopped at 2026-11-22 08:00 UTC."""
    return ManualClock(T0)


@pytest.fixture
def session_factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A new SQLite registry with every table."""
    _load_models()
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()
