"""What a decoded tracker message becomes: the platform's `tracker_fix`, `alarm` and `heartbeat` events.

Pure (no socket, no registry): the server calls `events_of` for an authenticated terminal's
message and submits the result as one `DecodedPart`.

* Each fix is a `tracker_fix` (subject: the terminal id, as docs/ingest.md asks of a tracker);
  speed, course, validity, satellites, altitude, the message's status (battery, signal) and the
  fix's scalar extras go in `attrs` (`value` is a count's, not a speed).
* Each alarm name on a fix is an `alarm` with `code` the name (protocol.ALARMS), at the fix.
* A heartbeat or an LBS-only report is a `heartbeat` (the battery, signal and cells in `attrs`),
  and alarms a heartbeat carries (GT06 0x13) are `alarm`s: neither has a position of its own, so
  both are placed at the connection's last fix (`attrs.position = "last_fix"`); before any fix
  there is no position to give and nothing is recorded (a tracker has no registered position,
  so the pipeline would refuse them all).
* A fix at exactly (0, 0) is a receiver with no position, not a place in the Gulf of Guinea: its
  events are returned apart (`unplaced`), to be kept as dead letters rather than stored.

Event ids are deterministic, so a terminal that resends a message after a lost ack is stored
once: `{protocol}-{terminal}-{serial:04x}-{time in ms, hex}-{index of the fix in the message}`,
plus `-a{n}` for the n-th alarm of that fix and `-h` for a heartbeat (at most 57 characters
for a 20-digit JT/T 808 phone number, within the 64 an event id may have).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from safecity.core.record import WireEvent
from safecity.ingest.adapters.tcp.protocol import Fix, Message, MessageType, Position

FIX = "tracker_fix"
ALARM = "alarm"
HEARTBEAT = "heartbeat"
SCALARS = (str, int, float, bool)
MAX_TEXT = 128  # a scalar text extra longer than this (a raw item's hex) is left out of attrs


@dataclass(slots=True)
class Events:
    """A message's events: those to submit, and those with no position (dead letters)."""

    placed: list[WireEvent] = field(default_factory=list)
    unplaced: list[WireEvent] = field(default_factory=list)


def epoch_ms(ts: datetime) -> int:
    """Milliseconds since the epoch of a timezone-aware time."""
    return int(ts.timestamp() * 1000)


def event_id(protocol: str, terminal: str, serial: int | None, ts: datetime, index: int) -> str:
    """The deterministic id of the index-th fix of a message (see the module docstring)."""
    return _event_id(protocol, terminal, serial, epoch_ms(ts), index)


def _event_id(protocol: str, terminal: str, serial: int | None, ms: int, index: int) -> str:
    return f"{protocol}-{terminal}-{(serial or 0) & 0xFFFF:04x}-{ms:x}-{index}"


def no_position(lat: float, lon: float) -> bool:
    """A fix at exactly (0, 0): the receiver had no position (its events are dead letters)."""
    return lat == 0.0 and lon == 0.0


class RecentTimes:
    """Terminal times seen lately, as (epoch ms, UTC time), or None when the bytes are no date:
    most reports of a second carry the same time, whatever the terminal. Cleared when full."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._times: dict[Hashable, tuple[int, datetime] | None] = {}

    def get(self, key: Hashable, parse: Callable[[], datetime]) -> tuple[int, datetime] | None:
        """The time `key` (the clock bytes, and whatever else `parse` depends on) stands for; a
        `ValueError` of `parse` (the codecs' `BodyError`s) means no date."""
        if key not in self._times:
            if len(self._times) >= self._size:
                self._times.clear()
            try:
                ts = parse()
            except ValueError:
                self._times[key] = None
            else:
                self._times[key] = (epoch_ms(ts), ts)
        return self._times[key]


def fix_event(
    protocol: str, terminal: str, serial: int, ms: int, lat: float, lon: float, attrs: dict[str, Any]
) -> WireEvent:
    """The `tracker_fix` of a message's only fix: a codec's `plain_report` builds it this way."""
    return WireEvent(
        id=_event_id(protocol, terminal, serial, ms, 0),
        kind=FIX,
        ts=ms,
        subject=terminal,
        lat=lat,
        lon=lon,
        attrs=attrs,
    )


# Exact types first: this runs for every fix on the servers' hot path (a subclass, an IntEnum
# say, still passes by the isinstance that follows).
_NUMBERS = frozenset({int, float, bool})


def _scalars(values: dict[str, Any]) -> dict[str, Any]:
    """The JSON scalars of a dict (raw items, nested values and long texts are left out of attrs)."""
    return {
        k: v
        for k, v in values.items()
        if type(v) in _NUMBERS or (isinstance(v, SCALARS) and not (isinstance(v, str) and len(v) > MAX_TEXT))
    }


def _fix_attrs(fix: Fix, status: dict[str, Any]) -> dict[str, Any]:
    """A fix's attrs over the message's status (`status`: its scalars already)."""
    attrs = status | _scalars(fix.extras) if fix.extras else status.copy()
    attrs["valid"] = fix.valid
    if fix.speed_kmh is not None:
        attrs["speed_kmh"] = fix.speed_kmh
    if fix.course is not None:
        attrs["course"] = fix.course
    if fix.altitude_m is not None:
        attrs["altitude_m"] = fix.altitude_m
    if fix.satellites is not None:
        attrs["satellites"] = fix.satellites
    return attrs


def _fix_events(message: Message, protocol: str, terminal: str, out: Events) -> Position | None:
    """A tracker_fix per fix and an alarm per alarm name; returns the last placed position."""
    last: Position | None = None
    status = _scalars(message.status) if message.status else {}  # once per message: fixes share it
    for index, fix in enumerate(message.fixes):
        ms = epoch_ms(fix.ts)
        base = _event_id(protocol, terminal, message.serial, ms, index)
        unplaced = no_position(fix.lat, fix.lon)
        target = out.unplaced if unplaced else out.placed
        target.append(
            WireEvent(
                id=base,
                kind=FIX,
                ts=ms,
                subject=terminal,
                lat=fix.lat,
                lon=fix.lon,
                attrs=_fix_attrs(fix, status),
            )
        )
        for n, name in enumerate(fix.alarms):
            target.append(
                WireEvent(
                    id=f"{base}-a{n}",
                    kind=ALARM,
                    ts=ms,
                    code=name,
                    lat=fix.lat,
                    lon=fix.lon,
                    attrs={"valid": fix.valid},
                )
            )
        if not unplaced:
            last = Position(fix.lat, fix.lon, fix.ts)
    return last


def _heartbeat_events(
    message: Message, protocol: str, terminal: str, at: Position | None, now: datetime, out: Events
) -> None:
    """A heartbeat (and the alarms it carries) at the last fix; nothing when there is none."""
    if at is None:
        return
    # An LBS report has the terminal's own time; a heartbeat has none, so the server's is used.
    ts = message.fields.get("ts")
    ts = ts if isinstance(ts, datetime) else now
    base = event_id(protocol, terminal, message.serial, ts, 0)
    ms = epoch_ms(ts)
    attrs: dict[str, Any] = _scalars(message.status) | {"position": "last_fix", "message": message.type.value}
    cells = message.fields.get("cells") or ([message.fields["cell"]] if "cell" in message.fields else [])
    if cells:
        attrs["cells"] = [_scalars(c) for c in cells if isinstance(c, dict)][:8]
    out.placed.append(WireEvent(id=f"{base}-h", kind=HEARTBEAT, ts=ms, lat=at.lat, lon=at.lon, attrs=attrs))
    for n, name in enumerate(message.fields.get("alarms", ())):
        out.placed.append(
            WireEvent(
                id=f"{base}-a{n}",
                kind=ALARM,
                ts=ms,
                code=name,
                lat=at.lat,
                lon=at.lon,
                attrs={"position": "last_fix"},
            )
        )


def events_of(
    message: Message, *, protocol: str, terminal: str, last: Position | None, now: datetime
) -> tuple[Events, Position | None]:
    """The events of an authenticated terminal's message, and the connection's last fix after it."""
    out = Events()
    if message.fixes:
        placed = _fix_events(message, protocol, terminal, out)
        return out, placed or last
    if message.type in (MessageType.HEARTBEAT, MessageType.LBS):
        _heartbeat_events(message, protocol, terminal, last, now, out)
    return out, last


RECORDING = frozenset({MessageType.LOCATION, MessageType.ALARM, MessageType.LBS, MessageType.HEARTBEAT})

__all__ = ["RECORDING", "Events", "RecentTimes", "event_id", "events_of", "fix_event", "no_position"]
