"""Compaction: planning policy, sorted output, idempotence and recovery from a crash mid-swap."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from safecity.core.clock import ManualClock
from safecity.lake import Lake, SortedFormat
from safecity.lake.compaction import FileInfo, plan_inputs
from safecity.lake.layout import data_files, partition_path, write_intent
from tests.lake.conftest import DAY0, RecordFactory, canonical

MONTH = (DAY0 - timedelta(days=1), DAY0 + timedelta(days=30))


def info(name: str, rows: int) -> FileInfo:
    """A planning input with a made-up size."""
    return FileInfo(Path(name), rows, 0.0)


def test_closed_day_merges_everything_into_one_generation() -> None:
    files = [
        info("sorted-A-0000.parquet", 1000),
        info("sorted-A-0001.parquet", 900),
        info("part-X.parquet", 5),
    ]
    assert plan_inputs(files, closed=True) == files
    assert plan_inputs(files[:2], closed=True) == []
    assert plan_inputs([*files[:2], info("sorted-B-0000.parquet", 10)], closed=True) != []


def test_open_day_merges_new_parts_only_with_runs_no_bigger_than_them() -> None:
    big, small = info("sorted-A-0000.parquet", 10_000), info("sorted-B-0000.parquet", 300)
    parts = [info("part-1.parquet", 200), info("part-2.parquet", 200)]

    chosen = plan_inputs([big, small, *parts], closed=False)

    assert {f.path.name for f in chosen} == {"part-1.parquet", "part-2.parquet", "sorted-B-0000.parquet"}
    assert plan_inputs([big, small], closed=False) == []


@given(sizes=st.lists(st.integers(1, 10_000), min_size=1, max_size=12), closed=st.booleans())
def test_plan_never_picks_a_lone_sorted_file(sizes: list[int], closed: bool) -> None:
    files = [
        info(f"sorted-G{i}-0000.parquet" if i % 2 else f"part-{i}.parquet", n) for i, n in enumerate(sizes)
    ]
    chosen = plan_inputs(files, closed=closed)
    assert not (len(chosen) == 1 and chosen[0].is_sorted)
    assert all(f in files for f in chosen)
    assert all(f in chosen for f in files if not f.is_sorted) or not chosen


def test_compaction_writes_sorted_files_with_small_row_groups(tmp_path: Path, records: RecordFactory) -> None:
    lake = Lake(tmp_path, sorted_format=SortedFormat(row_group_rows=4))
    for batch in range(3):
        lake.append(
            records(
                [{"subject": f"T{(7 * i + batch) % 5}", "ts": DAY0 + timedelta(minutes=i)} for i in range(6)]
            )
        )

    report = lake.compact()

    (output,) = data_files(partition_path(tmp_path, DAY0.date(), "rfid_read"))
    assert os.path.basename(output).startswith("sorted-")
    assert (report.partitions, report.files_in, report.files_out, report.rows) == (1, 3, 1, 18)
    meta = pq.read_metadata(output)
    assert meta.num_rows == 18
    assert meta.num_row_groups == 5
    table = pq.read_table(output)
    keys = list(zip(table["subject"].to_pylist(), table["ts"].to_pylist(), strict=True))
    assert keys == sorted(keys)


def test_compaction_is_idempotent(lake: Lake, records: RecordFactory) -> None:
    for batch in range(4):
        lake.append(records([{"ts": DAY0 + timedelta(hours=h, minutes=batch)} for h in range(30)]))
    before = canonical(lake.window(start=MONTH[0], end=MONTH[1]))

    first = lake.compact()
    second = lake.compact()
    third = lake.compact(min_files=1)

    assert first.rows == 120
    assert second.partitions == third.partitions == 0
    assert canonical(lake.window(start=MONTH[0], end=MONTH[1])).equals(before)


def test_young_files_wait_for_quiet_time(lake: Lake, records: RecordFactory) -> None:
    lake.append(records([{}]))
    lake.append(records([{}]))
    assert lake.compact(quiet_s=3600).partitions == 0
    for f in data_files(partition_path(lake.root, DAY0.date(), "rfid_read")):
        os.utime(f, (time.time() - 7200, time.time() - 7200))
    assert lake.compact(quiet_s=3600).partitions == 1


def test_todays_partition_is_compacted_size_tiered(tmp_path: Path, records: RecordFactory) -> None:
    today = datetime(2024, 5, 1, 18, tzinfo=UTC)
    lake = Lake(tmp_path, clock=ManualClock(today))
    lake.append(records([{"ts": DAY0 + timedelta(seconds=s)} for s in range(100)]))
    lake.append(records([{"ts": DAY0 + timedelta(seconds=s)} for s in range(100)]))
    assert lake.compact().files_in == 2  # two parts -> one sorted run of 200
    lake.append(records([{"ts": DAY0}]))
    lake.append(records([{"ts": DAY0}]))
    # Two new rows must not rewrite the 200-row run.
    assert lake.compact().files_in == 2
    assert lake.count() == 202

    lake_tomorrow = Lake(tmp_path, clock=ManualClock(today + timedelta(days=1)))
    assert lake_tomorrow.compact().files_in == 2  # the day is closed: one generation
    assert lake_tomorrow.partitions()[0].files == 1


def test_interrupted_compaction_never_shows_rows_twice(lake: Lake, records: RecordFactory) -> None:
    for batch in range(2):
        lake.append(records([{"ts": DAY0 + timedelta(minutes=batch)}]))
    directory = partition_path(lake.root, DAY0.date(), "rfid_read")
    inputs = [os.path.basename(f) for f in data_files(directory)]
    # Crash after the outputs were renamed into place but before the inputs were removed.
    shutil.copy(directory / inputs[0], directory / "sorted-CRASHED-0000.parquet")
    write_intent(directory, "CRASHED", inputs[:1], ["sorted-CRASHED-0000.parquet"])
    # Crash before every output was in place: the inputs stay the truth.
    shutil.copy(directory / inputs[1], directory / "sorted-HALF-0000.parquet")
    write_intent(directory, "HALF", inputs[1:], ["sorted-HALF-0000.parquet", "sorted-HALF-0001.parquet"])
    assert lake.count() == 2
    assert len(lake.files(start=MONTH[0], end=MONTH[1])) == 2

    lake.compact()

    assert lake.count() == 2
    assert not [n for n in os.listdir(directory) if n.startswith(".")]
