"""Storage that really refuses writes, for tests that run as root (as CI and this machine do).

Permission bits do not stop root, so `chmod a-w` proves nothing here. Two mechanisms that do:

* `read_only_mount(path)`: a read-only bind mount of the folder over itself. Every write below
  it fails with EROFS, exactly what a disk remounted read-only after errors gives, and files a
  process already holds open for writing are not affected (as on a real remount, new files are).
  Needs CAP_SYS_ADMIN (root on a VM, not in an unprivileged container).
* `immutable(path)`: `chattr +i` on a folder. Nothing can be created, renamed or removed in it
  (EPERM), root included, while the files already in it can still be read. Needs
  CAP_LINUX_IMMUTABLE and a file system with the flag (ext4, xfs, btrfs; not tmpfs or overlayfs).

A plain user on any file system can still use the simplest trick, a file standing where a folder
should be (ENOTDIR); tests that only need one missing partition folder do that. Each helper
checks that a write really fails before it yields, and skips the test, saying why, where the
mechanism is not available.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _refuses_writes(folder: Path) -> bool:
    probe = folder / f".probe-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"x")
    except OSError:
        return True
    probe.unlink()
    return False


def _run(*command: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command, capture_output=True, check=False, timeout=30)


@contextmanager
def read_only_mount(folder: Path) -> Iterator[None]:
    """Make a folder (and everything below it) read-only for every process until the block ends."""
    bound = _run("mount", "--bind", str(folder), str(folder))
    if bound.returncode:
        pytest.skip(f"cannot bind-mount {folder} (needs CAP_SYS_ADMIN): {bound.stderr.decode().strip()}")
    try:
        # A remount to read-only is refused (EBUSY) while a file below is open for writing through
        # the new mount: a server under load opens one every few milliseconds, so try again.
        for _ in range(200):
            remounted = _run("mount", "-o", "remount,ro,bind", str(folder))
            if not remounted.returncode:
                break
            time.sleep(0.01)
        if remounted.returncode or not _refuses_writes(folder):
            pytest.skip(f"a read-only bind mount does not refuse writes here: {remounted.stderr.decode()}")
        yield
    finally:
        # A file still open through the mount makes it busy: detach it lazily then (new opens go
        # to the folder underneath at once; the mount goes when the last file is closed).
        if _run("umount", str(folder)).returncode:
            _run("umount", "--lazy", str(folder))


@contextmanager
def immutable(folder: Path) -> Iterator[None]:
    """Forbid creating, renaming and removing entries in one folder until the block ends."""
    made = _run("chattr", "+i", str(folder))
    if made.returncode:
        pytest.skip(f"cannot make {folder} immutable (chattr +i): {made.stderr.decode().strip()}")
    try:
        if not _refuses_writes(folder):
            pytest.skip(f"an immutable folder still takes new files here ({folder})")
        yield
    finally:
        _run("chattr", "-i", str(folder))
