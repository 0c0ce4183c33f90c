"""File locks: readers share, an exclusive holder waits for them, across threads of one process."""

from __future__ import annotations

import threading
from pathlib import Path

from safecity.lake.lock import FileLock


def test_exclusive_waits_for_a_shared_holder(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "lock")
    events: list[str] = []
    reader_in = threading.Event()
    release_reader = threading.Event()

    def reader() -> None:
        with lock.shared():
            events.append("reader in")
            reader_in.set()
            release_reader.wait(5)
            events.append("reader out")

    def writer() -> None:
        with lock.exclusive():
            events.append("writer in")

    r = threading.Thread(target=reader)
    r.start()
    reader_in.wait(5)
    w = threading.Thread(target=writer)
    w.start()
    w.join(0.2)
    assert w.is_alive()  # blocked behind the reader
    release_reader.set()
    r.join(5)
    w.join(5)

    assert events == ["reader in", "reader out", "writer in"]


def test_shared_holders_do_not_block_each_other(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "lock")
    with lock.shared():
        done = threading.Event()

        def second_reader() -> None:
            with lock.shared():
                done.set()

        t = threading.Thread(target=second_reader)
        t.start()
        t.join(5)
        assert done.is_set()
