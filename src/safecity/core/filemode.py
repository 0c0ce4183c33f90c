"""Files the platform writes are its user's alone: identity pseudonyms, secrets, device data.

Data files are created mode 0600 and folders 0700 whatever the process umask (a library call
cannot rely on it); `safecity` itself also runs with umask 077, so that files written by any
library (Parquet writers, SQLite's journal) are private too. A data folder found open to others
is closed at start, which also covers files an older version left readable inside it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PRIVATE_UMASK = 0o077


def private_dir(path: Path, *, close: bool = False) -> bool:
    """Create a folder (and missing parents) for the owner only; with `close`, also take group and
    other access away from an existing one. Return True if an existing folder had to be closed."""
    if make_private_dirs(path) or not close:
        return False
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, mode & ~0o077)
        return True
    return False


def make_private_dirs(path: Path) -> list[Path]:
    """Create the missing levels of a folder path, owner-only; return them, outermost first."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    missing.reverse()
    for folder in missing:
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode passes through the umask
    return missing


def private_file(path: Path) -> None:
    """Make sure a file exists and only its owner may read or write it (created empty if missing)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, PRIVATE_FILE)
