"""What the platform writes is readable by its own user only; production keeps keys out of the data
folder (issue 9, item 13)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from safecity.core.clock import ManualClock
from safecity.ingest import Part
from safecity.platform import Platform
from safecity.security.keys import KeyError_
from safecity.settings import Settings
from tests.conftest import T0
from tests.ingest.conftest import ndjson, read, register_station


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022), which leaves new files readable by everyone unless we say otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(folder: Path) -> dict[str, int]:
    """Permission bits of the folder and of everything below it, by relative path."""
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_everything_the_platform_writes_is_readable_by_its_user_only(
    tmp_path: Path, open_umask: None
) -> None:
    data = tmp_path / "data"
    platform = Platform.build(Settings(data_dir=data), clock=ManualClock(T0))
    register_station(platform.session_factory)
    platform.devices.invalidate()
    for first in (0, 10):  # two batches: two parts, merged by compaction into a sorted file
        events = [read(first + i) for i in range(5)] + [read(100 + first, kind="nope")]
        platform.ingest.process([Part(body=ndjson(events), device_id="BS-000001", source="http")])
    assert platform.lake.compact(min_files=2).files_out == 1
    platform.seal_audit()  # creates the audit signing key

    found = modes(data)
    platform.lake.close()
    platform.engine.dispose()

    assert {"safecity.db", "safecity.db-wal", "safecity.db-shm", "secrets/pseudonym.keys"} <= set(found)
    assert any(name.endswith(".parquet") and "sorted-" in name for name in found)
    leaks = {
        name: oct(mode)
        for name, mode in found.items()
        if mode & 0o077 and not name.endswith(".pub")  # the audit key's public half is public
    }
    assert leaks == {}
    folders = {name: oct(mode) for name, mode in found.items() if (data / name).is_dir() and mode != 0o700}
    assert folders == {}


def test_a_data_folder_left_open_is_closed_when_the_platform_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    platform = Platform.build(Settings(data_dir=data), clock=ManualClock(T0))
    platform.lake.close()
    platform.engine.dispose()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_production_refuses_to_start_with_the_keys_inside_the_data_folder(tmp_path: Path) -> None:
    production = {"data_dir": tmp_path / "data", "auto_generate_keys": False}

    with pytest.raises(KeyError_, match="inside the data folder") as refused:
        Platform.build(Settings(**production))
    assert "SAFECITY_SECRETS_DIR" in str(refused.value)

    # With the keys kept elsewhere, the next thing production asks for is that they exist.
    with pytest.raises(KeyError_, match="does not exist; run `safecity keys init`"):
        Platform.build(Settings(**production, secrets_dir=tmp_path / "keys"))


def safecity(*args: str, data: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real command in a process of its own (its umask, its exit code)."""
    return subprocess.run(
        [sys.executable, "-m", "safecity.cli", *args],
        env={**os.environ, "SAFECITY_DATA_DIR": str(data), "PYTHONPATH": os.pathsep.join(sys.path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_serve_in_production_names_the_misplaced_key_folder_and_exits(tmp_path: Path) -> None:
    done = safecity("serve", data=tmp_path / "data", SAFECITY_AUTO_GENERATE_KEYS="false")

    assert done.returncode == 2
    assert "inside the data folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_command_creates_every_file_for_its_user_only(tmp_path: Path) -> None:
    """The generated city (people with identity numbers, device secrets) is written by a library
    that knows nothing of modes: the command's umask keeps it private."""
    data = tmp_path / "data"
    done = safecity("generate", "--scale", "tiny", data=data)
    assert done.returncode == 0, done.stderr

    found = modes(data)
    assert {"city/people.parquet", "city/device_secrets.parquet", "safecity.db"} <= set(found)
    leaks = {name: oct(mode) for name, mode in found.items() if mode & 0o077 and not name.endswith(".pub")}
    assert leaks == {}
