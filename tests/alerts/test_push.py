"""Live alert stream hub: fan-out to every client, slow clients dropped without holding others back."""

from __future__ import annotations

import asyncio

from safecity.alerts import AlertStream
from safecity.bus import ALERTS, MemoryBus


async def test_every_connected_client_receives_each_notice_in_order() -> None:
    hub = AlertStream()
    a, b = hub.subscribe(), hub.subscribe()

    for i in range(3):
        assert hub.publish({"type": "AlertRaised", "n": i}) == 2

    assert [(await a.__anext__())["n"] for _ in range(3)] == [0, 1, 2]
    assert [(await b.__anext__())["n"] for _ in range(3)] == [0, 1, 2]


async def test_a_slow_client_is_dropped_and_the_others_keep_receiving() -> None:
    hub = AlertStream(client_queue_size=2)
    slow, fast = hub.subscribe(), hub.subscribe()

    received = []
    for i in range(5):
        hub.publish({"n": i})
        received.append((await fast.__anext__())["n"])  # fast keeps up; slow never reads

    assert received == [0, 1, 2, 3, 4]
    assert slow.dropped
    assert hub.clients == 1
    assert [n async for n in slow] == []  # its stream ends, so the browser reconnects


async def test_closed_clients_leave_the_hub() -> None:
    hub = AlertStream()
    client = hub.subscribe()
    client.close()
    client.close()

    assert hub.clients == 0
    assert hub.publish({"n": 1}) == 0


async def test_hub_relays_bus_notices_and_ends_clients_when_stopped() -> None:
    bus = MemoryBus()
    hub = AlertStream()
    runner = asyncio.create_task(hub.run(bus))
    await asyncio.sleep(0)
    client = hub.subscribe()

    await bus.publish(ALERTS, {"type": "AlertRaised", "alert_id": "A1"})
    notice = await asyncio.wait_for(client.__anext__(), timeout=2)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)

    assert notice["alert_id"] == "A1"
    assert [n async for n in client] == []
    assert hub.clients == 0
