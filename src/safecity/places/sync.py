"""Whitelists to the doors over MQTT: a door's full list retained, each change as a delta, all kept current.

Per door two topics (docs/doors.md):

* `{prefix}/devices/{door}/whitelist` — the full list, **retained** (QoS 1): a controller that
  starts, or finds a gap in the versions, subscribes to it, takes the list the broker holds and
  unsubscribes;
* `{prefix}/devices/{door}/whitelist/delta` — each change (QoS 1, the newest retained): a
  controller keeps a persistent session subscribed to it, so what changed while it was away
  waits for it; subscribing again (at reconnection, and periodically) hands it the newest delta,
  whose version tells a controller that lost a message that it is behind.

The retained list needs a publish option the ingest adapter's `DeviceLink` does not carry, and
a delta must not overtake the full list it leads to on the wire, so both go out on one
connection of their own. `WhitelistSync` is the worker: it hears `AccessChanged` (from this
process or another), rebuilds the lists of that place's doors off the event loop, and publishes
what changed; at start, and whenever the broker comes back without our session (a restart
that lost its retained messages), it publishes every door's full list again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from safecity.bus.hub import EventHub
from safecity.places.doors import Doors, Update
from safecity.places.events import AccessChanged
from safecity.places.whitelist import ENCODER, Delta, FullList

log = structlog.get_logger(__name__)

PAGE = 500  # full lists read from the database per round when publishing them all


def full_topic(prefix: str, door: str) -> str:
    """Where a door's full list is retained."""
    return f"{prefix}/devices/{door}/whitelist"


def delta_topic(prefix: str, door: str) -> str:
    """Where a door's deltas are published."""
    return f"{prefix}/devices/{door}/whitelist/delta"


def is_acknowledged(info: mqtt.MQTTMessageInfo) -> bool:
    """Whether the broker has acknowledged a QoS 1 publish.

    A message published while the connection is down is queued by paho and sent on
    reconnection (rc NO_CONN), but paho's `is_published` raises for it: read its flag instead.
    """
    if info.rc == mqtt.MQTT_ERR_NO_CONN:
        return bool(getattr(info, "_published", False))
    return info.is_published()


class WhitelistPublisher:
    """One MQTT connection that puts whitelists on the broker (paho's thread; calls are thread-safe)."""

    def __init__(
        self,
        *,
        url: str,
        prefix: str,
        client_id: str,
        connect_timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            raise ValueError(f"expected mqtt://host:port or mqtts://host:port, got {url!r}")
        self.prefix = prefix.rstrip("/")
        self._host, self._port = parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if parts.scheme == "mqtts":
            self._client.tls_set()
        if parts.username is not None:
            self._client.username_pw_set(parts.username, parts.password)
        # Thousands of retained lists after a broker restart: a wide window, not paho's 20.
        self._client.max_inflight_messages_set(1000)
        self._client.on_connect = self._on_connect
        self._client.reconnect_delay_set(1, 30)
        self._connected = threading.Event()
        self._connections = 0
        self.on_session_lost: Callable[[], None] | None = None  # told from paho's thread
        self._timeout_s = connect_timeout_s
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self._lock = threading.Lock()

    async def start(self) -> None:
        """Connect (a persistent session, so that a broker that lost it can be told apart)."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 24 * 3600
        self._client.connect_async(self._host, self._port, keepalive=30, clean_start=False, properties=props)
        self._client.loop_start()
        if not await asyncio.to_thread(self._connected.wait, self._timeout_s):
            self.stop()
            raise TimeoutError(f"no MQTT connection to {self._host}:{self._port} after {self._timeout_s} s")

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, _c: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("whitelists.mqtt_refused", reason=str(reason))
            return
        self._connections += 1
        self._connected.set()
        if self._connections > 1 and not flags.session_present and self.on_session_lost is not None:
            # The broker came back without our session: it restarted, and its retained lists may be gone.
            log.warning("whitelists.broker_lost_session")
            self.on_session_lost()

    def publish_full(self, full: FullList) -> None:
        """Retain a door's full list (replacing the one the broker held)."""
        self._publish(full_topic(self.prefix, full.door), ENCODER.encode(full), retain=True)

    def publish_delta(self, delta: Delta) -> None:
        """Send a door's delta to its controller's session (retained: the newest one tells the version)."""
        self._publish(delta_topic(self.prefix, delta.door), ENCODER.encode(delta), retain=True)

    def publish_update(self, update: Update) -> None:
        """A change: the full list first, then the delta for controllers in step.

        In this order a controller that learns from the delta that it is behind, and subscribes
        to the full list, is handed the new one, never the one before it.
        """
        self.publish_full(update.full)
        self.publish_delta(update.delta)

    def _publish(self, topic: str, payload: bytes, *, retain: bool) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        with self._lock:
            self._pending = [p for p in self._pending if not is_acknowledged(p)]
            self._pending.append(info)

    async def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until the broker acknowledged everything published so far."""
        with self._lock:
            waiting = list(self._pending)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        for info in waiting:
            while not is_acknowledged(info):
                if loop.time() > deadline:
                    raise TimeoutError("the broker did not acknowledge the whitelists in time")
                await asyncio.sleep(0.005)


class WhitelistSync:
    """The worker: rebuilds the lists of places whose access changed, and publishes them."""

    name = "whitelists"

    def __init__(
        self,
        doors: Doors,
        hub: EventHub,
        publisher: WhitelistPublisher | None,
        *,
        sweep_s: float = 300.0,
        catch_up: bool = True,
    ) -> None:
        self._doors = doors
        self._hub = hub
        self._publisher = publisher
        if publisher is not None:
            publisher.on_session_lost = self.republish_all
        self._sweep_s = sweep_s  # visitor passes and shop staff that ended leave the lists at the next sweep
        self._compounds: set[str] = set()
        self._shops: set[int] = set()
        self._everything = catch_up  # at start: catch up with what changed while we were down
        self._republish = True
        self._lock = threading.Lock()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._listening = False
        self.rounds = 0  # how many rounds ran (tests wait on it)
        self._published: dict[str, int] = {}  # door -> the version this worker last put on the broker
        self._passes_checked: datetime | None = None  # passes ended before this are off the lists

    async def start(self) -> None:
        """Listen to AccessChanged and start the loop (and the MQTT connection, if any)."""
        self._loop = asyncio.get_running_loop()
        if not self._listening:
            self._hub.on(AccessChanged, self._heard)
            self._listening = True
        if self._publisher is not None:
            await self._publisher.start()
        self._wake.set()
        self._task = self._loop.create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop and disconnect."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._publisher is not None:
            self._publisher.stop()
        self._loop = None

    def _heard(self, event: AccessChanged) -> None:
        """From any thread: note the place and wake the loop."""
        with self._lock:
            if event.compound_id is None and event.shop_id is None:
                self._everything = True  # a bulk load: every place changed
            if event.compound_id is not None:
                self._compounds.add(event.compound_id)
            if event.shop_id is not None:
                self._shops.add(event.shop_id)
        self._poke()

    def republish_all(self) -> None:
        """From any thread: publish every door's full list again (the broker lost them)."""
        with self._lock:
            self._republish = True
        self._poke()

    def _poke(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        swept = loop.time()
        self._passes_checked = self._doors.now()  # the city's time, which the lists are built on
        while True:
            # The sweep comes on time even while changes keep waking the loop.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, swept + self._sweep_s - loop.time()))
            if loop.time() - swept >= self._sweep_s:
                swept = loop.time()
                await self._sweep()
            self._wake.clear()
            try:
                await self.round()
            except Exception:
                # Kept for the next change or sweep: a failed round loses nothing but time.
                log.exception("whitelists.round_failed")
                with self._lock:
                    self._everything = True
                await asyncio.sleep(1.0)

    async def _sweep(self) -> None:
        """The compounds whose visitor passes, and the shops whose staff, ended since the last sweep:
        their lists shrink."""
        since = self._passes_checked or self._doors.now()
        ended, checked = await asyncio.to_thread(self._doors.passes_ended, since)
        shops = await asyncio.to_thread(self._doors.staff_ended, since, checked)
        self._passes_checked = checked
        with self._lock:
            self._compounds.update(ended)
            self._shops.update(shops)

    async def round(self) -> list[Update]:
        """Rebuild what is pending and publish it; returns the updates made."""
        with self._lock:
            compounds, shops, everything, republish = (
                self._compounds,
                self._shops,
                self._everything,
                self._republish,
            )
            self._compounds, self._shops, self._everything, self._republish = set(), set(), False, False
        started = time.perf_counter()
        updates: list[Update] = []
        if everything or compounds or shops:
            updates = await asyncio.to_thread(
                self._doors.rebuild, compound_ids=compounds, shop_ids=shops, everything=everything
            )
        if self._publisher is not None:
            for update in updates:
                self._publisher.publish_update(update)
                self._published[update.full.door] = update.full.version
            if republish:
                await self.publish_all()
            elif everything or compounds or shops:
                # Another process (a web worker without a broker) may have made a version for
                # the same change first: whatever we have not published yet goes out too.
                await self._publish_behind(compounds, shops, everything=everything)
        self.rounds += 1
        if updates:
            log.info(
                "whitelists.updated", doors=len(updates), seconds=round(time.perf_counter() - started, 3)
            )
        return updates

    async def _publish_behind(self, compounds: set[str], shops: set[int], *, everything: bool) -> None:
        assert self._publisher is not None
        heads = await asyncio.to_thread(
            self._doors.versions, compound_ids=compounds, shop_ids=shops, everything=everything
        )
        for door, version in heads.items():
            known = self._published.get(door)
            if known is not None and known >= version:
                continue
            step = await asyncio.to_thread(self._doors.whitelist, door, since=known)
            full = (
                step if isinstance(step, FullList) else await asyncio.to_thread(self._doors.whitelist, door)
            )
            assert isinstance(full, FullList)
            self._publisher.publish_full(full)  # first, as in publish_update
            if isinstance(step, Delta):
                self._publisher.publish_delta(step)
            else:
                # No delta bridges it (pruned, or a new salt): the marker makes controllers take the list.
                self._publisher.publish_delta(Delta(door, full.version, full.version, full.digest, [], []))
            self._published[door] = full.version

    async def publish_all(self) -> int:
        """Publish every door's full list (retained), a page at a time; how many."""
        assert self._publisher is not None
        after, count = "", 0
        while True:
            page = await asyncio.to_thread(self._doors.full_lists, after=after, limit=PAGE)
            for full in page:
                self._publisher.publish_full(full)
                self._published[full.door] = full.version
                # The retained delta topic tells the version too (a controller's periodic check):
                # an empty delta from the version to itself, which a controller in step ignores.
                self._publisher.publish_delta(
                    Delta(full.door, full.version, full.version, full.digest, [], [])
                )
            count += len(page)
            if len(page) < PAGE:
                return count
            after = page[-1].door


__all__ = ["WhitelistPublisher", "WhitelistSync", "delta_topic", "full_topic", "is_acknowledged"]
