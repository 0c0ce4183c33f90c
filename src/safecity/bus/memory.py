"""In-process bus: asyncio queues, one per subscriber group, for the embedded platform."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

from safecity.bus.base import Delivery, Payload

_CLOSED = object()


class MemorySubscription:
    """A bounded queue of deliveries for one group."""

    def __init__(self, bus: MemoryBus, topic: str, group: str, maxsize: int) -> None:
        self._bus = bus
        self.topic = topic
        self.group = group
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=maxsize)

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        while True:
            item = await self.queue.get()
            if item is _CLOSED:
                return
            assert isinstance(item, Delivery)
            yield item

    async def close(self) -> None:
        """Detach from the bus and end the iteration."""
        self._bus._detach(self)
        await self.queue.put(_CLOSED)


class MemoryBus:
    """Fan-out of each message to every subscribed group, with back-pressure on full queues."""

    def __init__(self, maxsize: int = 1024) -> None:
        self._maxsize = maxsize
        self._subs: dict[str, list[MemorySubscription]] = defaultdict(list)

    async def start(self) -> None:
        """Nothing to connect."""

    async def publish(self, topic: str, payload: Payload, headers: dict[str, str] | None = None) -> None:
        """Hand the message to every group subscribed to the topic (waits while a queue is full)."""
        for sub in list(self._subs.get(topic, ())):
            await sub.queue.put(Delivery(topic=topic, payload=payload, headers=dict(headers or {})))

    def subscribe(self, topic: str, *, group: str) -> MemorySubscription:
        """Join a group to a topic."""
        sub = MemorySubscription(self, topic, group, self._maxsize)
        self._subs[topic].append(sub)
        return sub

    def _detach(self, sub: MemorySubscription) -> None:
        if sub in self._subs.get(sub.topic, []):
            self._subs[sub.topic].remove(sub)

    async def close(self) -> None:
        """End every subscription."""
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.close()
