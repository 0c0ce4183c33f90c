"""All-or-nothing batch appends: every partition's part is staged, then all are published at once.

A batch usually spans several partitions (one per date and kind), and no single rename can
publish several files. So an append runs in two phases (decisions/0006):

1. **Stage**: each partition's part is written as `.tmp-part-<batch>.parquet` in its folder and
   fsynced, file and folder. Readers and compaction never list temporary names. If any part
   fails, every staged file is removed and the error raised: nothing became visible.
2. **Commit, then publish**: the caller's `commit` (the ingest ledger's transaction) runs, and
   only then is each part renamed to `part-<batch>.parquet`. A failed commit removes the staged
   files.

A crash between the two leaves staged files whose fate only the ledger knows: `recover` asks
which batches were committed, publishes those and removes the rest. Because every staged file
was durable before the commit, a committed batch can always be completed. The renames need no
fsync of their own: a rename lost in a crash leaves the staged file, which recovery renames.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import structlog

from safecity.lake.layout import (
    PART_PREFIX,
    STAGED_PREFIX,
    SUFFIX,
    TMP_PREFIX,
    all_partitions,
    ensure_dir,
    fsync_dir,
    partition_path,
    write_synced,
)
from safecity.lake.writer import encode_part

log = structlog.get_logger(__name__)

# Batch ids name files: ULIDs and other plain tokens only, so no value can escape a partition.
BATCH_PATTERN = re.compile(r"^[0-9A-Za-z]{1,64}$")
_STAGED_NAME = re.compile(rf"^{re.escape(STAGED_PREFIX)}([0-9A-Za-z]{{1,64}}){re.escape(SUFFIX)}$")


@dataclass(slots=True)
class Staged:
    """One batch's parts, written and durable under temporary names: (staged, final) pairs."""

    batch: str
    files: list[tuple[Path, Path]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What `recover` did with the batches a crash left staged."""

    published: list[str] = field(default_factory=list)  # committed: made visible
    discarded: list[str] = field(default_factory=list)  # never committed: removed


def check_batch(batch: str) -> str:
    """The batch id if it can name a file, else ValueError."""
    if not BATCH_PATTERN.match(batch):
        raise ValueError(f"batch id {batch!r} must be 1-64 letters and digits (it names the lake's files)")
    return batch


def stage(
    root: Path,
    parts: dict[tuple[date, str], pl.DataFrame],
    batch: str,
    *,
    sync_dirs: bool,
    pool: Executor | None,
) -> Staged:
    """Write every partition's part under its temporary name, durably; on any failure remove them
    all and raise. `sync_dirs` also makes the names durable (needed before a commit)."""
    jobs = [(partition_path(root, day, kind), frame) for (day, kind), frame in parts.items()]
    if pool is None or len(jobs) == 1:
        outcomes = [_attempt(directory, frame, batch, sync_dirs) for directory, frame in jobs]
    else:
        # Parquet encoding and fsync release the GIL: partitions are staged side by side.
        futures = [pool.submit(_attempt, directory, frame, batch, sync_dirs) for directory, frame in jobs]
        outcomes = [future.result() for future in futures]
    staged = Staged(batch, [pair for pair in outcomes if isinstance(pair, tuple)])
    errors = [error for error in outcomes if isinstance(error, BaseException)]
    if errors:
        discard(staged)
        raise errors[0]
    return staged


def _attempt(
    directory: Path, frame: pl.DataFrame, batch: str, sync_dir: bool
) -> tuple[Path, Path] | Exception:
    """Stage one part; the error instead of raising it, so that every sibling is waited for."""
    try:
        return _stage_one(directory, frame, batch, sync_dir)
    except Exception as exc:
        return exc


def _stage_one(directory: Path, frame: pl.DataFrame, batch: str, sync_dir: bool) -> tuple[Path, Path]:
    ensure_dir(directory)
    name = f"{PART_PREFIX}{batch}{SUFFIX}"
    tmp = write_synced(directory / f"{TMP_PREFIX}{name}", encode_part(frame))
    if sync_dir:
        fsync_dir(directory)
    return tmp, directory / name


def publish(staged: Staged, *, sync_dirs: bool, pool: Executor | None = None) -> None:
    """Rename every staged part to its final name (visible to readers from then on); with
    `sync_dirs`, also make the new names durable (folders side by side when a pool is given)."""
    for tmp, final in staged.files:
        try:
            os.replace(tmp, final)
        except FileNotFoundError:
            if not final.exists():
                raise  # neither staged nor published: lost, which must not pass silently
    if sync_dirs:
        folders = sorted({final.parent for _, final in staged.files})
        if pool is None or len(folders) == 1:
            for folder in folders:
                fsync_dir(folder)
        else:
            list(pool.map(fsync_dir, folders))


def discard(staged: Staged) -> None:
    """Remove a batch's staged parts (best effort: a leftover is invisible and recovered later)."""
    for tmp, _ in staged.files:
        try:
            tmp.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("lake.staged_not_removed", file=str(tmp), error=str(exc))


def withdraw(staged: Staged) -> None:
    """Undo a partly published batch that nothing committed: remove its parts, published or not."""
    for tmp, final in staged.files:
        final.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def find_staged(root: Path) -> dict[str, Staged]:
    """Every batch with staged parts left in the lake, by batch id."""
    found: dict[str, Staged] = {}
    for partition in all_partitions(root):
        try:
            names = os.listdir(partition.path)
        except FileNotFoundError:
            continue
        for name in names:
            match = _STAGED_NAME.match(name)
            if match:
                batch = match.group(1)
                final = partition.path / name.removeprefix(TMP_PREFIX)
                found.setdefault(batch, Staged(batch)).files.append((partition.path / name, final))
    return found


def settle(staged: Iterable[Staged], committed: Callable[[list[str]], set[str]]) -> Recovery:
    """Publish the staged batches the ledger committed and remove the others."""
    batches = {s.batch: s for s in staged}
    if not batches:
        return Recovery()
    keep = committed(sorted(batches))
    report = Recovery()
    for batch, s in sorted(batches.items()):
        if batch in keep:
            publish(s, sync_dirs=True)
            report.published.append(batch)
        else:
            discard(s)
            report.discarded.append(batch)
    log.warning("lake.staged_batches_settled", published=report.published, discarded=report.discarded)
    return report
