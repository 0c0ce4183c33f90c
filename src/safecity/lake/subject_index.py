"""Row-group index of sorted lake files: a path reads only the row groups that can hold its subject.

For each compacted (subject-sorted) file the index keeps its footer bytes, where each row group
sits in them (`footer.FooterLayout`), every row group's subject and ts range, and where its bytes
lie in the file. A path query then parses a footer of just the row groups it needs (about 50 us
instead of a full footer parse per file and query), asks the kernel for all of their bytes at
once (`prefetch`), and reads them with pyarrow, days side by side in threads. Files are
immutable and their names never reused, so an entry never goes stale: entries of files that
compaction or retention removed are only dropped to free memory. Building an index reads and
parses the footer once (about 15 ms for a 2.7 M-row file of 650 groups); compaction builds those
of the files it writes, and a query finding none reads that file with Polars while the index is
built in the background.

Files that cannot be indexed (appended parts, files without subject statistics) are read by
the caller with Polars as before, and both results are merged.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import structlog

from safecity.lake.footer import MAGIC, FooterError, FooterLayout, layout_of, read_footer
from safecity.lake.layout import is_sorted_file

log = structlog.get_logger(__name__)

# Columns with few distinct values, kept as dictionaries until the few matching rows are cut out:
# turning every value of a row group into a string costs more than the rest of the read.
DICTIONARY_COLUMNS = ["kind", "subject_kind", "device", "area", "code", "corr_id", "source"]
# Above this many rows per group, Polars (which decodes only the matching rows of the other
# columns) is faster than reading the whole group: 64k-row groups took 15 ms against 2.5 ms.
MAX_GROUP_ROWS = 16_384
# Below this many groups a file is small (< 64k rows at 4k per group): one Polars scan over all
# such files costs about 0.6 ms per file, the index about 1.5 ms (1e6-record bench, 2026-11-22).
MIN_GROUPS = 16
# Enough for every sorted file of a year of daily partitions of a dozen kinds.
MAX_FILES = 8192
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# posix_fadvise is missing on macOS and Windows; prefetching is then left out.
_CAN_ADVISE = hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_WILLNEED")


@dataclass(frozen=True, slots=True)
class FileIndex:
    """Row-group ranges of one sorted file, and its footer cut into row-group entries."""

    path: str
    layout: FooterLayout
    rows: np.ndarray  # int64 rows per row group
    known: np.ndarray  # bool: the row group has subject and ts statistics
    subject_min: np.ndarray  # object array of bytes (Parquet orders strings as bytes)
    subject_max: np.ndarray
    ts_min: np.ndarray  # int64 epoch ms
    ts_max: np.ndarray
    byte_start: np.ndarray  # int64: where each row group's column chunks begin in the file
    byte_end: np.ndarray  # int64: where they end (exclusive)

    def groups_for(self, subjects: Sequence[str], start: datetime, end: datetime) -> list[int]:
        """Row groups that may hold rows of these subjects with start <= ts < end."""
        if not subjects:
            return []
        # Bounds rounded outwards to whole ms (ts is stored in ms): only ever one group too many.
        start_ms, end_ms = _floor_ms(start), _ceil_ms(end)
        hit = np.zeros(len(self.rows), dtype=bool)
        for subject in subjects:
            value = subject.encode()
            hit |= (self.subject_min <= value) & (self.subject_max >= value)
        hit &= (self.ts_max >= start_ms) & (self.ts_min < end_ms)
        return np.flatnonzero(hit | ~self.known).tolist()

    def byte_ranges(self, groups: Sequence[int]) -> list[tuple[int, int]]:
        """The (offset, length) ranges of the file holding these row groups, neighbours merged."""
        spans: list[list[int]] = []
        for group in sorted(groups):
            start, end = int(self.byte_start[group]), int(self.byte_end[group])
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        return [(start, end - start) for start, end in spans]

    def read(self, groups: Sequence[int], subjects: Sequence[str]) -> pa.Table:
        """The rows of these row groups whose subject is one of `subjects` (see `plain_strings`)."""
        tail = self.layout.sliced(groups, int(self.rows[list(groups)].sum()))
        meta = pq.read_metadata(pa.BufferReader(tail))
        # pre_buffer fetches all columns of the groups in one read (a few hundred kB), which
        # the disk's 8 MB read-ahead leaves alone; column by column, read-ahead fetched 10x more.
        reader = pq.ParquetFile(self.path, metadata=meta, pre_buffer=True, read_dictionary=DICTIONARY_COLUMNS)
        table = reader.read(use_threads=False)
        wanted = pa.array(list(subjects), pa.string())
        return table.filter(pc.is_in(table.column("subject"), value_set=wanted))


def prefetch(reads: Iterable[tuple[str, Sequence[tuple[int, int]]]]) -> None:
    """Ask the kernel to start reading these (path, byte ranges) now, all at once; never fails.

    A path reads one small range from each of about 30 day files. Read one by one (or 4 at a
    time in the reader threads), every range not in the page cache waits for the disk in turn;
    advised all together first, the disk fetches them concurrently while the first files are
    decoded (docs/decisions/0002, 2026-11-23). The advice returns without waiting for the disk.
    WILLNEED reads exactly the advised pages and marks none for read-ahead, so the later reads
    neither wait again nor pull in the device's 8 MB read-ahead.
    """
    if not _CAN_ADVISE:
        return
    for path, ranges in reads:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # gone or unreadable: the read itself reports it
        try:
            for offset, length in ranges:
                os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass  # advice only: the read that follows is correct without it
        finally:
            os.close(fd)


def plain_strings(table: pa.Table) -> pa.Table:
    """Turn the dictionary columns of `FileIndex.read` results back into plain strings."""
    for name in DICTIONARY_COLUMNS:
        i = table.schema.get_field_index(name)
        if i >= 0 and pa.types.is_dictionary(table.schema.field(i).type):
            field = table.schema.field(i)
            plain = field.with_type(field.type.value_type)
            table = table.set_column(i, plain, table.column(i).cast(plain.type))
    return table


def build_index(path: str) -> FileIndex | None:
    """Index a sorted file; None when it cannot be (small, no statistics, unreadable footer)."""
    try:
        return _build(path)
    except (FooterError, OSError, pa.ArrowException) as exc:
        # Never fatal: the file is then read with Polars, which reports a real problem itself.
        log.warning("lake.index_skipped", path=path, reason=str(exc))
        return None


def _build(path: str) -> FileIndex | None:
    layout = layout_of(read_footer(path))
    meta = _parse(layout.footer)
    if meta.num_row_groups != layout.num_row_groups or not _slices_match(layout, meta):
        log.warning("lake.index_skipped", path=path, reason="sliced footer does not match the file")
        return None
    names = meta.schema.names
    if "subject" not in names or "ts" not in names:
        return None
    largest = max((meta.row_group(i).num_rows for i in range(meta.num_row_groups)), default=0)
    if largest > MAX_GROUP_ROWS:
        return None  # decoding whole big groups with pyarrow loses to Polars' late materialisation
    if meta.num_row_groups < MIN_GROUPS:
        return None  # a small file's footer is cheap: Polars reads it faster than we can
    subject_col, ts_col = names.index("subject"), names.index("ts")
    if json.loads(meta.schema.column(ts_col).logical_type.to_json()).get("timeUnit") != "milliseconds":
        return None  # the pruning below compares raw ts statistics with epoch milliseconds
    n = meta.num_row_groups
    rows = np.zeros(n, dtype=np.int64)
    known = np.zeros(n, dtype=bool)
    subject_min = np.full(n, b"", dtype=object)
    subject_max = np.full(n, b"", dtype=object)
    ts_min = np.zeros(n, dtype=np.int64)
    ts_max = np.zeros(n, dtype=np.int64)
    byte_start = np.zeros(n, dtype=np.int64)
    byte_end = np.zeros(n, dtype=np.int64)
    for i in range(n):
        group = meta.row_group(i)
        rows[i] = group.num_rows
        byte_start[i], byte_end[i] = _group_bytes(group)
        subject, ts = group.column(subject_col).statistics, group.column(ts_col).statistics
        if subject is None or ts is None or not (subject.has_min_max and ts.has_min_max):
            continue
        known[i] = True
        subject_min[i], subject_max[i] = _raw_bytes(subject.min_raw), _raw_bytes(subject.max_raw)
        ts_min[i], ts_max[i] = int(ts.min_raw), int(ts.max_raw)
    return FileIndex(
        path, layout, rows, known, subject_min, subject_max, ts_min, ts_max, byte_start, byte_end
    )


class SubjectIndex:
    """In-memory row-group indexes of sorted files, shared by threads.

    `get` builds a missing index at once (compaction warms its new files so). `lookup`, used by
    queries, never waits: a file without an index yet is read with Polars this time while the
    index is built in the background, so the first path after a start costs what it did before
    the index existed instead of parsing every footer first (1.5 s for 30 cold files).
    """

    def __init__(self, max_files: int = MAX_FILES, builder: Executor | None = None) -> None:
        self._entries: dict[str, FileIndex | None] = {}
        self._building: set[str] = set()
        self._lock = threading.Lock()
        self._max_files = max_files
        self._builder = builder

    def get(self, path: str) -> FileIndex | None:
        """The index of a sorted file, built now if needed (None for parts and unindexable files)."""
        if not is_sorted_file(path):
            return None
        with self._lock:
            if path in self._entries:
                return self._entries[path]
        index = build_index(path)
        self._store(path, index)
        return index

    def lookup(self, path: str) -> FileIndex | None:
        """The index if it is built; otherwise None, and it is built in the background."""
        if not is_sorted_file(path):
            return None
        if self._builder is None:
            return self.get(path)
        with self._lock:
            if path in self._entries or path in self._building:
                return self._entries.get(path)
            self._building.add(path)
        try:
            self._builder.submit(self._build_later, path)
        except RuntimeError:  # the builder was shut down (the lake is closed): read with Polars
            with self._lock:
                self._building.discard(path)
        return None

    def forget(self, paths: Sequence[str]) -> None:
        """Drop the entries of files that no longer exist (compaction inputs)."""
        with self._lock:
            for path in paths:
                self._entries.pop(path, None)
                self._building.discard(path)

    def prune(self) -> None:
        """Drop the entries of every file that has gone (after retention or another process)."""
        with self._lock:
            self._entries = {p: e for p, e in self._entries.items() if os.path.exists(p)}

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._building.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _build_later(self, path: str) -> None:
        index = build_index(path)
        with self._lock:
            wanted = path in self._building  # not forgotten while it was being built
            self._building.discard(path)
        if wanted:
            self._store(path, index)

    def _store(self, path: str, index: FileIndex | None) -> None:
        with self._lock:
            if len(self._entries) >= self._max_files:
                self._evict()
            self._entries[path] = index

    def _evict(self) -> None:
        # Caller holds the lock. Gone files first; if all still exist, the oldest half.
        self._entries = {p: e for p, e in self._entries.items() if os.path.exists(p)}
        if len(self._entries) >= self._max_files:
            keep = list(self._entries.items())[len(self._entries) // 2 :]
            self._entries = dict(keep)


def _parse(footer: bytes) -> pq.FileMetaData:
    return pq.read_metadata(pa.BufferReader(MAGIC + footer + len(footer).to_bytes(4, "little") + MAGIC))


def _slices_match(layout: FooterLayout, meta: pq.FileMetaData) -> bool:
    """Check one cut-down footer against the full one, so a walker bug can never misread data."""
    if meta.num_row_groups == 0:
        return True
    last = meta.num_row_groups - 1
    sliced = pq.read_metadata(pa.BufferReader(layout.sliced([last], meta.row_group(last).num_rows)))
    return (
        sliced.num_row_groups == 1
        and sliced.schema.equals(meta.schema)
        and sliced.row_group(0).to_dict() == meta.row_group(last).to_dict()
    )


def _group_bytes(group: pq.RowGroupMetaData) -> tuple[int, int]:
    """Where a row group's column chunks lie in the file, as pyarrow computes them to read it.

    Writers put a group's chunks one after another in column order, so the first and the last
    chunk bound it; looking at all 16 chunks of 650 groups would double the cost of an index.
    The range is only advice to the kernel (`prefetch`): were it wrong, reads stay correct.
    """
    first, last = group.column(0), group.column(group.num_columns - 1)
    return _chunk_start(first), _chunk_start(last) + last.total_compressed_size


def _chunk_start(chunk: pq.ColumnChunkMetaData) -> int:
    start = int(chunk.data_page_offset)
    dictionary = chunk.dictionary_page_offset if chunk.has_dictionary_page else None
    if dictionary is not None and 0 < dictionary < start:
        start = int(dictionary)
    return start


def _raw_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _floor_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _ONE_MS


def _ceil_ms(moment: datetime) -> int:
    return -((_EPOCH - moment) // _ONE_MS)
