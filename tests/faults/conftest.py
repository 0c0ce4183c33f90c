"""Fault tests: a real server process, killed, starved of storage or restarted under load.

Each test starts `python -m safecity.cli serve` on a free port with a data folder of its own and
ends with `safecity reconcile` balanced and no event id stored twice. Select them with
`pytest -m faults`; they take a few seconds each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import Server, register_devices

STATIONS = 4


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A server (not started yet) whose data folder already holds the registered stations."""
    built = Server(data_dir=tmp_path / "data", log_path=tmp_path / "server.log")
    yield built
    built.kill()


@pytest.fixture
def secrets(server: Server) -> dict[str, str]:
    """The stations' secrets, by device id."""
    return register_devices(server.data_dir, STATIONS)
