"""Queries over lake files with Polars: one subject's path, space-time windows, exact counts.

The caller lists the files (only the partitions a query can touch) and holds the read lock;
this module only turns a file list and a predicate into a record frame. Polars prunes row
groups by their min/max statistics and decodes the other columns only for rows that pass the
filter. DuckDB was measured as the alternative and was 2-4 times slower on both queries
(docs/decisions/0002-lake-layout.md). A path reads compacted files through their row-group index
instead (`subject_index`): only the few small row groups that can hold the subject, with no
footer parse; appended parts, small files and files written with big groups still go to Polars.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from concurrent.futures import Executor
from datetime import datetime
from functools import reduce
from pathlib import Path

import polars as pl
import pyarrow as pa

from safecity.core.geo import BBox
from safecity.core.record import RECORD_SCHEMA, empty_records
from safecity.lake.subject_index import FileIndex, SubjectIndex, plain_strings, prefetch

_SCHEMA = pl.Schema(RECORD_SCHEMA)
ORDER = ["ts", "event_id"]


def scan_files(files: Sequence[str | Path]) -> pl.LazyFrame:
    """A lazy frame over lake files (no hive columns: each file carries its own kind)."""
    if not files:
        return empty_records().lazy()
    return pl.scan_parquet([str(f) for f in files], schema=_SCHEMA, hive_partitioning=False)


def read_records(files: Sequence[str | Path], predicate: pl.Expr, *, limit: int | None) -> pl.DataFrame:
    """Records of `files` matching `predicate`, sorted by (ts, event_id), in RECORD_SCHEMA dtypes."""
    if not files:
        return empty_records()
    frame = scan_files(files).filter(predicate).sort(ORDER)
    if limit is not None:
        frame = frame.head(limit)
    return conform(frame.collect())


def read_path(
    files: Sequence[str],
    subjects: Sequence[str],
    predicate: pl.Expr,
    *,
    start: datetime,
    end: datetime,
    index: SubjectIndex,
    pool: Executor | None = None,
    limit: int | None,
) -> pl.DataFrame:
    """A path: sorted files through their row-group index (in `pool`), other files with Polars.

    Same rows, order and dtypes as `read_records(files, predicate)`; `predicate` must select
    only rows whose subject is in `subjects`.
    """
    if not files:
        return empty_records()
    entries = [index.lookup(f) for f in files]
    jobs = [(e, groups) for e in entries if e is not None and (groups := e.groups_for(subjects, start, end))]
    # Every range is requested before any is read: the disk then serves them concurrently
    # instead of as the reader threads get to them (p99 of a 30-day path, decision 0002).
    prefetch((e.path, e.byte_ranges(groups)) for e, groups in jobs)

    def read(job: tuple[FileIndex, list[int]]) -> pa.Table:
        return job[0].read(job[1], subjects)

    tables = list(pool.map(read, jobs)) if pool is not None and len(jobs) > 1 else [read(j) for j in jobs]
    tables = [t for t in tables if t.num_rows]
    indexed = _from_tables(tables) if tables else None
    rest = [f for f, e in zip(files, entries, strict=True) if e is None]
    if not rest:
        # Eager: a path is a few hundred rows, and a lazy plan costs more than it saves here.
        if indexed is None:
            return empty_records()
        found = indexed.filter(predicate).sort(ORDER)
        return found if limit is None else found.head(limit)
    frames = [indexed.lazy()] if indexed is not None else []
    frames.append(scan_files(rest).filter(predicate))
    frame = pl.concat(frames).filter(predicate).sort(ORDER)
    return conform((frame if limit is None else frame.head(limit)).collect())


def _from_tables(tables: list[pa.Table]) -> pl.DataFrame:
    """The indexed reads as one frame of RECORD_SCHEMA dtypes."""
    # Files written by other versions may differ in string or integer widths. Strings first,
    # then one chunk: unifying 30 files' dictionaries instead costs twice as much.
    table = plain_strings(pa.concat_tables(tables, promote_options="permissive")).combine_chunks()
    return conform(pl.from_arrow(table))  # type: ignore[arg-type]


def count_rows(files: Sequence[str | Path], start: datetime | None, end: datetime | None) -> int:
    """Rows of `files` with start <= ts < end (either bound may be open)."""
    if not files:
        return 0
    return int(scan_files(files).filter(time_predicate(start, end)).select(pl.len()).collect().item())


def time_predicate(start: datetime | None, end: datetime | None) -> pl.Expr:
    """start <= ts < end, with open bounds left out."""
    return _all(_time_terms(start, end))


def path_predicate(
    subject_kind: str, subject: str | Sequence[str], start: datetime, end: datetime
) -> pl.Expr:
    """One subject's records in a time range.

    Several values are one subject under several names (a number's pseudonyms under each key
    version); `is_in` prunes row groups by their statistics as `==` does (measured: 3.8 against
    2.7 ms for two values over 8 M sorted rows).
    """
    values = subject_values(subject)
    match = pl.col("subject") == values[0] if len(values) == 1 else pl.col("subject").is_in(values)
    return _all([pl.col("subject_kind") == subject_kind, match, *_time_terms(start, end)])


def subject_values(subject: str | Sequence[str]) -> list[str]:
    """The distinct names a path asks for, in a stable order."""
    return [subject] if isinstance(subject, str) else sorted(set(subject))


def window_predicate(start: datetime, end: datetime, bbox: BBox | None) -> pl.Expr:
    """All records in a time range (and box)."""
    terms = _time_terms(start, end)
    if bbox is not None:
        terms.append(bbox.contains_expr(pl.col("lat"), pl.col("lon")))
    return _all(terms)


def _time_terms(start: datetime | None, end: datetime | None) -> list[pl.Expr]:
    terms = []
    if start is not None:
        terms.append(pl.col("ts") >= start)
    if end is not None:
        terms.append(pl.col("ts") < end)
    return terms


def _all(terms: list[pl.Expr]) -> pl.Expr:
    # A plain chain of comparisons (no literal TRUE) keeps statistics pruning obvious to Polars.
    return reduce(operator.and_, terms) if terms else pl.lit(value=True)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Give a result exactly the RECORD_SCHEMA columns and dtypes (ts in ms, UTC)."""
    if frame.width == 0:
        return empty_records()
    return frame.select(list(RECORD_SCHEMA)).cast(_SCHEMA)
