"""Where lake files live, how they are named, and how they reach the disk durably.

Layout: `<root>/records/date=YYYY-MM-DD/kind=<kind>/` holds `part-<batch>.parquet` (one unsorted
file per appended batch and partition) and `sorted-<generation>-<n>.parquet` (compaction output,
sorted by subject). Files are immutable; names are never reused. Work in progress is written as
`.tmp-*` and made visible by an atomic rename, so a reader never sees a half-written file. A
batch's parts are staged as `.tmp-part-<batch>.parquet` and all renamed only once all are
durable and the batch is committed (`staging.py`).

A compaction swaps several files at once, which no single rename can do. Before the swap it
writes an intent file (`.intent-<generation>.json`) naming its inputs and outputs; listings
apply the intent, so a crash in the middle of a swap never shows rows twice or loses them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from safecity.core.filemode import PRIVATE_FILE, make_private_dirs

RECORDS_DIR = "records"
PART_PREFIX = "part-"
SORTED_PREFIX = "sorted-"
TMP_PREFIX = ".tmp-"
STAGED_PREFIX = TMP_PREFIX + PART_PREFIX  # a batch's part before its commit: only recovery removes it
INTENT_PREFIX = ".intent-"
SUFFIX = ".parquet"

# Kinds become folder names: only plain identifiers may, so no value can escape the lake root.
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_KIND_DIR = re.compile(r"^kind=([a-z][a-z0-9_]{0,63})$")


@dataclass(frozen=True, slots=True)
class Partition:
    """One (UTC date, kind) folder of the lake."""

    day: date
    kind: str
    path: Path


def records_root(root: Path) -> Path:
    """The folder under which all record partitions live."""
    return root / RECORDS_DIR


def partition_path(root: Path, day: date, kind: str) -> Path:
    """The folder of one (date, kind) partition."""
    return records_root(root) / f"date={day.isoformat()}" / f"kind={kind}"


def days_between(start: datetime, end: datetime) -> list[date]:
    """UTC dates that overlap the half-open interval [start, end)."""
    if end <= start:
        return []
    first = start.date()
    last = (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def partitions_for(root: Path, days: Iterable[date], kinds: Sequence[str] | None) -> list[Partition]:
    """Existing partitions of the given dates (and kinds), found without listing other dates."""
    found: list[Partition] = []
    for day in days:
        day_dir = records_root(root) / f"date={day.isoformat()}"
        if kinds is not None:
            for kind in kinds:
                path = day_dir / f"kind={kind}"
                if path.is_dir():
                    found.append(Partition(day, kind, path))
            continue
        found.extend(Partition(day, kind, path) for kind, path in _kind_dirs(day_dir))
    return found


def all_partitions(root: Path) -> list[Partition]:
    """Every partition in the lake, oldest date first."""
    base = records_root(root)
    if not base.is_dir():
        return []
    found: list[Partition] = []
    for entry in sorted(os.scandir(base), key=lambda e: e.name):
        match = _DATE_DIR.match(entry.name)
        if match and entry.is_dir():
            day = date.fromisoformat(match.group(1))
            found.extend(Partition(day, kind, path) for kind, path in _kind_dirs(Path(entry.path)))
    return found


def _kind_dirs(day_dir: Path) -> Iterator[tuple[str, Path]]:
    try:
        entries = sorted(os.scandir(day_dir), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in entries:
        match = _KIND_DIR.match(entry.name)
        if match and entry.is_dir():
            yield match.group(1), Path(entry.path)


def data_files(partition_dir: Path) -> list[str]:
    """Paths of the visible data files of a partition, with any interrupted compaction resolved."""
    try:
        names = os.listdir(partition_dir)
    except FileNotFoundError:
        return []
    files = {n for n in names if n.endswith(SUFFIX) and n.startswith((PART_PREFIX, SORTED_PREFIX))}
    for intent_name in (n for n in names if n.startswith(INTENT_PREFIX)):
        intent = read_intent(partition_dir / intent_name)
        if intent is None:
            continue
        inputs, outputs = intent
        # Outputs are renamed into place before any input is removed, so "all outputs
        # present" means the compaction committed; otherwise the inputs are still the truth.
        if all(o in files for o in outputs):
            files.difference_update(inputs)
        else:
            files.difference_update(outputs)
    # Plain strings: building thousands of Path objects would dominate a count.
    base = str(partition_dir)
    return [os.path.join(base, n) for n in sorted(files)]


def is_sorted_file(path: str | Path) -> bool:
    """Tell whether a data file is compaction output (sorted by subject)."""
    return os.path.basename(path).startswith(SORTED_PREFIX)


def generation_of(path: str | Path) -> str | None:
    """The compaction generation a sorted file belongs to, or None for an appended part."""
    if not is_sorted_file(path):
        return None
    return os.path.basename(path)[len(SORTED_PREFIX) :].split("-", 1)[0]


def write_intent(partition_dir: Path, generation: str, inputs: Sequence[str], outputs: Sequence[str]) -> Path:
    """Durably record which files a compaction is about to replace by which."""
    body = json.dumps({"inputs": list(inputs), "outputs": list(outputs)}).encode()
    return write_durable(partition_dir, f"{INTENT_PREFIX}{generation}.json", body)


def read_intent(path: Path) -> tuple[list[str], list[str]] | None:
    """Read a compaction intent; None if it vanished or was never completely written."""
    try:
        body = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return list(body["inputs"]), list(body["outputs"])


def write_durable(directory: Path, name: str, data: bytes | memoryview) -> Path:
    """Write a file so that it is complete and on disk before its final name appears."""
    tmp = write_synced(directory / f"{TMP_PREFIX}{name}", data)
    final = directory / name
    os.replace(tmp, final)
    fsync_dir(directory)
    return final


def write_synced(path: Path, data: bytes | memoryview) -> Path:
    """Create a new file (its owner's only: records are about people) with these bytes on disk;
    on failure nothing is left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    return path


def fsync_file(path: Path) -> None:
    """Flush one file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (new, renamed or removed names) to disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(directory: Path) -> None:
    """Create a folder and make each newly created level durable in its parent."""
    if directory.is_dir():
        return
    for path in make_private_dirs(directory):
        fsync_dir(path.parent)
