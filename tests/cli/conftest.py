"""Fixtures of the command-line tests: a data folder per test, wide consoles, a ready registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner, Result

from safecity import cli
from safecity.cli import common
from safecity.platform import Platform
from safecity.settings import Settings
from tests.cli.helpers import OTHER_TAG, Run, read, seed_stolen_bike


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Wide consoles so tables are not cut; and the logging set-up of each command undone after."""
    monkeypatch.setattr(common.console, "width", 250)
    monkeypatch.setattr(common.err, "width", 250)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run `safecity ARGS` with its data folder in tmp_path; returns the click Result."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli.app, list(args), env={"SAFECITY_DATA_DIR": str(tmp_path)})

    return invoke


@pytest.fixture
def now() -> datetime:
    """The wall clock: replay checks event times against it."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def registry_ready(tmp_path: Path, now: datetime) -> Settings:
    """The data folder's database at the newest schema, with one base station and a stolen bike."""
    settings = Settings(data_dir=tmp_path)
    platform = Platform.build(settings)  # runs the migrations, as the commands would
    seed_stolen_bike(platform, now)
    platform.engine.dispose()
    return settings


@pytest.fixture
def replay_file(tmp_path: Path, now: datetime) -> Path:
    """Reads of the stolen tag before and after the report, another tag, and one refused read."""
    events = [
        read(0, now - timedelta(hours=3)),  # before the theft was reported: no warning
        read(1, now - timedelta(minutes=60)),
        read(2, now - timedelta(minutes=59)),
        read(3, now - timedelta(minutes=58), subject=OTHER_TAG),
        read(4, now - timedelta(minutes=57), subject="[/not-a-tag]"),  # looks like console markup
    ]
    path = tmp_path / "reads.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return path
