"""The event hub: local handlers at once, other processes over the bus, never one's own echo."""

from __future__ import annotations

import asyncio

import pytest

from safecity.bus import REGISTRY, MemoryBus
from safecity.bus.hub import EventHub
from safecity.bus.nats import EVENT_JSON, decode_payload
from safecity.core import events
from safecity.core.context import device_context
from safecity.registry import RegistryChanged


class Forgetful:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, event: RegistryChanged) -> None:
        self.seen.append(event.what)


async def test_an_event_reaches_local_handlers_at_once_and_other_hubs_over_the_bus() -> None:
    bus = MemoryBus()
    await bus.start()
    here, there = EventHub(bus), EventHub(bus)
    seen_here, seen_there = Forgetful(), Forgetful()
    here.on(RegistryChanged, seen_here)
    there.on(RegistryChanged, seen_there)
    listeners = [asyncio.create_task(h.listen(REGISTRY)) for h in (here, there)]
    await asyncio.sleep(0)  # both subscribed
    here.bind(asyncio.get_running_loop())
    here.emit([RegistryChanged(what="devices")])
    assert seen_here.seen == ["devices"]  # before anything crossed the bus
    await here.drain()
    for _ in range(20):
        if seen_there.seen:
            break
        await asyncio.sleep(0.01)
    assert seen_there.seen == ["devices"]
    assert seen_here.seen == ["devices"]  # its own echo is not handled twice
    for task in listeners:
        task.cancel()
    await bus.close()


def test_a_failing_handler_does_not_stop_the_others() -> None:
    hub = EventHub(MemoryBus())
    seen = Forgetful()

    def broken(event: RegistryChanged) -> None:
        raise ValueError("cache is broken")

    hub.on(RegistryChanged, broken)
    hub.on(RegistryChanged, seen)
    hub.emit([RegistryChanged(what="watchlist")])  # no loop bound: local handlers only
    assert seen.seen == ["watchlist"]


def test_events_cross_nats_as_tagged_json_with_their_context() -> None:
    ctx = device_context("BS-000001")
    event = RegistryChanged(what="areas", context=ctx)
    body = events.encode(event)
    assert b'"type":"RegistryChanged"' in body
    assert decode_payload(body, EVENT_JSON) == event
    # The old untyped notice is still read as a plain dict, so a mixed deployment keeps working.
    assert decode_payload(b'{"type":"RegistryChanged","what":"all"}', None) == {
        "type": "RegistryChanged",
        "what": "all",
    }


def test_an_unknown_event_type_is_refused_by_name() -> None:
    with pytest.raises(Exception, match="Nonsense"):
        events.decode(b'{"type":"Nonsense"}')
