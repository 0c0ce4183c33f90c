"""The contract of a binary tracker protocol: split a byte stream into frames, decode, reply.

A codec is pure (no sockets, no clock, no registry): the TCP server owns the connection, the
per-connection `Session`, and the ingest pipeline, and asks the codec three things:

1. `split(buffer, session)`: cut every complete frame off the front of the bytes received so far
   (a frame may arrive across several reads, several frames in one read). What cannot be a frame
   (a bad start mark, an impossible length, a wrong checksum, an escape byte at the end) is
   returned as a `BadFrame` with its bytes and a reason, and the split goes on after it: one bad
   frame never stalls or kills the connection. An incomplete frame stays in the buffer.
2. `decode(frame, session)`: one `Message`, protocol-neutral. A message type the codec does not
   know is `Message(type=UNKNOWN, ...)` with its raw bytes (the server keeps it as a dead
   letter and answers as the protocol says), never an exception; a frame that is well framed but
   whose body contradicts its own length or fields is a `BadFrame`.
3. `replies(message, session, outcome)`: the frames the terminal expects back (a login ack, a
   general response, a registration answer with its authentication code). The server sends them
   only once the message's records are durable (`Outcome.STORED`), or says what failed
   (`Outcome.REFUSED`: unknown terminal or not authenticated yet; `Outcome.FAILED`: storage down,
   where most protocols want no answer so that the terminal resends).
4. `plain_report(frame, session, terminal)`: the shortcut for the frame almost every frame is, a
   logged-in terminal's plain location report: its event and ack straight from the bytes, or
   None to take the three steps above (which it must agree with exactly).

Times: a codec returns what the terminal sent; when a protocol's time has no zone (GT06 devices
often send local time), the session's `utc_offset_minutes` (from the device registry) turns it
into UTC. Coordinates are WGS-84 degrees, speed km/h, course degrees clockwise from north.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import msgspec

from safecity.core.record import WireEvent


class MessageType(enum.StrEnum):
    """What a frame says, whatever the protocol."""

    LOGIN = "login"  # GT06 0x01: the terminal names itself (IMEI)
    REGISTER = "register"  # JT/T 808 0x0100: the terminal asks for an authentication code
    AUTHENTICATE = "authenticate"  # JT/T 808 0x0102: the terminal presents its code
    LOCATION = "location"  # one or more fixes (GT06 0x12/0x22..., JT/T 808 0x0200, 0x0704)
    HEARTBEAT = "heartbeat"  # GT06 0x13 (with battery and signal), JT/T 808 0x0002
    ALARM = "alarm"  # GT06 0x16/0x26...: a fix with alarms
    LBS = "lbs"  # cell towers only, no satellite fix
    TERMINAL_RESPONSE = "terminal_response"  # JT/T 808 0x0001: the terminal acknowledges us
    LOGOUT = "logout"  # JT/T 808 0x0003
    FRAGMENT = "fragment"  # a piece of a subpackaged message, held until the rest arrives (no records)
    UNKNOWN = "unknown"  # framed and checked, of a type the codec does not decode


class Outcome(enum.StrEnum):
    """What became of a message, for the reply the terminal gets."""

    STORED = "stored"  # its records are durable (or it carried none and was accepted)
    REFUSED = "refused"  # unknown terminal, not logged in or authenticated, or unknown type
    FAILED = "failed"  # storage unavailable: nothing was accepted, the terminal should resend


# Fix and Message are msgspec Structs rather than frozen dataclasses: one of each is built per
# report on the servers' hot path, and a frozen dataclass's __init__ (object.__setattr__ per
# field) cost ~1.5 µs against ~0.1 µs.
class Fix(msgspec.Struct, frozen=True, gc=False):
    """One position report."""

    ts: datetime  # timezone-aware UTC
    lat: float
    lon: float
    valid: bool  # the receiver had a satellite fix (GT06 "GPS positioned", JT/T 808 status bit 1)
    speed_kmh: float | None = None
    course: float | None = None
    altitude_m: float | None = None
    satellites: int | None = None
    alarms: tuple[str, ...] = ()  # names from ALARMS, in the order the frame gave them
    extras: dict[str, Any] = {}  # mileage_km, fuel_l, tachograph speed, raw items (a copy each)


# The alarm names every codec maps its own codes onto (the `code` of the platform's `alarm` record).
ALARMS = frozenset(
    {
        "sos",
        "power_cut",
        "vibration",
        "geofence_enter",
        "geofence_exit",
        "overspeed",
        "low_battery",
        "fall",
        "movement",
        "tamper",
        "fatigue_driving",
        "collision",
        "rollover",
        "gnss_fault",
        "other",
    }
)


class Message(msgspec.Struct, frozen=True):
    """One decoded frame."""

    type: MessageType
    raw: bytes  # the whole frame as received (kept with a dead letter)
    serial: int | None = None  # the frame's serial number (acknowledged, and part of an event id)
    terminal: str | None = None  # IMEI (GT06 login) or phone number (JT/T 808 header), as digits
    protocol_id: int | None = None  # the protocol's own message id (0x12, 0x0200, ...)
    fixes: tuple[Fix, ...] = ()
    status: dict[str, Any] = {}  # battery_pct, signal, charging, acc_on, ... (a copy each)
    fields: dict[str, Any] = {}  # anything else decoded (auth code, version)


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Bytes that are not a valid frame, and why (kept as a dead letter; the connection goes on)."""

    raw: bytes
    reason: str


@dataclass(slots=True)
class Session:
    """One connection's state, kept by the server and read (and updated) by the codec."""

    device_id: str | None = None  # the registered device, once logged in or authenticated
    terminal: str | None = None  # what the terminal called itself
    utc_offset_minutes: int = 0  # for protocols whose times have no zone
    version: int | None = None  # protocol edition (JT/T 808: 2013 = 0, 2019 = 1)
    auth_code: str | None = None  # JT/T 808: the code issued at registration
    pending: dict[Any, Any] = field(default_factory=dict)  # codec's own (JT/T 808 subpackages)


class DeviceProtocol(Protocol):
    """A codec: the one module a new binary protocol costs."""

    name: str  # "gt06", "jt808": the source label of its records

    def split(self, buffer: bytearray, session: Session) -> list[bytes | BadFrame]:
        """Remove complete frames (and undecodable bytes) from the front of `buffer`, in order."""
        ...

    def decode(self, frame: bytes, session: Session) -> Message | BadFrame:
        """Decode one complete frame."""
        ...

    def replies(self, message: Message, session: Session, outcome: Outcome) -> list[bytes]:
        """The frames to send back for this message and what became of it (may be none)."""
        ...

    def plain_report(self, frame: bytes, session: Session, terminal: str) -> PlainReport | None:
        """A logged-in `terminal`'s frame (as `split` returned it) that is a plain location report
        (one placed fix, no alarm, nothing kept apart), decoded straight into its event; None
        for anything else, which then takes `decode`, `events_of` and `replies`. Must give
        exactly what that path gives (tests/ingest/adapters/tcp/test_plain_reports.py): it only skips the
        intermediate objects, for the report almost every frame is. A codec may always say None.
        """
        ...


@dataclass(slots=True)
class Position:
    """A connection's last fix: where its heartbeats and LBS reports are placed."""

    lat: float
    lon: float
    ts: datetime


class PlainReport(NamedTuple):
    """A plain location report: its `tracker_fix` event, its ack (sent once the event is
    durable), and its fix, the connection's last one now."""

    event: WireEvent
    ack: bytes
    last: Position


__all__ = [
    "ALARMS",
    "BadFrame",
    "DeviceProtocol",
    "Fix",
    "Message",
    "MessageType",
    "Outcome",
    "PlainReport",
    "Position",
    "Session",
]
