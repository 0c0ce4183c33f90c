"""A batch reaches the lake whole or not at all: write failures, commit failures and crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from safecity.lake import Lake
from safecity.lake.layout import partition_path
from tests.lake.conftest import DAY0, RecordFactory
from tests.storage_faults import immutable

DAY = DAY0.date()


def mixed_batch(records: RecordFactory) -> pl.DataFrame:
    """20 tag reads and 20 heartbeats of one day: two partitions."""
    rows = [{"event_id": f"r{i}", "ts": DAY0 + timedelta(seconds=i)} for i in range(20)]
    rows += [
        {"event_id": f"h{i}", "kind": "heartbeat", "subject": "ST00001", "ts": DAY0 + timedelta(seconds=i)}
        for i in range(20)
    ]
    return records(rows)


def block(root: Path, day: date, kind: str) -> Path:
    """Make one partition folder impossible to write, for any user, root included: a file stands
    where the folder should be, so creating anything in it fails (ENOTDIR)."""
    path = partition_path(root, day, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def files_under(root: Path) -> list[str]:
    """Every file below the records folder (temporary ones included), relative names."""
    base = root / "records"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file() and p.stat().st_size)


def test_a_batch_with_one_unwritable_partition_leaves_no_row_and_no_file(
    tmp_path: Path, records: RecordFactory
) -> None:
    lake = Lake(tmp_path / "lake")
    blocked = block(lake.root, DAY, "heartbeat")

    with pytest.raises(OSError, match="Not a directory"):
        lake.append(mixed_batch(records))

    assert lake.count() == 0
    assert files_under(lake.root) == []  # the tag reads' part was written, then removed
    blocked.unlink()
    assert lake.append(mixed_batch(records)) == 40
    assert lake.count() == 40
    lake.close()


def test_a_failed_commit_leaves_nothing_and_a_successful_one_publishes_the_batch(
    tmp_path: Path, records: RecordFactory
) -> None:
    lake = Lake(tmp_path / "lake")

    def refuse() -> None:
        raise RuntimeError("ledger unavailable")

    with pytest.raises(RuntimeError, match="ledger unavailable"):
        lake.append(mixed_batch(records), batch="01BATCH1", commit=refuse)
    assert (lake.count(), files_under(lake.root)) == (0, [])

    committed: list[str] = []
    assert lake.append(mixed_batch(records), batch="01BATCH2", commit=lambda: committed.append("yes")) == 40
    assert committed == ["yes"]
    assert lake.count() == 40
    assert all("01BATCH2" in name for name in files_under(lake.root))
    lake.close()


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from safecity.lake import Lake
    from tests.lake.conftest import DAY0, make_records
    from tests.lake.test_append import mixed_batch

    root, marker = Path(sys.argv[1]), Path(sys.argv[2])

    def commit_then_die():
        if sys.argv[3] == "after":
            marker.write_text("committed")
        os.kill(os.getpid(), signal.SIGKILL)  # the process dies before or after its commit, mid-batch

    Lake(root).append(mixed_batch(make_records), batch="01CRASHED", commit=commit_then_die)
    """
)


def crash_mid_batch(root: Path, tmp_path: Path, *, committed: bool) -> bool:
    """Run an append in another process that is killed (SIGKILL) inside its commit."""
    marker = tmp_path / "ledger"
    done = subprocess.run(
        [sys.executable, "-c", CRASH, str(root), str(marker), "after" if committed else "before"],
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    return marker.exists()


@pytest.mark.parametrize("committed", [False, True])
def test_a_batch_killed_in_its_commit_is_published_or_removed_at_recovery_as_the_ledger_says(
    tmp_path: Path, committed: bool
) -> None:
    root = tmp_path / "lake"
    in_ledger = crash_mid_batch(root, tmp_path, committed=committed)
    lake = Lake(root)
    assert lake.count() == 0  # staged, not yet visible

    report = lake.recover(lambda batches: {b for b in batches if in_ledger})

    assert lake.count() == (40 if committed else 0)
    assert (report.published, report.discarded) == ((["01CRASHED"], []) if committed else ([], ["01CRASHED"]))
    assert not [n for n in files_under(root) if ".tmp-" in n]
    lake.close()


def test_a_committed_batch_interrupted_between_renames_is_completed_at_recovery(
    tmp_path: Path, records: RecordFactory
) -> None:
    root = tmp_path / "lake"
    crash_mid_batch(root, tmp_path, committed=True)
    # The crash came after the first rename: one partition visible, the other still staged.
    [first] = [p for p in (root / "records").rglob(".tmp-part-*") if "kind=rfid_read" in str(p)]
    os.replace(first, first.with_name(first.name.removeprefix(".tmp-")))
    lake = Lake(root)
    assert lake.count() == 20

    lake.recover(lambda batches: set(batches))

    assert lake.count() == 40
    assert sorted(lake.event_ids(DAY).to_list()) == sorted(
        [f"h{i}" for i in range(20)] + [f"r{i}" for i in range(20)]
    )
    lake.close()


def test_compaction_never_sweeps_a_staged_batch(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    crash_mid_batch(root, tmp_path, committed=True)
    lake = Lake(root)
    old = os.path.getmtime(next((root / "records").rglob(".tmp-part-*"))) - 2 * 86400
    for staged in (root / "records").rglob(".tmp-part-*"):
        os.utime(staged, (old, old))  # as if the platform had been down for two days

    lake.compact(min_files=1)
    lake.recover(lambda batches: set(batches))

    assert lake.count() == 40
    lake.close()


def test_a_committed_batch_the_disk_refuses_to_publish_is_published_by_the_next_append(
    tmp_path: Path, records: RecordFactory
) -> None:
    lake = Lake(tmp_path / "lake")
    folder = partition_path(lake.root, DAY, "rfid_read")
    refusing = ExitStack()

    def commit_then_lose_the_disk() -> None:
        refusing.enter_context(immutable(folder))  # renames in the tag reads' folder now fail

    with refusing:
        assert lake.append(mixed_batch(records), batch="01LATE", commit=commit_then_lose_the_disk) == 40
        assert lake.count() < 40
        assert lake.event_ids(DAY).len() == 40  # committed: its ids count as stored meanwhile
    lake.append(records([{"event_id": "later", "ts": DAY0}]))

    assert lake.count() == 41
    assert not [n for n in files_under(lake.root) if ".tmp-" in n]
    lake.close()
