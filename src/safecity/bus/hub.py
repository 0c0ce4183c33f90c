"""The event hub: typed events to this process's handlers at once, and to every other process.

A use case announces an event where it writes (`store.announce`); once the transaction has
committed the hub calls the handlers registered for that event's type here, then publishes it
on the event's topic so that the other processes of a deployment (more web workers, a separate
ingest node) hear it too. What arrives from the bus is handed to the same handlers, except what
this hub sent itself. Handlers run in the thread that committed or on the loop: they must be
quick and thread-safe (forgetting a cache is the typical one).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import structlog

from safecity.bus.base import Bus
from safecity.core.events import Event
from safecity.core.record import new_id

log = structlog.get_logger(__name__)
E = TypeVar("E", bound=Event)
ORIGIN = "safecity-origin"  # header naming the hub that published a message


class EventHub:
    """Local handlers by event type, and the bus for everyone else."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.id = new_id()
        self._handlers: dict[type[Event], list[Callable[[Any], None]]] = defaultdict(list)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sending: set[concurrent.futures.Future[None]] = set()

    def on(self, kind: type[E], handler: Callable[[E], None]) -> None:
        """Call `handler` with every event of this type, from this process or another."""
        self._handlers[kind].append(handler)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Publish from now on (before the loop runs, events reach local handlers only)."""
        self._loop = loop

    def emit(self, events: Iterable[Event]) -> None:
        """Handle events here at once and send them to the other processes (from any thread)."""
        for event in events:
            self.handle(event)
            if self._loop is not None and not self._loop.is_closed():
                future = asyncio.run_coroutine_threadsafe(self._publish(event), self._loop)
                self._sending.add(future)
                future.add_done_callback(self._sending.discard)

    def handle(self, event: Event) -> None:
        """Call this process's handlers; one that fails is logged and does not stop the others."""
        for handler in self._handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:
                log.exception("event.handler_failed", event_type=type(event).__name__)

    async def _publish(self, event: Event) -> None:
        try:
            await self.bus.publish(event.topic, event, {ORIGIN: self.id})
        except Exception:  # the local handlers have run; other processes fall back to their cache TTLs
            log.exception("event.publish_failed", event_type=type(event).__name__, topic=event.topic)

    async def listen(self, topic: str) -> None:
        """Hand the events other processes publish on `topic` to the local handlers (runs until cancelled)."""
        async for delivery in self.bus.subscribe(topic, group=f"hub-{self.id}"):
            if isinstance(delivery.payload, Event) and delivery.headers.get(ORIGIN) != self.id:
                self.handle(delivery.payload)
            await delivery.ack()

    async def drain(self) -> None:
        """Wait until every event emitted so far has reached the bus."""
        pending = [asyncio.wrap_future(f) for f in list(self._sending)]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


__all__ = ["ORIGIN", "EventHub"]
