"""Background workers: what a running platform starts and stops, whoever contributes it.

The composition root asks every part and every capability for its workers and starts them in
order, stopping them in reverse; nothing central knows what a worker does. Most workers are a
coroutine that runs until cancelled (`Task`) or a blocking step repeated on a timer (`Every`);
an adapter with its own connection (MQTT, a TCP device server) implements `start` and `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, runtime_checkable

import structlog

log = structlog.get_logger(__name__)


@runtime_checkable
class Worker(Protocol):
    """Something that runs in the background while the platform runs."""

    name: str

    async def start(self) -> None:
        """Begin; return once running (raise if it cannot start)."""
        ...

    async def stop(self) -> None:
        """End and release what it holds; safe to call once after `start`."""
        ...


class Task:
    """A worker that is one coroutine, run until cancelled; a crash is logged, not swallowed."""

    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.name = name
        self._run = run
        self._task: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)
        self._task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None


class Every(Task):
    """A blocking step run in a thread every `interval_s` seconds; a failing step is logged and retried."""

    def __init__(self, name: str, interval_s: float, step: Callable[[], Any]) -> None:
        super().__init__(name, self._loop)
        self.interval_s = interval_s
        self.step = step

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await asyncio.to_thread(self.step)
            except Exception:
                log.exception("worker.step_failed", worker=self.name)


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("platform.worker_crashed", worker=task.get_name(), error=repr(task.exception()))


__all__ = ["Every", "Task", "Worker"]
