"""A city's doors over a few shared MQTT connections: every door's controller logic (sim.door_controller)
kept in step with its retained list and deltas, for the whitelist benchmark and the broker-restart tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from safecity.places.whitelist import MESSAGE_DECODER, FullList
from safecity.sim.door_controller import DoorController


class DoorFarm:
    """Many simulated controllers sharing a few MQTT connections (a city's doors on one machine).

    Each door keeps its own state and topics exactly as `MqttDoorController` does (delta topic in
    a persistent session, the retained full list taken when wanted); only the sockets are
    shared, `per_client` doors to a connection, because thousands of paho clients would be
    thousands of threads. Reports are not sent from here (`MqttDoorController` does that).
    """

    def __init__(
        self,
        doors: list[str],
        *,
        host: str,
        port: int,
        prefix: str,
        per_client: int = 3000,
        name: str = "farm",
    ) -> None:
        self.states = {door: DoorController(door) for door in doors}
        self._prefix = prefix.rstrip("/")
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self.fulls_taken = 0  # full lists received (applied or confirming the held version)
        self._clients: list[tuple[mqtt.Client, list[str]]] = []
        self._client_ids: list[str] = []
        for n, start in enumerate(range(0, len(doors), per_client)):
            self._client_ids.append(f"{name}-{n}")
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{n}", protocol=mqtt.MQTTv5)
            client.max_inflight_messages_set(1000)
            client.reconnect_delay_set(1, 5)
            mine = doors[start : start + per_client]
            client.on_connect = self._on_connect_of(mine)
            client.on_message = self._on_message
            self._clients.append((client, mine))
        self._connected = threading.Semaphore(0)

    def _full(self, door: str) -> str:
        return f"{self._prefix}/devices/{door}/whitelist"

    def _delta(self, door: str) -> str:
        return f"{self._prefix}/devices/{door}/whitelist/delta"

    def connect(self, timeout_s: float = 30.0) -> None:
        """Connect every shared client (persistent sessions) and wait for their CONNACKs."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 24 * 3600
        for client, _ in self._clients:
            client.connect_async(self._host, self._port, keepalive=30, clean_start=False, properties=props)
            client.loop_start()
        for _ in self._clients:
            if not self._connected.acquire(timeout=timeout_s):
                raise TimeoutError("the door farm could not connect")

    def close(self, *, forget_sessions: bool = False) -> None:
        """Disconnect every client (and, for benchmarks and tests, have the broker forget them)."""
        for (client, _), client_id in zip(self._clients, self._client_ids, strict=True):
            client.disconnect()
            client.loop_stop()
            if forget_sessions:
                purge = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
                purge.connect(self._host, self._port, clean_start=True)
                purge.disconnect()

    def in_step(self, server: dict[str, tuple[int, str]]) -> int:
        """How many doors hold the server's (version, digest)."""
        with self._lock:
            return sum(1 for d, s in self.states.items() if server.get(d) == (s.version, s.digest))

    def _on_connect_of(self, doors: list[str]) -> Callable[..., None]:
        def on_connect(client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                return
            with self._lock:
                if not flags.session_present:
                    for door in doors:
                        self.states[door].wants_full = True  # the broker lost our session: check the list
                wanting = [d for d in doors if self.states[d].wants_full]
            topics = [(self._delta(d), 1) for d in doors] + [(self._full(d), 1) for d in wanting]
            for start in range(0, len(topics), 500):
                client.subscribe(topics[start : start + 500])
            self._connected.release()

        return on_connect

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            message = MESSAGE_DECODER.decode(msg.payload)
        except msgspec.DecodeError:
            return
        state = self.states.get(message.door)
        if state is None:
            return
        with self._lock:
            state.take(message)
            wants_full = state.wants_full
            if isinstance(message, FullList) and not wants_full:
                self.fulls_taken += 1
        if msg.topic.endswith("/whitelist"):
            if not wants_full:
                client.unsubscribe(msg.topic)
        elif wants_full:
            client.subscribe(self._full(message.door), qos=1)


__all__ = ["DoorFarm"]
