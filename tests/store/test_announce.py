"""Events announced in a transaction leave only once it has committed, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity.registry import RegistryChanged
from safecity.registry.models import Area
from safecity.store import announce, deliver_after_commit, transaction


@pytest.fixture
def received(session_factory: sessionmaker[Session]) -> list[list[Any]]:
    got: list[list[Any]] = []
    deliver_after_commit(session_factory, got.append)
    return got


def test_events_arrive_after_the_commit_once_each(
    session_factory: sessionmaker[Session], received: list[list[Any]]
) -> None:
    with transaction(session_factory) as session:
        session.add(Area(id="A1", kind="district", name="Lucheng", parent_id=None))
        announce(session, RegistryChanged(what="areas"))
        announce(session, RegistryChanged(what="areas"))  # the same change twice is one notice
        announce(session, RegistryChanged(what="devices"))
        assert received == []  # nothing leaves before the commit
    assert received == [[RegistryChanged(what="areas"), RegistryChanged(what="devices")]]


def test_a_rolled_back_transaction_announces_nothing_and_leaves_nothing_behind(
    session_factory: sessionmaker[Session], received: list[list[Any]]
) -> None:
    def failing_use_case() -> None:
        with transaction(session_factory) as session:
            announce(session, RegistryChanged(what="watchlist"))
            raise RuntimeError("the use case failed")

    with pytest.raises(RuntimeError):
        failing_use_case()
    with session_factory() as session, session.begin():
        announce(session, RegistryChanged(what="devices"))
    assert received == [[RegistryChanged(what="devices")]]  # not the rolled-back watchlist change
