"""The reader pool: processes that run plate and face reading away from the event loop and ingest.

Reading is CPU work in native code (ONNX Runtime, dlib): it runs in a process pool sized by
`recognition_workers` (the machine's cores less one), started with `spawn` because the platform's
process holds threads and sockets a fork would copy. Each process loads its models once.

A poisoned image must not take recognition down. When a process dies (a native crash) every
image in flight fails with the pool; the pool is built again and each of those images is read
once more in a quarantine process of its own, one at a time, so that a second crash can only be
that image's. An image that crashes there, or runs past the time limit, is the poison: it is
marked failed with the reason, and the others go on.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)
T = TypeVar("T")


class ReaderFailed(RuntimeError):
    """Reading an image crashed its process twice, or ran past the time limit: the reason says which."""


def log_destination() -> tuple[str | None, int]:
    """Where this process's structured logs go (a file's path, or None for the terminal) and from
    what level: the readers, spawned without the platform's logging set-up, log to the same place."""
    import logging

    factory = structlog.get_config().get("logger_factory")
    stream = getattr(factory, "_file", None)
    name = getattr(stream, "name", None)
    path = name if isinstance(name, str) and not name.startswith("<") else None
    return path, logging.getLogger().getEffectiveLevel()


def _quiet_child(log_path: str | None = None, level: int = 20) -> None:
    # One thread per process: the pool already spreads images over the cores, and nested thread
    # pools (ONNX Runtime, OpenBLAS) fighting over two cores would slow everything.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import logging
    import sys

    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    # The platform's log lines go to a file unless asked for: a reader's go with them.
    stream = open(log_path, "a", encoding="utf-8", buffering=1) if log_path else sys.stderr  # noqa: SIM115
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
    )


class ReaderPool:
    """A process pool that survives crashing and hanging work."""

    def __init__(
        self, workers: int, *, timeout_s: float, initializer: Callable[..., None] = _quiet_child
    ) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self._initializer = initializer
        self._initargs = log_destination() if initializer is _quiet_child else ()
        self._pool: ProcessPoolExecutor | None = None
        self._quarantine: ProcessPoolExecutor | None = None
        self._alone = asyncio.Lock()  # the quarantine reads one image at a time
        self.crashes = 0

    def _new(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=self._initializer,
            initargs=self._initargs,
        )

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = self._new(self.workers)
        return self._pool

    @staticmethod
    def _stop(pool: ProcessPoolExecutor | None, *, kill: bool) -> None:
        if pool is None:
            return
        if kill:
            # A hung reader never returns: its process must go (the executor has no public way).
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def _discard(self, *, kill: bool) -> None:
        pool, self._pool = self._pool, None
        self._stop(pool, kill=kill)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """`func(*args)` in a reader process; ReaderFailed if it crashes twice or hangs."""
        pool = self._executor()
        try:
            return await asyncio.wait_for(asyncio.wrap_future(pool.submit(func, *args)), self.timeout_s)
        except BrokenProcessPool:
            self.crashes += 1
            if self._pool is pool:
                self._discard(kill=False)
        except TimeoutError:
            self.crashes += 1
            if self._pool is pool:
                self._discard(kill=True)
            raise ReaderFailed(f"reading took longer than {self.timeout_s:g} s") from None
        async with self._alone:
            if self._quarantine is None:
                self._quarantine = self._new(1)
            quarantine = self._quarantine
            try:
                return await asyncio.wait_for(
                    asyncio.wrap_future(quarantine.submit(func, *args)), self.timeout_s
                )
            except BrokenProcessPool:
                self._quarantine = None
                self._stop(quarantine, kill=False)
                raise ReaderFailed("the reader crashed on this image, alone in its process") from None
            except TimeoutError:
                self._quarantine = None
                self._stop(quarantine, kill=True)
                raise ReaderFailed(f"reading took longer than {self.timeout_s:g} s") from None

    def close(self) -> None:
        """Stop the processes (work in flight is abandoned; its images stay queued)."""
        self._discard(kill=True)
        quarantine, self._quarantine = self._quarantine, None
        self._stop(quarantine, kill=True)


__all__ = ["ReaderFailed", "ReaderPool"]
