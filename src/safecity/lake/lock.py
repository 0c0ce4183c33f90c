"""Reader/writer file locks (flock) that coordinate lake readers, compaction and retention.

`flock` locks belong to an open file description, so each acquisition opens the lock file
afresh: two threads of one process exclude each other exactly as two processes do. A holder
must not ask for a second lock on the same file while it holds one (that would deadlock).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from safecity.core.filemode import PRIVATE_FILE


class FileLock:
    """A shared/exclusive lock on one file, usable across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock in shared mode (many readers at once)."""
        with self._held(fcntl.LOCK_SH):
            yield

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock alone."""
        with self._held(fcntl.LOCK_EX):
            yield

    @contextmanager
    def _held(self, mode: int) -> Iterator[None]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            # Closing the descriptor releases the flock.
            os.close(fd)
