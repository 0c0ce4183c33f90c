"""The bus interface: validated record batches and domain notices, from producers to workers.

Payloads are a record batch (a Polars DataFrame with the record schema), a typed `Event`
(core/events: registry changes, and every new notice), or a small JSON-able dict (the alert
notices that predate typed events). Each subscriber group receives every
message once and acknowledges it after handling; unacknowledged messages are redelivered by
backbones that persist them (NATS JetStream).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from safecity.core.events import Event

Payload = pl.DataFrame | Event | dict[str, Any]

# Topic names: one place, so that producers and consumers cannot drift apart.
RECORDS = "records"  # accepted record batches, after they are durable
ALERTS = "alerts"  # AlertRaised / AlertUpdated / AlertTransitioned notices
REGISTRY = "registry"  # RegistryChanged events: what cached registry facts to forget


async def _no_ack() -> None:
    return None


@dataclass(slots=True)
class Delivery:
    """One message handed to a subscriber."""

    topic: str
    payload: Payload
    headers: dict[str, str] = field(default_factory=dict)
    ack: Callable[[], Awaitable[None]] = _no_ack


class Subscription(Protocol):
    """An async stream of deliveries for one subscriber group."""

    def __aiter__(self) -> AsyncIterator[Delivery]:
        """Iterate over deliveries until the subscription is closed."""
        ...

    async def close(self) -> None:
        """Stop receiving."""
        ...


class Bus(Protocol):
    """A message backbone."""

    async def start(self) -> None:
        """Connect and create whatever the backbone needs."""
        ...

    async def publish(self, topic: str, payload: Payload, headers: dict[str, str] | None = None) -> None:
        """Publish one message; returns once the backbone has it."""
        ...

    def subscribe(self, topic: str, *, group: str) -> Subscription:
        """Subscribe a named group; every group sees every message published after it joined."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
