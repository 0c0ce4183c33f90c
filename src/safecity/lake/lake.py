"""The record lake: durable appends, compaction, path/window/scan queries, counts and retention.

Readers hold a shared lock while they list and read files; compaction and retention take it
exclusively only for the instant they swap or remove files, so a count never sees a partition
both before and after compaction. A second lock file serialises compactions and retention. A
batch's append is all or nothing (`staging.py`): appends hold a third lock shared, and recovery
of what a crash left staged takes it exclusively, so it never touches a live append's files.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import structlog

from safecity.core.clock import Clock, SystemClock, utc
from safecity.core.geo import BBox
from safecity.core.kinds import KIND_SPECS
from safecity.core.record import new_id
from safecity.lake import metrics
from safecity.lake.compaction import (
    CompactionReport,
    FileInfo,
    SortedFormat,
    finish_interrupted,
    merge_partition,
    plan_inputs,
)
from safecity.lake.layout import (
    Partition,
    all_partitions,
    data_files,
    days_between,
    ensure_dir,
    fsync_dir,
    partitions_for,
)
from safecity.lake.lock import FileLock
from safecity.lake.query import (
    count_rows,
    path_predicate,
    read_path,
    read_records,
    scan_files,
    subject_values,
    time_predicate,
    window_predicate,
)
from safecity.lake.staging import (
    Recovery,
    Staged,
    check_batch,
    discard,
    find_staged,
    publish,
    settle,
    stage,
    withdraw,
)
from safecity.lake.subject_index import SubjectIndex
from safecity.lake.writer import check_records, split_partitions

log = structlog.get_logger(__name__)

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One partition as an operator sees it."""

    date: dt.date
    kind: str
    files: int
    rows: int
    bytes: int


class Lake:
    """Hive-partitioned Parquet store of accepted records (see docs/decisions/0002-lake-layout.md)."""

    def __init__(
        self,
        root: Path,
        *,
        sorted_format: SortedFormat | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.root = Path(root)
        ensure_dir(self.root)
        self.sorted_format = sorted_format or SortedFormat()
        self._clock = clock or SystemClock()
        self._read_lock = FileLock(self.root / ".read.lock")
        self._compact_lock = FileLock(self.root / ".compact.lock")
        self._append_lock = FileLock(self.root / ".append.lock")
        # Committed batches whose publishing failed (the disk refused a rename): retried by the
        # next append and by recovery; their ids still count as stored (`event_ids`).
        self._unfinished: dict[str, Staged] = {}
        self._rows: dict[str, int] = {}  # footer row counts by path; files are immutable
        self._rows_lock = threading.Lock()
        self._writers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lake-writer")
        # Row-group indexes of sorted files. pyarrow reads release the GIL, so days are read side
        # by side; 4 threads rather than 2 cores, because a group not in the page cache waits on
        # the disk (30-day path with nothing cached: p50 55 ms, p90 71, against 72 and 173).
        # Since paths prefetch every group first, 2 and 4 threads measure alike and 8 or 16 are
        # slower (more CPU on 2 cores, no more disk concurrency to gain; decision 0002).
        self._indexer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-indexer")
        self._index = SubjectIndex(builder=self._indexer)
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lake-reader")
        self._closed = False

    def append(
        self,
        records: pl.DataFrame,
        *,
        batch: str | None = None,
        commit: Callable[[], None] | None = None,
    ) -> int:
        """Durably store a record batch, all or nothing (one part per date and kind); return rows.

        Every part is staged and fsynced first; if one fails, none is kept. `commit` (the
        ledger's transaction) then runs, and only after it succeeds do the parts become visible;
        if it raises, they are removed. A crash in between is settled by `recover`. A committed
        batch that the disk then refuses to publish is kept staged and published later, so
        once `commit` returned the rows are stored whatever follows.
        """
        started = time.perf_counter()
        checked = check_records(records)
        parts = split_partitions(checked)
        batch = check_batch(batch) if batch is not None else new_id()
        pool = None if self._closed else self._writers
        with self._append_lock.shared():
            self._finish_unfinished()
            staged = stage(self.root, parts, batch, sync_dirs=commit is not None, pool=pool)
            if commit is not None:
                try:
                    commit()
                except Exception:
                    discard(staged)
                    raise
            self._publish(staged, committed=commit is not None, pool=pool)
        metrics.ROWS_APPENDED.inc(checked.height)
        metrics.FILES_APPENDED.inc(len(parts))
        metrics.APPEND_SECONDS.observe(time.perf_counter() - started)
        return checked.height

    def _publish(self, staged: Staged, *, committed: bool, pool: ThreadPoolExecutor | None) -> None:
        try:
            # A committed batch needs no folder fsync: a rename lost in a crash leaves the
            # staged part, which recovery publishes.
            publish(staged, sync_dirs=not committed, pool=pool)
        except OSError as exc:
            if not committed:
                withdraw(staged)
                raise
            self._unfinished[staged.batch] = staged
            log.error("lake.publish_deferred", batch=staged.batch, error=str(exc))

    def _finish_unfinished(self) -> None:
        for batch, staged in list(self._unfinished.items()):
            try:
                publish(staged, sync_dirs=True)
            except OSError:
                return  # the disk still refuses: the next append or recovery tries again
            del self._unfinished[batch]
            log.info("lake.publish_completed", batch=batch)

    def recover(self, committed: Callable[[list[str]], set[str]]) -> Recovery:
        """Settle the batches a crash left staged: publish those `committed` names (the ledger's
        answer for the batch ids it is given), remove the others. Run before appending."""
        with self._append_lock.exclusive():
            report = settle(find_staged(self.root).values(), committed)
            for batch in report.published:
                self._unfinished.pop(batch, None)
        return report

    def event_ids(self, day: dt.date) -> pl.Series:
        """The event ids of every stored record of one UTC date, whatever its kind."""
        with self._read_lock.shared():
            files = self._files([day], None)
            folder = f"date={day.isoformat()}"
            files += [
                str(tmp)
                for staged in list(self._unfinished.values())
                for tmp, final in staged.files
                if final.parent.parent.name == folder and tmp.exists()
            ]
            if not files:
                return pl.Series("event_id", [], pl.String)
            return pl.scan_parquet(files, hive_partitioning=False).select("event_id").collect()["event_id"]

    def compact(self, *, min_files: int = 2, quiet_s: float = 0) -> CompactionReport:
        """Merge small files of each partition into files sorted by (subject_kind, subject, ts)."""
        started = time.perf_counter()
        today = self._clock.now().date()
        partitions = files_in = files_out = rows = 0
        with self._compact_lock.exclusive():
            for partition in all_partitions(self.root):
                finish_interrupted(partition.path, self._read_lock.exclusive)
                newest_mtime = time.time() - quiet_s
                infos = [f for f in self._file_infos(partition) if f.mtime <= newest_mtime]
                if len(infos) < max(min_files, 1):
                    continue
                inputs = plan_inputs(infos, closed=partition.day < today)
                if not inputs:
                    continue
                outputs = merge_partition(partition, inputs, self.sorted_format, self._read_lock.exclusive)
                self._forget([str(f.path) for f in inputs])
                self._index.forget([str(f.path) for f in inputs])
                for output in outputs:
                    self._index.get(str(output))  # warm: the next path need not read its footer
                partitions += 1
                files_in += len(inputs)
                files_out += len(outputs)
                rows += sum(f.rows for f in inputs)
        report = CompactionReport(partitions=partitions, files_in=files_in, files_out=files_out, rows=rows)
        metrics.ROWS_COMPACTED.inc(rows)
        metrics.COMPACTION_SECONDS.observe(time.perf_counter() - started)
        if partitions:
            log.info("lake.compacted", **asdict(report), seconds=round(time.perf_counter() - started, 3))
        return report

    def path(
        self,
        *,
        subject_kind: str,
        subject: str | Sequence[str],
        start: dt.datetime,
        end: dt.datetime,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """All records of one subject with start <= ts < end, sorted by ts.

        `subject` may list several values: a person's pseudonyms under every key version held,
        so that a path spans a key rotation.
        """
        start, end = utc(start), utc(end)
        predicate = path_predicate(subject_kind, subject, start, end)
        with self._read_lock.shared():
            files = self._files(days_between(start, end), kinds_of_subject(subject_kind))
            return read_path(
                files,
                subject_values(subject),
                predicate,
                start=start,
                end=end,
                index=self._index,
                pool=None if self._closed else self._readers,
                limit=limit,
            )

    def warm(self, *, start: dt.datetime, end: dt.datetime, kinds: Sequence[str] | None = None) -> int:
        """Build the row-group indexes of these days' sorted files now; return how many were built.

        Paths never wait for an index (they read unindexed files with Polars meanwhile); this
        lets a server that just started have them ready before the first investigator asks.
        """
        files = self.files(start=start, end=end, kinds=kinds)
        return sum(self._index.get(str(f)) is not None for f in files)

    def window(
        self,
        *,
        start: dt.datetime,
        end: dt.datetime,
        bbox: BBox | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """All records (of these kinds) with start <= ts < end inside the box, sorted by ts."""
        start, end = utc(start), utc(end)
        predicate = window_predicate(start, end, bbox)
        with self._read_lock.shared():
            files = self._files(days_between(start, end), kinds)
            return read_records(files, predicate, limit=limit)

    def scan(
        self, *, start: dt.datetime, end: dt.datetime, kinds: Sequence[str] | None = None
    ) -> pl.LazyFrame:
        """A lazy frame of records with start <= ts < end, for backtests; collect it promptly.

        The files are listed now and read at collect time: a compaction finishing in between
        removes some of them and the collect fails with FileNotFoundError (scan again then).
        """
        start, end = utc(start), utc(end)
        return scan_files(self.files(start=start, end=end, kinds=kinds)).filter(time_predicate(start, end))

    def files(
        self, *, start: dt.datetime, end: dt.datetime, kinds: Sequence[str] | None = None
    ) -> list[Path]:
        """The data files holding records of these dates and kinds (for external engines)."""
        with self._read_lock.shared():
            return [Path(f) for f in self._files(days_between(utc(start), utc(end)), kinds)]

    def count(self, *, start: dt.datetime | None = None, end: dt.datetime | None = None) -> int:
        """Exact number of records with start <= ts < end, consistent with a running compaction."""
        start = utc(start) if start is not None else None
        end = utc(end) if end is not None else None
        with self._read_lock.shared():
            whole: list[str] = []
            edge: list[str] = []
            for partition in all_partitions(self.root):
                day_start = dt.datetime.combine(partition.day, dt.time(), dt.UTC)
                if (end is not None and day_start >= end) or (
                    start is not None and day_start + ONE_DAY <= start
                ):
                    continue
                inside = (start is None or start <= day_start) and (end is None or day_start + ONE_DAY <= end)
                (whole if inside else edge).extend(data_files(partition.path))
            return sum(self._rows_of(f) for f in whole) + count_rows(edge, start, end)

    def partitions(self) -> list[PartitionInfo]:
        """Every partition with its file count, rows and bytes on disk, oldest first."""
        with self._read_lock.shared():
            infos = []
            for partition in all_partitions(self.root):
                files = data_files(partition.path)
                infos.append(
                    PartitionInfo(
                        date=partition.day,
                        kind=partition.kind,
                        files=len(files),
                        rows=sum(self._rows_of(f) for f in files),
                        bytes=sum(os.path.getsize(f) for f in files),
                    )
                )
            return infos

    def drop_partitions(self, *, before: dt.date, kinds: Sequence[str] | None = None) -> int:
        """Delete whole partitions dated before `before` (of these kinds); return rows deleted."""
        with self._compact_lock.exclusive():
            victims = [
                p for p in all_partitions(self.root) if p.day < before and (kinds is None or p.kind in kinds)
            ]
            return sum(self._drop(victims).values())

    def drop(self, partitions: Iterable[tuple[dt.date, str]]) -> dict[tuple[dt.date, str], int]:
        """Delete these whole (date, kind) partitions; rows each held (absent ones are left out)."""
        with self._compact_lock.exclusive():
            victims = [p for day, kind in partitions for p in partitions_for(self.root, [day], [kind])]
            return self._drop(victims)

    def _drop(self, victims: Sequence[Partition]) -> dict[tuple[dt.date, str], int]:
        # Caller holds the compaction lock. Each partition leaves the tree by one atomic rename
        # into .trash (readers see all of it or none); a crash leaves only trash, removed next time.
        trash = self.root / ".trash"
        ensure_dir(trash)
        dropped = {(p.day, p.kind): sum(self._rows_of(f) for f in data_files(p.path)) for p in victims}
        with self._read_lock.exclusive():
            for partition in victims:
                os.replace(partition.path, trash / new_id())
                fsync_dir(partition.path.parent)
            fsync_dir(trash)
        for leftover in trash.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
        for day_dir in {p.path.parent for p in victims}:
            if not any(day_dir.iterdir()):
                day_dir.rmdir()
        self._prune_row_cache()
        self._index.prune()
        if victims:
            log.info("lake.partitions_dropped", partitions=len(victims), rows=sum(dropped.values()))
        return dropped

    def close(self) -> None:
        """Forget cached footers and indexes and stop the writer and reader threads."""
        with self._rows_lock:
            self._rows.clear()
        self._index.clear()
        self._closed = True
        self._writers.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self._indexer.shutdown(wait=True, cancel_futures=True)

    def _files(self, days: Sequence[dt.date], kinds: Sequence[str] | None) -> list[str]:
        return [f for p in partitions_for(self.root, days, kinds) for f in data_files(p.path)]

    def _file_infos(self, partition: Partition) -> list[FileInfo]:
        return [FileInfo(Path(f), self._rows_of(f), os.path.getmtime(f)) for f in data_files(partition.path)]

    def _rows_of(self, path: str) -> int:
        with self._rows_lock:
            cached = self._rows.get(path)
        if cached is None:
            cached = pq.read_metadata(path).num_rows
            with self._rows_lock:
                self._rows[path] = cached
        return cached

    def _forget(self, paths: Sequence[str]) -> None:
        with self._rows_lock:
            for path in paths:
                self._rows.pop(path, None)

    def _prune_row_cache(self) -> None:
        with self._rows_lock:
            self._rows = {p: n for p, n in self._rows.items() if os.path.exists(p)}


def kinds_of_subject(subject_kind: str) -> list[str] | None:
    """Record kinds whose subject is of this kind; None (all kinds) for an unknown subject kind."""
    kinds = [spec.kind.value for spec in KIND_SPECS.values() if spec.subject_kind.value == subject_kind]
    return kinds or None
