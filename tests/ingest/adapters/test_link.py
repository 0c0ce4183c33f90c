"""DeviceLinks: a message to a device takes the link it was last heard on, else any link that reaches it."""

from __future__ import annotations

import msgspec
import pytest

from safecity.ingest.adapters import DeviceLink, DeviceLinks, DeviceUnreachable
from safecity.ingest.adapters.mqtt import MqttAdapter


class Whitelist(msgspec.Struct, tag_field="type", tag="whitelist"):
    """A message as a capability would define it."""

    cards: list[str]


class SessionLink:
    """A link like a TCP device server: reaches only the devices connected to it, or every one."""

    def __init__(self, name: str, connected: set[str] | None = None) -> None:
        self.name = name
        self.connected = connected  # None: every device (a broker)
        self.sent: list[tuple[str, msgspec.Struct]] = []
        self.refuse = False

    def reaches(self, device_id: str) -> bool:
        return self.connected is None or device_id in self.connected

    async def send(self, device_id: str, message: msgspec.Struct) -> None:
        if self.refuse:
            raise DeviceUnreachable("the terminal did not answer")
        self.sent.append((device_id, message))


MESSAGE = Whitelist(cards=["0123456789"])


def test_the_mqtt_adapter_and_a_session_server_are_device_links() -> None:
    assert isinstance(SessionLink("gt06"), DeviceLink)
    assert isinstance(MqttAdapter(object()), DeviceLink)  # type: ignore[arg-type]


async def test_a_device_is_messaged_over_the_link_it_was_last_heard_on() -> None:
    broker, server = SessionLink("mqtt"), SessionLink("gt06", connected={"TRK-1"})
    links = DeviceLinks()
    links.add(broker)
    links.add(server)
    links.heard("TRK-1", server)

    assert await links.send("TRK-1", MESSAGE) == "gt06"
    assert await links.send("BS-1", MESSAGE) == "mqtt"  # never heard: the first link that reaches it
    assert server.sent == [("TRK-1", MESSAGE)] and broker.sent == [("BS-1", MESSAGE)]


async def test_a_closed_session_or_a_stopped_link_falls_back_to_another_link() -> None:
    server, broker = SessionLink("gt06", connected={"TRK-1", "TRK-2", "TRK-3"}), SessionLink("mqtt")
    links = DeviceLinks()
    links.add(server)
    links.add(broker)
    for device in ("TRK-1", "TRK-2", "TRK-3"):
        links.heard(device, server)

    server.connected = {"TRK-2", "TRK-3"}  # TRK-1's connection closed
    links.heard("TRK-3", broker)  # TRK-3 now reports over MQTT
    links.lost("TRK-3", server)  # a late notice from the old session changes nothing

    assert links.link_for("TRK-1") is broker
    assert links.link_for("TRK-2") is server
    assert links.link_for("TRK-3") is broker
    links.remove(server)
    assert links.link_for("TRK-2") is broker
    assert links.links == (broker,)


async def test_a_device_no_link_reaches_is_unreachable() -> None:
    links = DeviceLinks()
    links.add(SessionLink("gt06", connected={"TRK-1"}))

    with pytest.raises(DeviceUnreachable, match="no running link reaches device 'TRK-9'"):
        await links.send("TRK-9", MESSAGE)


async def test_a_link_that_cannot_hand_the_message_over_says_so() -> None:
    server = SessionLink("gt06", connected={"TRK-1"})
    server.refuse = True
    links = DeviceLinks()
    links.add(server)

    with pytest.raises(DeviceUnreachable, match="did not answer"):
        await links.send("TRK-1", MESSAGE)
