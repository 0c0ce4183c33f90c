"""Live alert notices for browsers: one bus subscription fanned out to every connected SSE client.

Each client has a small bounded queue. Fan-out never waits: a client whose queue is full is
dropped (its stream ends and the browser's EventSource reconnects), so one slow console cannot
hold back the others or the bus.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from safecity.bus import ALERTS, Bus

log = structlog.get_logger(__name__)

SSE_CLIENTS = Gauge("safecity_sse_clients", "Connected alert stream clients")
SSE_DROPPED = Counter("safecity_sse_clients_dropped_total", "Alert stream clients dropped for being slow")

_END = object()  # queued to end a client's iteration


class StreamClient:
    """One connected client: an async iterator of notices that ends when it is closed or dropped."""

    def __init__(self, hub: AlertStream, maxsize: int) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=maxsize)
        self.dropped = False
        self.closed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self.closed:
            raise StopAsyncIteration
        item = await self.queue.get()
        if item is _END:
            self.close()
            raise StopAsyncIteration
        assert isinstance(item, dict)
        return item

    def offer(self, notice: dict[str, Any]) -> bool:
        """Queue a notice without waiting; False (and the client is dropped) if the queue is full."""
        try:
            self.queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.dropped = True
            self.end()
            return False
        return True

    def end(self) -> None:
        """End the client's iteration at its next read, discarding its backlog if the queue is full."""
        if self.queue.full():
            while not self.queue.empty():
                self.queue.get_nowait()
        self.queue.put_nowait(_END)

    def close(self) -> None:
        """Leave the hub; idempotent."""
        if not self.closed:
            self.closed = True
            self._hub._remove(self)


class AlertStream:
    """A hub that relays ALERTS notices to every connected client."""

    def __init__(self, *, client_queue_size: int = 100, keepalive_s: float = 15.0) -> None:
        self._clients: set[StreamClient] = set()
        self._client_queue_size = client_queue_size
        self.keepalive_s = keepalive_s
        self.group = f"sse-{uuid.uuid4().hex[:12]}"
        self.relayed = 0

    @property
    def clients(self) -> int:
        """How many clients are connected."""
        return len(self._clients)

    def subscribe(self) -> StreamClient:
        """Connect a client now (so nothing published after this call is missed)."""
        client = StreamClient(self, self._client_queue_size)
        self._clients.add(client)
        SSE_CLIENTS.inc()
        return client

    def _remove(self, client: StreamClient) -> None:
        if client in self._clients:
            self._clients.discard(client)
            SSE_CLIENTS.dec()

    def publish(self, notice: dict[str, Any]) -> int:
        """Fan one notice out to every client; returns how many received it."""
        received = 0
        for client in list(self._clients):
            if client.offer(notice):
                received += 1
            else:
                self._remove(client)
                SSE_DROPPED.inc()
                log.warning("alert stream client dropped: too slow", queue_size=self._client_queue_size)
        self.relayed += 1
        return received

    async def run(self, bus: Bus) -> None:
        """Relay ALERTS notices until cancelled; connected clients are ended when it stops."""
        sub = bus.subscribe(ALERTS, group=self.group)
        try:
            async for delivery in sub:
                if isinstance(delivery.payload, dict):
                    self.publish(delivery.payload)
                await delivery.ack()
        finally:
            await sub.close()
            for client in list(self._clients):
                client.end()
                self._remove(client)
