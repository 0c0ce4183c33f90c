"""Shared fixtures: one tiny city per test session (generation is deterministic and quick)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from safecity.sim import City, generate_city

SEED = 11
# 07:00 on Monday 23 November 2026 in Wenzhou: the morning rush begins.
MORNING = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def tiny_city(tmp_path_factory: pytest.TempPathFactory) -> City:
    """A tiny city (2 districts, 40 base stations, 300 bikes), generated once."""
    return generate_city(seed=SEED, scale="tiny", out_dir=tmp_path_factory.mktemp("tiny_city"))


@pytest.fixture(scope="session")
def morning() -> datetime:
    """07:00 local time on a Monday."""
    return MORNING


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    """An empty folder for a city of the test's own."""
    return tmp_path / "city"
