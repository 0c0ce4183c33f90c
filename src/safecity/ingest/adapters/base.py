"""The adapter contract: how records enter from one transport, and how messages go back to devices.

An adapter is one transport's entrance (HTTP, MQTT, replay files, and the TCP device servers for
GT06 and JT/T 808 in `tcp/server.py`). It

1. authenticates the device its own way (HTTP Basic against the registry, the broker's ACL behind
   an MQTT topic, a terminal's login frame), or is trusted to name devices itself (replay,
   `device_id=None`);
2. submits what it received to an `Intake` (the ingest pipeline): a `Part` for a JSON body, a
   `DecodedPart` for events it decoded itself (`core.record.WireEvent`), each with that device
   identity and the adapter's `source` label. Both take the same validation, de-duplication,
   ledger and dead letters; several devices' parts may share one call;
3. acknowledges to the device only after `submit_parts` returned, from the part's
   `IngestResult` (the HTTP answer, the MQTT PUBACK and results message, a protocol's reply
   frame); on `StorageUnavailable` it acknowledges nothing, so the device (or the adapter)
   retries;
4. if it can carry messages to devices (whitelists, commands), implements `DeviceLink` and is
   added to the platform's `DeviceLinks` while it runs, telling it which devices it heard from.

An adapter that runs in the background is a `core.worker.Worker`, contributed by a capability's
`build` (the MQTT adapter and the tracker servers by `ingest/capability.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from safecity.ingest.pipeline import IngestResult, Submission


class Intake(Protocol):
    """Where an adapter submits what it received (IngestPipeline implements it)."""

    async def submit_parts(self, parts: Sequence[Submission]) -> list[IngestResult]:
        """Make the parts durable or dead letters; one result per part, in order."""
        ...

    async def refuse_parts(self, parts: Sequence[Submission], reason: str) -> list[IngestResult]:
        """Keep parts as dead letters, refused whole with the reason; one result per part."""
        ...


class DeviceUnreachable(RuntimeError):
    """No link could hand the message to the device (none reaches it, or the transport refused)."""


@runtime_checkable
class DeviceLink(Protocol):
    """A transport that carries messages from the platform to devices.

    A message is a msgspec struct of the capability that sends it (tag it, e.g.
    `class Whitelist(msgspec.Struct, tag_field="type", tag="whitelist")`, so a device can tell
    messages apart); the link encodes it for its wire (JSON over MQTT, a protocol's frame) and
    raises `DeviceUnreachable` for a type or a device it cannot carry.
    """

    name: str

    def reaches(self, device_id: str) -> bool:
        """Whether a message to this device can be handed over now (connected, addressable)."""
        ...

    async def send(self, device_id: str, message: msgspec.Struct) -> None:
        """Hand one message over; return once the transport has taken charge of it."""
        ...
