"""Row-group index of sorted files: paths through it equal Polars' answer, and it forgets gone files."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.core.record import RECORD_SCHEMA
from safecity.lake import Lake, SortedFormat, subject_index
from safecity.lake.layout import partition_path
from safecity.lake.query import path_predicate, read_records
from safecity.lake.subject_index import FileIndex, SubjectIndex, build_index, prefetch
from tests.lake.conftest import DAY0, make_records

MONTH = (DAY0 - timedelta(days=1), DAY0 + timedelta(days=30))
SUBJECTS = [f"T{i:03d}" for i in range(25)]


def busy_day(day: int, rows: int = 200, batch: int = 0) -> pl.DataFrame:
    """Rows of one day for 25 tags, spread over the day, with distinct event ids."""
    frame = make_records(
        [
            {
                "subject": SUBJECTS[(7 * i + day) % len(SUBJECTS)],
                "ts": DAY0 + timedelta(days=day, seconds=431 * i % 86_400, milliseconds=i),
                "lat": 27.9 + i / 1000,
            }
            for i in range(rows)
        ]
    )
    return frame.with_columns(event_id=pl.format("d{}-b{}-{}", pl.lit(day), pl.lit(batch), "event_id"))


def compacted_lake(root: Path) -> Lake:
    """A lake whose sorted files have many 4-row groups, so the index is used."""
    store = Lake(root, sorted_format=SortedFormat(row_group_rows=4))
    for day in range(3):
        store.append(busy_day(day))
    store.compact(min_files=1)
    return store


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    """A fresh compacted lake for tests that change it."""
    store = compacted_lake(tmp_path / "lake")
    yield store
    store.close()


@pytest.fixture(scope="module")
def shared_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """One compacted lake for read-only property tests."""
    store = compacted_lake(tmp_path_factory.mktemp("index") / "lake")
    yield store
    store.close()


def sorted_files(lake: Lake) -> list[str]:
    return [str(f) for f in lake.files(start=MONTH[0], end=MONTH[1])]


def test_sorted_files_with_many_groups_are_indexed_and_parts_are_not(lake: Lake) -> None:
    lake.append(busy_day(1, rows=10, batch=1))
    files = sorted_files(lake)
    indexed = {os.path.basename(f).split("-")[0]: build_index(f) is not None for f in files}
    assert indexed == {"sorted": True, "part": False}
    index = build_index(next(f for f in files if "sorted-" in f))
    assert index is not None
    assert index.layout.num_row_groups == 50


def test_small_files_are_left_to_polars(tmp_path: Path) -> None:
    lake = Lake(tmp_path, sorted_format=SortedFormat(row_group_rows=4))
    lake.append(busy_day(0, rows=40))
    lake.compact(min_files=1)
    (only,) = sorted_files(lake)
    assert build_index(only) is None  # 10 groups: below MIN_GROUPS
    lake.close()


@settings(max_examples=25, deadline=None)
@given(
    names=st.sets(st.sampled_from([*SUBJECTS, "T999"]), max_size=3),
    start_s=st.integers(0, 3 * 86_400),
    length_s=st.integers(1, 3 * 86_400),
    extra_ms=st.integers(0, 999),
)
def test_indexed_path_equals_the_polars_scan(
    shared_lake: Lake, names: set[str], start_s: int, length_s: int, extra_ms: int
) -> None:
    # Bounds at any millisecond (and microsecond) of three days, several names at once.
    start = DAY0 + timedelta(seconds=start_s, milliseconds=extra_ms, microseconds=extra_ms)
    end = start + timedelta(seconds=length_s)
    files = sorted_files(shared_lake)
    expected = read_records(files, path_predicate("tag", sorted(names), start, end), limit=None)

    got = shared_lake.path(subject_kind="tag", subject=sorted(names), start=start, end=end)

    assert got.schema == pl.Schema(RECORD_SCHEMA)
    assert got.equals(expected)


def test_index_reads_only_groups_that_can_hold_the_subject(lake: Lake) -> None:
    path = next(f for f in sorted_files(lake) if "date=2024-05-02" in f)
    index = build_index(path)
    assert index is not None

    groups = index.groups_for(["T003"], *MONTH)
    table = index.read(groups, ["T003"])

    assert 0 < len(groups) < 6
    assert set(table.column("subject").to_pylist()) == {"T003"}
    assert table.num_rows == busy_day(1).filter(pl.col("subject") == "T003").height
    assert index.groups_for([], *MONTH) == []
    assert index.groups_for(["T003"], MONTH[0], DAY0) == []  # before the day's first record


def test_new_parts_are_merged_on_read_with_indexed_files(lake: Lake) -> None:
    late = busy_day(2, rows=30, batch=9)
    lake.append(late)
    everything = pl.concat([busy_day(d) for d in range(3)] + [late])

    got = lake.path(subject_kind="tag", subject="T004", start=MONTH[0], end=MONTH[1])
    limited = lake.path(subject_kind="tag", subject="T004", start=MONTH[0], end=MONTH[1], limit=5)

    expected = everything.filter(pl.col("subject") == "T004").sort("ts", "event_id")
    assert got.equals(expected)
    assert limited.equals(expected.head(5))


def test_index_forgets_files_that_compaction_and_retention_removed(lake: Lake) -> None:
    lake.path(subject_kind="tag", subject="T001", start=MONTH[0], end=MONTH[1])
    before = {str(f) for f in sorted_files(lake)}
    assert len(lake._index) == 3

    lake.append(busy_day(0, rows=100, batch=1))
    lake.compact(min_files=1)
    lake.drop_partitions(before=(DAY0 + timedelta(days=2)).date())
    remaining = set(sorted_files(lake))

    assert len(lake._index) == 1  # the new file of day 0 was indexed, then dropped with it
    assert not (before - remaining) & set(lake._index._entries)
    assert lake.path(subject_kind="tag", subject="T001", start=MONTH[0], end=MONTH[1]).height == (
        busy_day(2).filter(pl.col("subject") == "T001").height
    )


def test_subject_index_evicts_when_full(lake: Lake) -> None:
    index = SubjectIndex(max_files=2)
    files = [f for f in sorted_files(lake) if "sorted-" in f]
    for f in files:
        index.get(f)
    assert len(index) <= 2
    index.forget(files)
    assert len(index) == 0
    assert index.get(str(partition_path(lake.root, DAY0.date(), "rfid_read") / "part-X.parquet")) is None


def test_sorted_files_without_an_index_are_read_with_polars(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = partition_path(lake.root, DAY0.date(), "rfid_read") / "sorted-ZZZ-0000.parquet"
    broken.write_bytes(b"not parquet at all")
    assert build_index(str(broken)) is None
    broken.unlink()
    indexed = lake.path(subject_kind="tag", subject="T002", start=MONTH[0], end=MONTH[1])
    monkeypatch.setattr(lake._index, "get", lambda _path: None)

    unindexed = lake.path(subject_kind="tag", subject="T002", start=MONTH[0], end=MONTH[1])

    everything = pl.concat([busy_day(d) for d in range(3)])
    assert unindexed.equals(everything.filter(pl.col("subject") == "T002").sort("ts", "event_id"))
    assert indexed.equals(unindexed)


def test_queries_never_wait_for_an_index(lake: Lake) -> None:
    files = [f for f in sorted_files(lake) if "sorted-" in f]
    builder = ThreadPoolExecutor(max_workers=1)
    index = SubjectIndex(builder=builder)

    first = [index.lookup(f) for f in files]
    builder.shutdown(wait=True)

    assert first == [None, None, None]  # read with Polars this time
    assert all(index.lookup(f) is not None for f in files)
    assert index.lookup(files[0]) is index.get(files[0])
    assert index.lookup(files[0].replace("sorted-", "part-")) is None


def test_an_index_built_for_a_file_forgotten_meanwhile_is_not_kept(lake: Lake) -> None:
    path = next(f for f in sorted_files(lake) if "sorted-" in f)
    builder = ThreadPoolExecutor(max_workers=1)
    index = SubjectIndex(builder=builder)
    index.lookup(path)
    index.forget([path])
    builder.shutdown(wait=True)

    assert len(index) == 0


def test_a_fresh_lake_answers_paths_while_it_builds_its_indexes(tmp_path: Path) -> None:
    compacted_lake(tmp_path / "lake").close()
    fresh = Lake(tmp_path / "lake")
    everything = pl.concat([busy_day(d) for d in range(3)])
    expected = everything.filter(pl.col("subject") == "T005").sort("ts", "event_id")

    cold = fresh.path(subject_kind="tag", subject="T005", start=MONTH[0], end=MONTH[1])
    fresh._indexer.submit(lambda: None).result()  # the background builds are done
    warm = fresh.path(subject_kind="tag", subject="T005", start=MONTH[0], end=MONTH[1])
    built = len(fresh._index)
    fresh.close()
    after_close = fresh.path(subject_kind="tag", subject="T005", start=MONTH[0], end=MONTH[1])

    assert built == 3
    assert len(fresh._index) == 0  # close forgot them
    assert cold.equals(expected)
    assert warm.equals(expected)
    assert after_close.equals(expected)


def test_warm_builds_the_indexes_of_a_period(tmp_path: Path) -> None:
    compacted_lake(tmp_path / "lake").close()
    fresh = Lake(tmp_path / "lake")

    built = fresh.warm(start=DAY0, end=DAY0 + timedelta(days=2), kinds=["rfid_read"])

    assert built == 2
    assert len(fresh._index) == 2
    fresh.close()


def test_files_whose_ts_is_not_in_milliseconds_are_not_indexed(tmp_path: Path) -> None:
    frame = busy_day(0).sort("subject")
    in_ms, in_us = tmp_path / "sorted-MS-0000.parquet", tmp_path / "sorted-US-0000.parquet"
    frame.write_parquet(in_ms, row_group_size=4, statistics=True)
    frame.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))).write_parquet(
        in_us, row_group_size=4, statistics=True
    )
    assert build_index(str(in_ms)) is not None  # a file written by Polars is indexed too
    assert build_index(str(in_us)) is None


@settings(max_examples=40, deadline=None)
@given(picked=st.sets(st.integers(0, 49), max_size=12))
def test_byte_ranges_cover_exactly_the_chosen_groups(shared_lake: Lake, picked: set[int]) -> None:
    path = next(f for f in sorted_files(shared_lake) if "sorted-" in f)
    index = build_index(path)
    assert index is not None
    meta = pq.read_metadata(path)

    ranges = index.byte_ranges(sorted(picked))

    # Sorted, apart from each other (neighbours merged), and nothing but the chosen groups' chunks.
    assert all(a[0] + a[1] < b[0] for a, b in itertools.pairwise(ranges))
    chunks = {g: [chunk_span(meta.row_group(g).column(c)) for c in range(16)] for g in range(50)}
    for g, spans in chunks.items():
        covered = [any(o <= lo and hi <= o + n for o, n in ranges) for lo, hi in spans]
        assert all(covered) if g in picked else not any(covered)
    assert sum(n for _, n in ranges) == sum(hi - lo for g in picked for lo, hi in chunks[g])


def chunk_span(chunk: pq.ColumnChunkMetaData) -> tuple[int, int]:
    """Where one column chunk lies in its file (dictionary page first, when there is one)."""
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and 0 < chunk.dictionary_page_offset < start:
        start = chunk.dictionary_page_offset
    return start, start + chunk.total_compressed_size


@pytest.mark.skipif(not hasattr(os, "POSIX_FADV_WILLNEED"), reason="posix_fadvise is Linux/BSD only")
def test_a_path_advises_the_kernel_of_exactly_the_ranges_it_reads_first(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    advised: list[tuple[str, int, int]] = []
    read: list[str] = []
    real_read = FileIndex.read

    def fadvise(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_WILLNEED
        advised.append((os.readlink(f"/proc/self/fd/{fd}"), offset, length))

    def recording_read(self: FileIndex, groups: list[int], subjects: list[str]) -> pa.Table:
        read.append(self.path)
        assert {p for p, _, _ in advised} >= set(read)  # every file advised before any is read
        return real_read(self, groups, subjects)

    monkeypatch.setattr(os, "posix_fadvise", fadvise)
    monkeypatch.setattr(FileIndex, "read", recording_read)
    lake.path(subject_kind="tag", subject="T003", start=MONTH[0], end=MONTH[1])

    expected = []
    for path in sorted_files(lake):
        index = lake._index.get(path)
        assert index is not None
        expected += [(path, o, n) for o, n in index.byte_ranges(index.groups_for(["T003"], *MONTH))]
    assert sorted(advised) == sorted(expected)
    assert sorted(read) == sorted(sorted_files(lake))


def test_a_path_is_the_same_without_prefetching(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    args = {"subject_kind": "tag", "subject": ["T006", "T011"], "start": MONTH[0], "end": MONTH[1]}
    prefetched, prefetched_head = lake.path(**args), lake.path(**args, limit=7)
    monkeypatch.setattr(subject_index, "_CAN_ADVISE", False)
    monkeypatch.setattr(os, "posix_fadvise", lambda *_: pytest.fail("advised although it cannot"))

    plain, plain_head = lake.path(**args), lake.path(**args, limit=7)

    everything = pl.concat([busy_day(d) for d in range(3)])
    expected = everything.filter(pl.col("subject").is_in(["T006", "T011"])).sort("ts", "event_id")
    assert prefetched.equals(expected)
    assert plain.equals(expected)
    assert prefetched_head.equals(expected.head(7))
    assert plain_head.equals(expected.head(7))


def test_prefetch_never_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 100)
    prefetch([(str(tmp_path / "gone.parquet"), [(0, 10)]), (str(small), [(50, 10), (10**9, 10)])])

    def refuse(*_: object) -> None:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "posix_fadvise", refuse)
    prefetch([(str(small), [(0, 10)])])
