"""A capability's rules read facts of their own (rules.facts.FactSource), forgotten on change."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity.rules import FactSource, LiveFacts


class DoorsOfFlats:
    """A stand-in capability cache: what it was built with, and how often it was told to forget."""

    depends_on = frozenset({"places"})

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.forgotten = 0

    def invalidate(self) -> None:
        self.forgotten += 1


def test_a_fact_source_is_built_once_and_reached_by_name(session_factory: sessionmaker[Session]) -> None:
    facts = LiveFacts(session_factory, pl.DataFrame, sources=[FactSource("doors", DoorsOfFlats)])

    doors = facts.source("doors")

    assert isinstance(doors, DoorsOfFlats) and doors.factory is session_factory
    assert facts.source("doors") is doors
    with pytest.raises(KeyError, match="no fact source 'shops' \\(installed: doors\\)"):
        facts.source("shops")


def test_the_platform_tells_an_installed_fact_source_of_registry_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safecity.platform import Platform
    from safecity.registry import RegistryChanged
    from safecity.rules import facts as rule_facts
    from safecity.settings import Settings

    monkeypatch.setattr(rule_facts, "extensions", lambda kind: [FactSource("doors", DoorsOfFlats)])
    platform = Platform.build(Settings(data_dir=tmp_path))
    doors = platform.facts.source("doors")

    platform.hub.emit([RegistryChanged(what="places"), RegistryChanged(what="devices")])

    assert doors.forgotten == 1
    platform.engine.dispose()
