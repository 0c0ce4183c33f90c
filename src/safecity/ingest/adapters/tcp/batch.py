"""Cross-connection batching: the reports of many tracker connections go to the pipeline together.

Without it each connection's read is its own `submit_parts` (its own ledger commit and lake
write): at thousands of terminals the platform spends itself on tiny batches. A `ReportBatcher`
gathers what connections submit within `linger_s` of the first waiting report (or until
`max_events` are waiting) into one `submit_parts` call of one part per connection, plus one
`refuse_parts` for their fixes at (0, 0), and wakes each connection once that call returned:
its acks are written only then, so an ack still means "durable". One batcher is shared by every
tracker server of a platform (`share`/`release`): a batch's fixed cost (~10 ms of validation,
ledger and lake) is then paid once for GT06 and JT/T 808 together, not once each.

* **Bounded latency**: a report waits at most `linger_s` before its batch is sent, plus the
  commits ahead of it. While a batch is with the pipeline the next one grows until that one is
  stored; only a full next batch (`max_events`) goes at once, up to `max_in_flight` batches (two,
  so that under full load one is validated while the other is written, as the pipeline's own
  stages allow; below full load a second batch only competes for the GIL).
* **Back-pressure**: when `max_pending_events` are waiting, `submit` waits for room before
  queueing; the connection's read loop waits with it, so the terminal's TCP window fills and a
  slow pipeline slows the terminals instead of growing buffers.
* **Failure**: `StorageUnavailable` fails every connection of the batch (nothing acked, the
  terminals resend, deterministic event ids make anything stored meanwhile a duplicate). Any
  other error of a batch of several connections is retried one connection at a time, so that a
  part that breaks the pipeline fails only its own connection, never its neighbours'.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Histogram

from safecity.ingest.adapters.base import Intake
from safecity.ingest.pipeline import DecodedPart, StorageUnavailable

log = structlog.get_logger(__name__)

BATCH_EVENTS = Histogram(
    "safecity_tracker_batch_events",
    "Events per cross-connection tracker batch",
    ["protocol"],
    buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
)
UNPLACED_REASON = "a fix at (0, 0): the receiver had no position"


class BatcherClosed(StorageUnavailable):
    """The batcher closed (its servers are stopping) before these reports were sent: not acked."""


@dataclass(slots=True)
class _Entry:
    """One connection's reports waiting for the next batch."""

    placed: DecodedPart | None
    unplaced: DecodedPart | None
    size: int
    arrived: float  # monotonic
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ReportBatcher:
    """Coalesce many connections' parts into few pipeline calls (see the module docstring)."""

    def __init__(
        self,
        intake: Intake,
        *,
        protocol: str,
        max_events: int = 2000,
        linger_s: float = 0.005,
        max_pending_events: int | None = None,
        max_in_flight: int = 2,
    ) -> None:
        if max_events < 1 or linger_s < 0:
            raise ValueError("a batch holds at least one event and lingers zero seconds or more")
        self.protocol = protocol
        self.max_events = max_events
        self.linger_s = linger_s
        self.max_pending_events = max_pending_events or 4 * max_events
        self._intake = intake
        self._waiting: list[_Entry] = []
        self._waiting_events = 0
        self._first_at = 0.0  # when the oldest waiting entry arrived (monotonic)
        self._work = asyncio.Event()  # something is waiting
        self._full = asyncio.Event()  # max_events are waiting: no more lingering
        self._room = asyncio.Event()  # set while fewer than max_pending_events are waiting
        self._room.set()
        # Connections that found no room, called back in order as room frees (no task each).
        self._room_waiters: collections.deque[Callable[[], None]] = collections.deque()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._idle = asyncio.Event()  # set while no batch is with the pipeline
        self._idle.set()
        self._runner: asyncio.Task[None] | None = None
        self._commits: set[asyncio.Task[None]] = set()
        self._users = 0

    @property
    def waiting_events(self) -> int:
        """Events queued for a batch not yet sent."""
        return self._waiting_events

    async def submit(self, placed: DecodedPart | None, unplaced: DecodedPart | None) -> None:
        """Queue one connection's events; return once they are durable (or dead letters).

        Raises `StorageUnavailable` if the batch could not be stored (nothing may be acked), and
        whatever else the pipeline raised for this connection's own part.
        """
        while not self.has_room:
            self._room.clear()
            await self._room.wait()
        done = self.enqueue(placed, unplaced)
        if done is not None:
            await done

    @property
    def has_room(self) -> bool:
        """Whether `enqueue` may be called without overrunning `max_pending_events`."""
        return self._waiting_events < self.max_pending_events

    def enqueue(
        self, placed: DecodedPart | None, unplaced: DecodedPart | None
    ) -> asyncio.Future[None] | None:
        """Queue one connection's events without waiting: the future is done once they are durable
        (or fails as `submit` raises); None when there is nothing to store. The caller checks
        `has_room` first, and when there is none asks `when_room` to be called back."""
        size = (len(placed.events) if placed else 0) + (len(unplaced.events) if unplaced else 0)
        if size == 0:
            return None
        entry = _Entry(placed, unplaced, size, time.monotonic())
        if not self._waiting:
            self._first_at = entry.arrived
        self._waiting.append(entry)
        self._waiting_events += size
        self._work.set()
        if self._waiting_events >= self.max_events:
            self._full.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name=f"{self.protocol}-batcher")
        return entry.done

    def share(self) -> ReportBatcher:
        """Count one more server using this batcher (each calls `release` when it stops)."""
        self._users += 1
        return self

    async def release(self) -> None:
        """One server stopped using the batcher; the last one closes it."""
        self._users -= 1
        if self._users <= 0:
            await self.close()

    def when_room(self, callback: Callable[[], None]) -> None:
        """Call `callback` (soon, in the loop) once `has_room`; in the order asked."""
        if self.has_room and not self._room_waiters:
            asyncio.get_running_loop().call_soon(callback)
            return
        self._room_waiters.append(callback)

    def _wake_waiters(self) -> None:
        loop = asyncio.get_running_loop()
        # Each woken connection queues about one read's reports: wake as many as there is room for.
        room = self.max_pending_events - self._waiting_events
        while self._room_waiters and room > 0:
            loop.call_soon(self._room_waiters.popleft())
            room -= max(1, self._waiting_events // max(1, len(self._waiting)))

    async def close(self, drain_timeout_s: float = 5.0) -> None:
        """Stop batching: whatever is still waiting fails as storage unavailable (not acked)."""
        self._room_waiters.clear()  # their connections are being closed
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        if self._commits:
            # Batches with the pipeline finish (the pipeline carries them through anyway); a
            # pipeline that hangs does not hold the shutdown past this.
            await asyncio.wait(list(self._commits), timeout=drain_timeout_s)
        waiting, self._waiting, self._waiting_events = self._waiting, [], 0
        self._room.set()
        if waiting:
            # One line for all of them (their connections do not log each): the terminals resend.
            log.info(
                "tracker_batcher_closed",
                protocol=self.protocol,
                unacknowledged=len(waiting),
                reports=sum(entry.size for entry in waiting),
            )
        for entry in waiting:
            if not entry.done.done():
                entry.done.set_exception(BatcherClosed("the tracker server is stopping"))
                entry.done.exception()  # retrieved, whether or not its connection still waits

    async def _run(self) -> None:
        """Send a batch whenever one is full or its oldest report has lingered long enough."""
        while True:
            await self._work.wait()
            remaining = self._first_at + self.linger_s - time.monotonic()
            if remaining > 0 and not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), remaining)
            if self._commits and not self._full.is_set():
                # A batch is with the pipeline: this one grows until that one is stored, unless it
                # fills first. A second batch at once only pays off under full load; below it,
                # the two only compete for the GIL and both take longer (decision 0011).
                await self._first_of(self._idle.wait(), self._full.wait())
            await self._slots.acquire()  # while batches are in flight, more reports join this one
            batch = self._take()
            task = asyncio.create_task(self._commit(batch))
            self._commits.add(task)
            self._idle.clear()
            task.add_done_callback(self._committed)

    def _committed(self, task: asyncio.Task[None]) -> None:
        self._commits.discard(task)
        self._slots.release()
        if not self._commits:
            self._idle.set()

    @staticmethod
    async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
        tasks = [asyncio.ensure_future(w) for w in waits]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()

    def _take(self) -> list[_Entry]:
        """The oldest waiting entries, up to max_events (at least one entry, whatever its size)."""
        count = taken = 0
        for entry in self._waiting:
            if count and taken + entry.size > self.max_events:
                break
            count += 1
            taken += entry.size
        batch, self._waiting = self._waiting[:count], self._waiting[count:]
        self._waiting_events -= taken
        self._full.clear()
        if self._waiting_events >= self.max_events:
            self._full.set()
        if self._waiting:
            self._first_at = self._waiting[0].arrived  # what stays has lingered already
        else:
            self._work.clear()
        if self._waiting_events < self.max_pending_events:
            self._room.set()  # the connections held back by back-pressure go on
            self._wake_waiters()
        BATCH_EVENTS.labels(self.protocol).observe(taken)
        return batch

    async def _commit(self, batch: list[_Entry]) -> None:
        """One pipeline call for the batch; on an error other than storage, one per connection."""
        try:
            await self._store(batch)
        except StorageUnavailable as exc:
            self._fail(batch, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                self._fail(batch, exc)
                return
            log.warning("tracker_batch_split", protocol=self.protocol, entries=len(batch), error=repr(exc))
            await asyncio.gather(*(self._commit([entry]) for entry in batch))
            return
        for entry in batch:
            if not entry.done.done():
                entry.done.set_result(None)

    async def _store(self, batch: list[_Entry]) -> None:
        placed = [e.placed for e in batch if e.placed is not None and e.placed.events]
        unplaced = [e.unplaced for e in batch if e.unplaced is not None and e.unplaced.events]
        if placed:
            await self._intake.submit_parts(placed)
        if unplaced:
            await self._intake.refuse_parts(unplaced, UNPLACED_REASON)

    def _fail(self, batch: list[_Entry], exc: BaseException) -> None:
        for entry in batch:
            if not entry.done.done():
                entry.done.set_exception(exc)
                entry.done.exception()  # retrieved: a connection closed meanwhile has nobody waiting


__all__ = ["BATCH_EVENTS", "UNPLACED_REASON", "BatcherClosed", "ReportBatcher"]
