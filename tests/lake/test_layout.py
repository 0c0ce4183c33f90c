"""Lake layout: date ranges, partition discovery without listing other dates, durable writes."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from safecity.lake.layout import (
    all_partitions,
    data_files,
    days_between,
    ensure_dir,
    partition_path,
    partitions_for,
    write_durable,
)

T0 = datetime(2024, 5, 1, tzinfo=UTC)
instants = st.integers(0, 10 * 86_400_000).map(lambda ms: T0 + timedelta(milliseconds=ms))


@given(start=instants, length_ms=st.integers(0, 5 * 86_400_000), probe_ms=st.integers(0, 5 * 86_400_000))
def test_days_between_covers_exactly_the_dates_in_the_half_open_range(
    start: datetime, length_ms: int, probe_ms: int
) -> None:
    end = start + timedelta(milliseconds=length_ms)
    days = days_between(start, end)
    probe = start + timedelta(milliseconds=probe_ms)
    if probe < end:
        assert probe.date() in days
    assert days == sorted(set(days))
    assert all(start.date() <= d <= end.date() for d in days)


def test_days_between_excludes_the_day_that_starts_at_the_end() -> None:
    assert days_between(T0, T0 + timedelta(days=1)) == [date(2024, 5, 1)]
    assert days_between(T0, T0) == []


def test_partitions_are_found_only_for_requested_dates_and_kinds(tmp_path: Path) -> None:
    for day in (date(2024, 5, 1), date(2024, 5, 2), date(2024, 6, 1)):
        for kind in ("rfid_read", "alarm"):
            ensure_dir(partition_path(tmp_path, day, kind))
    (tmp_path / "records" / "date=2024-05-01" / "not-a-kind").mkdir()

    found = partitions_for(tmp_path, [date(2024, 5, 1), date(2024, 5, 3)], None)
    only_alarms = partitions_for(tmp_path, [date(2024, 5, 2)], ["alarm", "missing"])

    assert [(p.day, p.kind) for p in found] == [(date(2024, 5, 1), "alarm"), (date(2024, 5, 1), "rfid_read")]
    assert [(p.day, p.kind) for p in only_alarms] == [(date(2024, 5, 2), "alarm")]
    assert len(all_partitions(tmp_path)) == 6


def test_durable_write_leaves_only_the_final_file(tmp_path: Path) -> None:
    final = write_durable(tmp_path, "part-X.parquet", b"payload")
    assert final.read_bytes() == b"payload"
    assert os.listdir(tmp_path) == ["part-X.parquet"]


def test_data_files_ignore_temporary_and_foreign_files(tmp_path: Path) -> None:
    for name in ("part-A.parquet", "sorted-B-0000.parquet", ".tmp-part-C.parquet", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [os.path.basename(f) for f in data_files(tmp_path)] == ["part-A.parquet", "sorted-B-0000.parquet"]
    assert data_files(tmp_path / "missing") == []
