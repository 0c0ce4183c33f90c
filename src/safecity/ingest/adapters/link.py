"""Which link reaches which device, so that a use case can message a device without naming a transport.

Links add themselves while they run. A device is reached over the link it was last heard on, if
that link still reaches it (a TCP session that is still open), else over the first running link
that reaches it (the MQTT broker, which holds messages for a device's persistent session).
Everything here runs on the event loop.
"""

from __future__ import annotations

import msgspec
import structlog

from safecity.ingest.adapters.base import DeviceLink, DeviceUnreachable

log = structlog.get_logger(__name__)


class DeviceLinks:
    """The running links and the one each device was last heard on."""

    def __init__(self) -> None:
        self._links: list[DeviceLink] = []
        self._heard_on: dict[str, DeviceLink] = {}

    @property
    def links(self) -> tuple[DeviceLink, ...]:
        """The running links, in the order they were added."""
        return tuple(self._links)

    def add(self, link: DeviceLink) -> None:
        """A link started."""
        if link not in self._links:
            self._links.append(link)

    def remove(self, link: DeviceLink) -> None:
        """A link stopped: forget it and the devices last heard on it."""
        if link in self._links:
            self._links.remove(link)
        self._heard_on = {d: x for d, x in self._heard_on.items() if x is not link}

    def heard(self, device_id: str, link: DeviceLink) -> None:
        """The device was just heard on this link (a message, a login, a heartbeat)."""
        self._heard_on[device_id] = link

    def lost(self, device_id: str, link: DeviceLink) -> None:
        """The device's session on this link ended (a TCP connection closed)."""
        if self._heard_on.get(device_id) is link:
            del self._heard_on[device_id]

    def link_for(self, device_id: str) -> DeviceLink | None:
        """The link a message to this device would take now, or None."""
        last = self._heard_on.get(device_id)
        if last is not None and last.reaches(device_id):
            return last
        return next((link for link in self._links if link.reaches(device_id)), None)

    async def send(self, device_id: str, message: msgspec.Struct) -> str:
        """Hand a message to the device over the link that reaches it; return that link's name.

        Raises DeviceUnreachable when no running link reaches the device or the link could not
        hand the message over.
        """
        link = self.link_for(device_id)
        if link is None:
            raise DeviceUnreachable(f"no running link reaches device {device_id!r}")
        await link.send(device_id, message)
        log.debug("device_message.sent", device=device_id, link=link.name, message=type(message).__name__)
        return link.name
