"""A door controller as the field device behaves: its own whitelist, local decisions, an offline buffer.

`DoorController` is the device's logic, free of any transport: it takes whitelist messages by
the contract of places/whitelist.py (a delta only onto the version it is based on, the digest
checked before switching; a gap or a mismatch makes it want the full list), decides a swipe
from what it holds (so the door keeps working with the network down), and keeps every swipe
report in its buffer, under a stable event id, until the platform has acknowledged it: a report
sent twice is dropped by ingest's de-duplication, one never acknowledged is sent again.

`MqttDoorController` runs it over MQTT like a real controller (docs/doors.md): a persistent
session subscribed to its delta topic, the retained full list taken on start and whenever it
falls out of step, swipe reports published with QoS 1 to its events topic and dropped from the
buffer only once the broker acknowledged them (which the platform's adapter does only after
ingest made them durable). `cut` and `reconnect` take it off the network and back.
`HttpDoorController` is the same device polling over HTTP (`sim.door_farm` hosts a city's doors
over a few shared connections, for benchmarks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import httpx
import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from safecity.places.sync import is_acknowledged
from safecity.places.whitelist import (
    MESSAGE_DECODER,
    Delta,
    Entry,
    FullList,
    apply,
    by_key,
    card_key,
    digest,
)

EMPTY = digest(())
DOOR_STATES = frozenset({"door_forced", "door_held_open", "door_opened_no_swipe"})  # docs/doors.md


class DoorController:
    """The controller's state and decisions (not thread-safe: one caller at a time)."""

    def __init__(self, door: str) -> None:
        self.door = door
        self.version = 0
        self.digest = EMPTY
        self.salt: bytes | None = None
        self._entries: dict[str, Entry] = {}
        self._revoked: set[str] = set()  # keys taken off this door's list: reported as `revoked`
        self.wants_full = True  # nothing held yet: take the full list first
        self.newest_seen = 0  # the newest version any message told of
        self.online = True
        self._seq = 0
        self._buffer: dict[str, dict[str, Any]] = {}  # event id -> report, oldest first

    # --- whitelist --------------------------------------------------------------------------

    @property
    def entries(self) -> Mapping[str, Entry]:
        """The list held, by key (read-only)."""
        return MappingProxyType(self._entries)

    def take(self, message: FullList | Delta, *, current: bool = False) -> str:
        """Apply a whitelist message if it fits; returns applied, stale, gap, mismatch or other_door.

        `current`: the message is the server's answer of now (an HTTP poll), so a full list
        replaces ours even at a lower version (the server's database restored from a backup).
        Over MQTT a retained list can be older than a delta already applied, so it never is.
        """
        if message.door != self.door:
            return "other_door"
        if isinstance(message, FullList):
            return self._take_full(message, current=current)
        self.newest_seen = max(self.newest_seen, message.version)
        if message.version <= self.version:
            return "stale"  # redelivered, or already covered by a full list
        if message.base != self.version or self.salt is None:
            self.wants_full = True
            return "gap"
        entries = apply(self._entries, message.added, message.removed)
        if digest(entries.values()) != message.digest:
            self.wants_full = True
            return "mismatch"
        self._switch(message.version, message.digest, self.salt, entries)
        return "applied"

    def _take_full(self, message: FullList, *, current: bool) -> str:
        if current:
            self.newest_seen = message.version  # the server's own answer of now
        if message.version < self.version and not current:
            return "stale"  # an older retained list than the delta we applied
        if message.version == self.version and message.digest == self.digest and self.salt is not None:
            # In step, unless a delta told of a newer version (whose list is still on its way).
            self.wants_full = self.version < self.newest_seen
            return "stale"
        if digest(message.entries) != message.digest:
            self.wants_full = True
            return "mismatch"
        self._switch(message.version, message.digest, bytes.fromhex(message.salt), by_key(message.entries))
        self.wants_full = self.version < self.newest_seen
        return "applied"

    def _switch(self, version: int, new_digest: str, salt: bytes, entries: dict[str, Entry]) -> None:
        """Everything at once: a swipe never sees half a list (the new mapping was built aside)."""
        if salt == self.salt:
            revoked = (self._revoked | (self._entries.keys() - entries.keys())) - entries.keys()
        else:
            revoked = set()  # keys under another salt mean nothing here
        self._entries, self.salt, self.version, self.digest = entries, salt, version, new_digest
        self._revoked = revoked
        self.wants_full = False

    # --- swipes ---------------------------------------------------------------------------------

    def decide(self, number: str, at: datetime) -> tuple[bool, str]:
        """Open or not for a card, from the list held (no network needed)."""
        if self.salt is None:
            return False, "not_listed"
        key = card_key(self.salt, number)
        entry = self._entries.get(key)
        at_s = int(at.timestamp())
        if entry is None:
            return False, "revoked" if key in self._revoked else "not_listed"
        if entry.admits(at_s):
            return True, "listed" if entry.valid_until is None else "visitor"
        if entry.valid_until is not None and at_s >= entry.valid_until:
            return False, "expired"
        return False, "not_listed"

    def swipe(self, number: str, at: datetime) -> dict[str, Any]:
        """A card is presented: decide, and keep the report (door_swipe) until it is acknowledged."""
        granted, reason = self.decide(number, at)
        self._seq += 1
        event_id = f"{self.door}.{self._seq:09d}"  # stable: a resend carries the same id
        report = {
            "v": 1,
            "id": event_id,
            "kind": "door_swipe",
            "device": self.door,
            "ts": at.isoformat(),
            "subject": number,
            "code": "granted" if granted else "denied",
            "attrs": {"reason": reason, "wl_version": self.version, "buffered": not self.online},
        }
        self._buffer[event_id] = report
        return report

    def door_state(self, code: str, at: datetime) -> dict[str, Any]:
        """The door itself reports (forced, held open, opened without a swipe): an alarm, buffered alike."""
        if code not in DOOR_STATES:
            raise ValueError(f"{code!r} is not a door state ({', '.join(sorted(DOOR_STATES))})")
        self._seq += 1
        event_id = f"{self.door}.{self._seq:09d}"
        report = {
            "v": 1,
            "id": event_id,
            "kind": "alarm",
            "device": self.door,
            "ts": at.isoformat(),
            "code": code,
        }
        self._buffer[event_id] = report
        return report

    def outbox(self, limit: int = 500) -> list[dict[str, Any]]:
        """The oldest reports not yet acknowledged."""
        return [r for _, r in zip(range(limit), self._buffer.values(), strict=False)]

    def acknowledged(self, event_ids: list[str]) -> None:
        """The platform has these reports: drop them from the buffer."""
        for event_id in event_ids:
            self._buffer.pop(event_id, None)

    @property
    def buffered(self) -> int:
        """Reports waiting to be delivered."""
        return len(self._buffer)


class MqttDoorController:
    """A DoorController on MQTT: persistent session, retained full list, deltas, QoS 1 reports."""

    def __init__(
        self,
        door: str,
        *,
        host: str,
        port: int,
        prefix: str,
        password: str | None = None,
        check_every_s: float | None = 300.0,
    ) -> None:
        self.state = DoorController(door)
        self._check_every_s = check_every_s  # the periodic check (`check`); None: only when called
        self._stop_checks = threading.Event()
        self._checker: threading.Thread | None = None
        self._host, self._port, self._prefix = host, port, prefix.rstrip("/")
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"door-{door}", protocol=mqtt.MQTTv5
        )
        if password is not None:
            self._client.username_pw_set(door, password)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._connected = threading.Event()
        self._in_flight: list[tuple[mqtt.MQTTMessageInfo, list[str]]] = []
        self._sending = threading.Lock()
        self.outcomes: list[str] = []  # what each whitelist message did (applied, stale, gap, ...)
        self.changed = threading.Condition(self._lock)

    @property
    def full_topic(self) -> str:
        """Where the door's full list is retained."""
        return f"{self._prefix}/devices/{self.state.door}/whitelist"

    @property
    def delta_topic(self) -> str:
        """Where the door's deltas come."""
        return f"{self._prefix}/devices/{self.state.door}/whitelist/delta"

    @property
    def events_topic(self) -> str:
        """Where the door's reports go."""
        return f"{self._prefix}/devices/{self.state.door}/events"

    def connect(self, timeout_s: float = 10.0) -> None:
        """Join the network (a persistent session: deltas wait for us while we are away)."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 24 * 3600
        self._connected.clear()
        self._client.connect(self._host, self._port, keepalive=30, clean_start=False, properties=props)
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            raise TimeoutError(f"door {self.state.door} could not connect")
        with self._lock:
            self.state.online = True
        self.start_checks()

    def start_checks(self) -> None:
        """Run the periodic check in the background (if an interval was given)."""
        if self._check_every_s is not None and self._checker is None:
            self._stop_checks.clear()
            self._checker = threading.Thread(
                target=self._checks, name=f"door-{self.state.door}-checks", daemon=True
            )
            self._checker.start()

    def _checks(self) -> None:
        assert self._check_every_s is not None
        while not self._stop_checks.wait(self._check_every_s):
            self.check()

    def stop_checks(self) -> None:
        """Stop the periodic check (it starts again with the next connection, or `start_checks`)."""
        self._stop_checks.set()
        if self._checker is not None:
            self._checker.join(timeout=5)
            self._checker = None

    def check(self) -> None:
        """The periodic check: subscribe to the delta topic again; the retained newest delta says
        whether a message was lost (a version ahead of ours that does not apply makes us take the list)."""
        self._client.subscribe(self.delta_topic, qos=1)

    def cut(self) -> None:
        """Off the network: decisions go on locally, reports wait in the buffer."""
        with self._lock:
            self.state.online = False
        self.stop_checks()
        self._client.disconnect()
        self._client.loop_stop()

    def reconnect(self) -> None:
        """Back on the network: catch up with the list and send what was buffered."""
        self.connect()
        self.send()

    def close(self, *, forget_session: bool = False) -> None:
        """Leave (and, for tests, have the broker forget the session)."""
        self.stop_checks()
        self._client.disconnect()
        self._client.loop_stop()
        if forget_session:
            purge = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=f"door-{self.state.door}", protocol=mqtt.MQTTv5
            )
            purge.connect(self._host, self._port, clean_start=True)
            purge.disconnect()

    def swipe(self, number: str, at: datetime) -> dict[str, Any]:
        """A card at the door: decided locally at once; reported now if online, else later."""
        with self._lock:
            report = self.state.swipe(number, at)
            online = self.state.online
        if online:
            self.send()
        return report

    def send(self) -> None:
        """Publish the buffered reports (one NDJSON message); they leave the buffer on PUBACK."""
        with self._sending:  # one send at a time: a report is never in two messages at once
            with self._lock:
                if not self.state.online:
                    return
                self._settle()
                sending = {i for _, ids in self._in_flight for i in ids}
                reports = [r for r in self.state.outbox() if r["id"] not in sending]
            if not reports:
                return
            body = b"\n".join(msgspec.json.encode(r) for r in reports)
            # Outside the state lock: paho's thread takes it to hand over whitelist messages.
            info = self._client.publish(self.events_topic, body, qos=1)
            with self._lock:
                self._in_flight.append((info, [str(r["id"]) for r in reports]))

    def _settle(self) -> None:
        """Drop from the buffer what the broker acknowledged (called holding the lock)."""
        still = []
        for info, ids in self._in_flight:
            if is_acknowledged(info):
                self.state.acknowledged(ids)
            elif info.rc == mqtt.MQTT_ERR_SUCCESS or info.rc == mqtt.MQTT_ERR_NO_CONN:
                still.append((info, ids))
        if not self.state.online:
            # A publish the broker never acknowledged before the cut is sent again from the buffer.
            still = []
        self._in_flight = still

    def delivered(self) -> bool:
        """Whether every report has been acknowledged."""
        with self._lock:
            self._settle()
            return self.state.buffered == 0

    def wait_for(self, condition: Callable[[DoorController], bool], timeout_s: float = 10.0) -> bool:
        """Block until the state satisfies condition (whitelist messages arrive on paho's thread)."""
        with self.changed:
            return self.changed.wait_for(lambda: condition(self.state), timeout_s)

    # paho's thread

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        client.subscribe(self.delta_topic, qos=1)
        with self._lock:
            wants_full = self.state.wants_full or not flags.session_present
        if wants_full:
            client.subscribe(self.full_topic, qos=1)
        self._connected.set()

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            message = MESSAGE_DECODER.decode(msg.payload)
        except msgspec.DecodeError:
            return
        with self.changed:
            outcome = self.state.take(message)
            self.outcomes.append(outcome)
            wants_full = self.state.wants_full
            self.changed.notify_all()
        if msg.topic == self.full_topic:
            if not wants_full:
                client.unsubscribe(self.full_topic)  # taken: the deltas keep it current from here
            # else stay subscribed: the newer list a delta told of comes as it is published
        elif wants_full:
            client.subscribe(self.full_topic, qos=1)  # (again) makes the broker send the retained list


class HttpDoorController:
    """A DoorController that polls over HTTP: its list by `GET .../whitelist?since=`, its reports by
    `POST /api/v1/ingest`, both with its device id and secret (HTTP Basic)."""

    def __init__(self, door: str, secret: str, client: httpx.Client) -> None:
        self.state = DoorController(door)
        self._client = client
        self._auth = httpx.BasicAuth(door, secret)

    def poll(self) -> str:
        """Bring the list up to date: a delta onto the version held, else the full list."""
        since = None if self.state.wants_full else self.state.version
        outcome = self.state.take(self._fetch(since), current=True)
        if self.state.wants_full:  # a gap or a mismatch: the whole list, then
            outcome = self.state.take(self._fetch(None), current=True)
        return outcome

    def _fetch(self, since: int | None) -> FullList | Delta:
        params = {} if since is None else {"since": since}
        answer = self._client.get(
            f"/api/v1/doors/{self.state.door}/whitelist", params=params, auth=self._auth
        )
        answer.raise_for_status()
        return MESSAGE_DECODER.decode(answer.content)

    def swipe(self, number: str, at: datetime) -> dict[str, Any]:
        """Decide locally and keep the report for the next `send`."""
        return self.state.swipe(number, at)

    def ask(self, number: str, at: datetime, event_id: str) -> tuple[bool, str]:
        """A controller that asks per swipe: the platform decides and records the swipe itself.

        With the network down it falls back to its own list and buffers the report, as any swipe.
        """
        body = {"id": event_id, "card": number, "ts": at.isoformat()}
        try:
            answer = self._client.post(f"/api/v1/doors/{self.state.door}/check", json=body, auth=self._auth)
        except httpx.TransportError:
            answer = None
        if answer is None or answer.status_code >= 500:
            report = self.state.swipe(number, at)
            return report["code"] == "granted", str(report["attrs"]["reason"])
        answer.raise_for_status()
        found = answer.json()
        return bool(found["granted"]), str(found["reason"])

    def send(self) -> int:
        """Upload the buffered reports; those the platform answered for leave the buffer. How many."""
        reports = self.state.outbox()
        if not reports or not self.state.online:
            return 0
        body = b"\n".join(msgspec.json.encode(r) for r in reports)
        try:
            answer = self._client.post(
                "/api/v1/ingest",
                content=body,
                auth=self._auth,
                headers={"Content-Type": "application/x-ndjson"},
            )
        except httpx.TransportError:
            return 0  # kept: sent again next time, under the same ids
        if answer.status_code != 200:
            return 0  # 503 while storage is away, say: kept for the next try
        # Stored, duplicates and dead letters alike are the platform's now: nothing is lost by dropping them.
        self.state.acknowledged([str(r["id"]) for r in reports])
        return len(reports)


__all__ = ["DOOR_STATES", "EMPTY", "DoorController", "HttpDoorController", "MqttDoorController"]
