"""Compaction: merge a partition's small unsorted parts into files sorted by subject.

Sorted files with modest row groups let Parquet min/max statistics skip almost everything when
an investigator asks for one subject's path. A past day is merged into one sorted generation;
today's partition, which keeps growing, is merged size-tiered (new parts plus only the sorted
runs no larger than what is being merged), so a busy day is not rewritten every minute.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import structlog

from safecity.core.filemode import private_file
from safecity.core.record import RECORD_SCHEMA, new_id
from safecity.lake.layout import (
    INTENT_PREFIX,
    SORTED_PREFIX,
    STAGED_PREFIX,
    SUFFIX,
    TMP_PREFIX,
    Partition,
    fsync_dir,
    fsync_file,
    generation_of,
    is_sorted_file,
    read_intent,
    write_intent,
)
from safecity.lake.writer import ARROW_SCHEMA, LOW_CARDINALITY, to_arrow

log = structlog.get_logger(__name__)

SORT_KEYS = ["subject_kind", "subject", "ts"]
SORTED_STATISTICS = ["kind", "subject_kind", "subject", "ts"]
# Leftover temporary files older than this are from a crashed writer and may be removed.
STALE_TMP_S = 3600.0


class LakeIntegrityError(RuntimeError):
    """A compaction would have changed the number of rows; nothing was replaced."""


@dataclass(frozen=True, slots=True)
class SortedFormat:
    """How compaction writes its sorted files (defaults measured in docs/decisions/0002)."""

    # Paths read only the groups of their subject through the row-group index (no footer
    # parse), so small groups cut a path's decoding and disk reads; windows, which decode whole
    # days with Polars, pay about 1.5-2x for them (docs/decisions/0002, 2026-11-22).
    row_group_rows: int = 4_096
    max_file_rows: int = 8_000_000
    # LZ4 decodes ~30 % cheaper than zstd per path query for ~45 % more bytes on disk.
    compression: str = "lz4"
    compression_level: int | None = None


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What compaction planning needs to know about one data file."""

    path: Path
    rows: int
    mtime: float

    @property
    def is_sorted(self) -> bool:
        """Tell whether this file is already compaction output."""
        return is_sorted_file(self.path)


@dataclass(frozen=True, slots=True)
class CompactionReport:
    """What one compaction run did."""

    partitions: int = 0
    files_in: int = 0
    files_out: int = 0
    rows: int = 0


def plan_inputs(files: Sequence[FileInfo], *, closed: bool) -> list[FileInfo]:
    """Choose which files of one partition to merge; an empty list means nothing to do."""
    parts = [f for f in files if not f.is_sorted]
    runs = sorted((f for f in files if f.is_sorted), key=lambda f: f.rows)
    if closed:
        generations = {generation_of(f.path) for f in runs}
        return [] if not parts and len(generations) <= 1 else list(files)
    if not parts:
        return []
    chosen, merged_rows = list(parts), sum(f.rows for f in parts)
    # Size-tiered: a run joins only when it is no bigger than what is merged so far, so each
    # row is rewritten O(log n) times over a day instead of once per compaction.
    for run in runs:
        if run.rows > merged_rows:
            break
        chosen.append(run)
        merged_rows += run.rows
    return chosen if len(chosen) > 1 or not chosen[0].is_sorted else []


def merge_partition(
    partition: Partition,
    inputs: Sequence[FileInfo],
    fmt: SortedFormat,
    swap_lock: Callable[[], AbstractContextManager[None]],
) -> list[Path]:
    """Replace `inputs` by sorted files holding exactly the same rows; return the new files."""
    rows_in = sum(f.rows for f in inputs)
    frame = sort_records(pl.read_parquet([f.path for f in inputs], hive_partitioning=False))
    if frame.height != rows_in:
        raise LakeIntegrityError(f"{partition.path}: read {frame.height} rows, footers say {rows_in}")
    generation = new_id()
    temps = _write_sorted(partition.path, generation, frame.cast(pl.Schema(RECORD_SCHEMA)), fmt)
    rows_out = sum(pq.read_metadata(t).num_rows for t, _ in temps)
    if rows_out != rows_in:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise LakeIntegrityError(f"{partition.path}: wrote {rows_out} rows for {rows_in} read")
    outputs = [final for _, final in temps]
    intent = write_intent(
        partition.path, generation, [f.path.name for f in inputs], [o.name for o in outputs]
    )
    with swap_lock():
        for tmp, final in temps:
            os.replace(tmp, final)
        fsync_dir(partition.path)
        for f in inputs:
            f.path.unlink()
        fsync_dir(partition.path)
    intent.unlink()
    fsync_dir(partition.path)
    return outputs


def sort_records(frame: pl.DataFrame) -> pl.DataFrame:
    """Sort by SORT_KEYS, leaving out leading keys that are constant (the usual subject_kind)."""
    keys = list(SORT_KEYS)
    # Comparing a constant string column on every row costs a third of the sort for nothing.
    while len(keys) > 1 and frame.get_column(keys[0]).n_unique() <= 1:
        keys.pop(0)
    return frame.sort(keys)


def _write_sorted(
    directory: Path, generation: str, frame: pl.DataFrame, fmt: SortedFormat
) -> list[tuple[Path, Path]]:
    """Write a sorted frame as temp files of at most max_file_rows; return (temp, final) pairs."""
    pairs: list[tuple[Path, Path]] = []
    sorting = [pq.SortingColumn(ARROW_SCHEMA.get_field_index(k)) for k in SORT_KEYS]
    for n, offset in enumerate(range(0, max(frame.height, 1), fmt.max_file_rows)):
        name = f"{SORTED_PREFIX}{generation}-{n:04d}{SUFFIX}"
        tmp = directory / f"{TMP_PREFIX}{name}"
        chunk = to_arrow(frame.slice(offset, fmt.max_file_rows))
        private_file(tmp)  # the writer opens it as it is: owner-only, not the umask's mode
        with pq.ParquetWriter(
            tmp,
            ARROW_SCHEMA,
            compression=fmt.compression,
            compression_level=fmt.compression_level,
            use_dictionary=[*LOW_CARDINALITY, "subject"],
            # Only columns a query can prune on: every statistic lengthens the footer that
            # each query parses once per file.
            write_statistics=SORTED_STATISTICS,
            sorting_columns=sorting,
            store_schema=False,
        ) as writer:
            writer.write_table(chunk, row_group_size=fmt.row_group_rows)
        fsync_file(tmp)
        pairs.append((tmp, directory / name))
    return pairs


def finish_interrupted(partition_dir: Path, swap_lock: Callable[[], AbstractContextManager[None]]) -> None:
    """Complete or roll back a compaction that crashed mid-swap, and sweep stale temp files."""
    try:
        names = os.listdir(partition_dir)
    except FileNotFoundError:
        return
    now = time.time()
    for name in names:
        path = partition_dir / name
        # A staged batch part is not a crashed writer's litter: whether it is published or removed
        # depends on the ingest ledger (Lake.recover), however long the platform was down.
        stale = now - _mtime(path) > STALE_TMP_S
        if name.startswith(TMP_PREFIX) and not name.startswith(STAGED_PREFIX) and stale:
            path.unlink(missing_ok=True)
        if not name.startswith(INTENT_PREFIX):
            continue
        intent = read_intent(path)
        if intent is not None:
            inputs, outputs = intent
            committed = all((partition_dir / o).exists() for o in outputs)
            with swap_lock():
                for victim in inputs if committed else outputs:
                    (partition_dir / victim).unlink(missing_ok=True)
            log.warning("lake.compaction_recovered", partition=str(partition_dir), committed=committed)
        path.unlink(missing_ok=True)
        fsync_dir(partition_dir)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()
