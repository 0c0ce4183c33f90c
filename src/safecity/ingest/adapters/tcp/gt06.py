"""The GT06 codec (Concox and its clones): frames to protocol-neutral messages, and the acks back.

Owns what a GT06 terminal says and expects, nothing else (no socket, no clock, no registry):

* framing, CRC-ITU and resynchronisation: `gt06_frame.py`; body fields: `gt06_body.py`;
* decoded protocol numbers: login 0x01; location 0x10 (GPS only), 0x11 (GPS and a 4G cell),
  0x12, 0x22 (GPS and cell, 0x22 with ACC, upload reason, re-upload flag, mileage); status and
  heartbeat 0x13; alarm 0x16, 0x26 (GPS, cell, terminal status, alarm byte: `ALARM` when an
  alarm is raised, `LOCATION` when both the status bits and the alarm byte say none); LBS-only
  0x18, 0x28 (serving and neighbour cells); long-frame location 0x32 (AZ735) and information
  0x94 (external voltage, ICCID). Any other number is `UNKNOWN` with its body kept (0x27, 0x2D,
  0x31, 0x37 too: no capture of them from a real terminal was at hand to test a layout against).

A login names the terminal (`Session.terminal`); later messages carry that IMEI as `terminal`.
A login's own time-zone word is reported (`terminal_utc_offset_minutes`), not applied: the
registry's `Session.utc_offset_minutes` turns the terminals' local times into UTC.

Replies (the serial echoed, CRC computed), mirroring what terminals get from Traccar's GT06 server:

* login 0x01: an empty 0x01 ack once the terminal is known (`STORED`); none when `REFUSED`
  (an unknown IMEI gets silence, so it retries and shows up in the logs, never a session);
* every other short (0x7878) frame: an empty ack of its own protocol number, except command
  replies 0x80-0x82 (they answer us) and the types whose answer is not a plain ack (WiFi 0x17,
  0x69, 0xF3; time request 0x8A; address request 0x2A; photos 0x34-0x36), which get none here;
* long (0x7979) frames: 0x32, 0x33 and 0x41 are acked in the long form, 0x70 in the short form;
  0x94, 0x21, 0x9B and the rest get no reply;
* `FAILED` (storage down): nothing, so the terminal resends; `REFUSED` of a known type (a
  terminal not logged in): nothing; `REFUSED` of an `UNKNOWN` type from a logged-in terminal:
  the plain ack where the rules above give one, so the terminal does not resend it forever
  (the server keeps it as a dead letter).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from safecity.ingest.adapters.tcp import gt06_frame
from safecity.ingest.adapters.tcp.gt06_body import (
    BodyError,
    Cursor,
    alarm_name,
    position,
    read_cell,
    read_gps,
    read_mcc_mnc,
    read_status,
    read_time,
    read_towers,
)
from safecity.ingest.adapters.tcp.protocol import (
    BadFrame,
    Fix,
    Message,
    MessageType,
    Outcome,
    PlainReport,
    Position,
    Session,
)
from safecity.ingest.adapters.tcp.records import RecentTimes, fix_event, no_position

LOGIN = 0x01
GPS_ONLY = 0x10
GPS_LBS_4G = 0x11
GPS_LBS = 0x12
STATUS = 0x13
ALARM_TYPES = frozenset({0x16, 0x26})
LBS_TYPES = frozenset({0x18, 0x28})
GPS_LBS_EXT = 0x22
LONG_GPS = 0x32
INFO = 0x94

# Short frames whose answer is not a plain ack (or that need none): see the module docstring.
NO_PLAIN_ACK = frozenset({0x80, 0x81, 0x82, 0x17, 0x69, 0xF3, 0x8A, 0x2A, 0x34, 0x35, 0x36})
# Long frames that are acked, and whether the ack takes the long form.
LONG_ACKS = {0x32: True, 0x33: True, 0x41: True, 0x70: False}

# Neighbour cells in an LBS-only report (0x18, 0x28): always seven slots, unused ones zero.
LBS_SLOTS = 7

Body = tuple[MessageType, dict[str, Any]]

# A plain report (`plain_report`): a short 0x12 frame (time, GPS, cell) or 0x22 (and ACC, upload
# mode, re-upload flag, no mileage), by its total size, with a one-byte MNC (MCC's top bit clear).
# Anything else, however common, takes `decode`. Start mark and length, protocol, time, GPS block.
_PLAIN_SIZES = {GPS_LBS: 36, GPS_LBS_EXT: 39}
_PLAIN = struct.Struct(">3xB6sBIIBH")
_MCC_HIGH = 22  # the MCC's first byte: 3 + protocol 1 + time 6 + GPS 12


class Gt06Protocol:
    """The GT06 codec: split, decode, replies (see the module docstring for what it covers)."""

    name = "gt06"

    def __init__(self) -> None:
        self._times = RecentTimes()

    def split(self, buffer: bytearray, session: Session) -> list[bytes | BadFrame]:
        """Remove complete frames (and undecodable bytes) from the front of `buffer`, in order."""
        return gt06_frame.split(buffer)

    def decode(self, frame: bytes, session: Session) -> Message | BadFrame:
        """Decode one complete frame (as `split` returned it) into a Message."""
        head = gt06_frame.header_size(frame)
        if frame[:2] not in (gt06_frame.SHORT_START, gt06_frame.LONG_START) or len(frame) < head + 7:
            # `split` never hands over such bytes; a caller that does gets an answer, not an IndexError.
            return BadFrame(frame, "not a GT06 frame: no start mark or shorter than the minimum")
        protocol = frame[head]
        serial = int.from_bytes(frame[-6:-4], "big")
        body = frame[head + 1 : -6]
        parse = (_LONG if head == 4 else _SHORT).get(protocol)
        if parse is None:
            return Message(
                type=MessageType.UNKNOWN,
                raw=frame,
                serial=serial,
                terminal=session.terminal,
                protocol_id=protocol,
                fields={"body_hex": body.hex()},
            )
        try:
            kind, parts = parse(Cursor(body), session, protocol)
        except BodyError as exc:
            return BadFrame(frame, f"protocol 0x{protocol:02x}: {exc}")
        if kind is MessageType.LOGIN:
            session.terminal = parts["terminal"]
        return Message(
            type=kind,
            raw=frame,
            serial=serial,
            terminal=parts.pop("terminal", session.terminal),
            protocol_id=protocol,
            fixes=parts.pop("fixes", ()),
            status=parts.pop("status", {}),
            fields=parts,
        )

    def plain_report(self, frame: bytes, session: Session, terminal: str) -> PlainReport | None:
        """A 0x12 or 0x22 location as its event and ack (see `DeviceProtocol.plain_report`)."""
        if len(frame) < 4 or _PLAIN_SIZES.get(frame[3]) != len(frame) or frame[:2] != gt06_frame.SHORT_START:
            return None
        protocol = frame[3]
        if frame[_MCC_HIGH] & 0x80:
            return None  # a two-byte MNC: `decode` reads that layout
        _, clock, info, lat_units, lon_units, speed, flags = _PLAIN.unpack_from(frame)
        lat, lon = position(lat_units, lon_units, flags)
        if no_position(lat, lon):
            return None  # a dead letter, as `events_of` decides
        offset = session.utc_offset_minutes
        when = self._times.get((clock, offset), lambda: read_time(Cursor(clock), offset))
        if when is None:
            return None  # no date: `decode` says why
        ms, ts = when
        attrs: dict[str, Any] = {"differential": bool(flags & 0x2000)}
        if protocol == GPS_LBS_EXT:
            attrs["acc_on"] = frame[-9] > 0  # the ACC byte wins over the GPS block's bit
            attrs["reuploaded"] = frame[-7] > 0
        elif flags & 0x4000:
            attrs["acc_on"] = bool(flags & 0x8000)
        attrs["valid"] = bool(flags & 0x1000)
        attrs["speed_kmh"] = float(speed)
        attrs["course"] = float(flags & 0x03FF)
        attrs["satellites"] = info & 0x0F
        serial = int.from_bytes(frame[-6:-4], "big")
        event = fix_event(self.name, terminal, serial, ms, lat, lon, attrs)
        return PlainReport(event, gt06_frame.encode(protocol, serial), Position(lat, lon, ts))

    def replies(self, message: Message, session: Session, outcome: Outcome) -> list[bytes]:
        """The ack this message needs given what became of it (see the module docstring)."""
        if outcome is Outcome.FAILED or message.protocol_id is None or message.serial is None:
            return []
        if outcome is Outcome.REFUSED and not (
            message.type is MessageType.UNKNOWN and session.device_id is not None
        ):
            return []
        protocol = message.protocol_id
        if message.raw[:2] == gt06_frame.LONG_START:
            if protocol not in LONG_ACKS:
                return []
            return [gt06_frame.encode(protocol, message.serial, long=LONG_ACKS[protocol])]
        if protocol in NO_PLAIN_ACK:
            return []
        return [gt06_frame.encode(protocol, message.serial)]


def _bcd_digits(raw: bytes, what: str) -> str:
    """Packed BCD digits; 8 bytes carry a 15-digit IMEI after a pad nibble 0, which is dropped."""
    digits = raw.hex()
    digits = digits[1:] if digits.startswith("0") else digits
    if not digits.isdigit():
        raise BodyError(f"{what} {raw.hex()} is not BCD digits")
    return digits


def _login(cur: Cursor, session: Session, protocol: int) -> Body:
    """0x01: IMEI; newer terminals add a type id and a time zone/language word."""
    parts: dict[str, Any] = {"terminal": _bcd_digits(cur.take(8), "IMEI")}
    if cur.remaining() >= 2:
        parts["type_id"] = cur.take(2).hex()
    if cur.remaining() >= 2:
        word = cur.uint(2)
        value = word >> 4  # hours * 100 + minutes
        offset = (value // 100) * 60 + value % 100
        # The terminal's own claim, for the record: the registry's offset is the one applied.
        parts["terminal_utc_offset_minutes"] = -offset if word & 0x08 else offset
    return MessageType.LOGIN, parts


def _location(cur: Cursor, session: Session, protocol: int) -> Body:
    """0x10, 0x11, 0x12, 0x22: one fix, and the serving cell where the variant has one."""
    gps = read_gps(cur, read_time(cur, session.utc_offset_minutes))
    parts: dict[str, Any] = {}
    wide = protocol == GPS_LBS_4G
    if protocol != GPS_ONLY and cur.remaining() >= (10 if wide else 8):
        parts["cell"] = read_cell(cur, wide=wide)
    extras = gps["extras"]
    if protocol == GPS_LBS_EXT and cur.remaining() >= 3:
        extras["acc_on"] = cur.uint(1) > 0
        parts["upload_mode"] = cur.uint(1)
        extras["reuploaded"] = cur.uint(1) > 0  # sent again from the terminal's memory
        if cur.remaining() >= 4:
            extras["mileage_raw"] = cur.uint(4)  # units differ between models: kept as sent
    if cur.remaining():
        parts["extra_hex"] = cur.rest().hex()
    parts["fixes"] = (Fix(**gps),)
    return MessageType.LOCATION, parts


def _status(cur: Cursor, session: Session, protocol: int) -> Body:
    """0x13: terminal information, battery level, GSM signal, alarm and language."""
    status, alarms = read_status(cur)
    parts: dict[str, Any] = {"status": status}
    if cur.remaining():
        name = alarm_name(cur.uint(1))
        if name and name not in alarms:
            alarms.append(name)
    if cur.remaining():
        parts["language"] = cur.uint(1)
    if cur.remaining():
        parts["extra_hex"] = cur.rest().hex()
    parts["alarms"] = tuple(alarms)
    return MessageType.HEARTBEAT, parts


def _alarm(cur: Cursor, session: Session, protocol: int) -> Body:
    """0x16, 0x26: a fix, the cell, the terminal status and the alarm byte."""
    gps = read_gps(cur, read_time(cur, session.utc_offset_minutes))
    parts: dict[str, Any] = {}
    lbs_length = cur.uint(1)  # counts itself: 9 for MCC, MNC, LAC, cell id
    if lbs_length:
        parts["cell"] = read_cell(cur)
        cur.take(max(0, lbs_length - 9))
    status, alarms = read_status(cur)
    code = cur.uint(1)
    name = alarm_name(code)
    if name and name not in alarms:
        alarms.append(name)
    if cur.remaining():
        parts["language"] = cur.uint(1)
    if cur.remaining():
        parts["extra_hex"] = cur.rest().hex()
    parts["status"] = status
    gps["extras"]["alarm_code"] = code
    parts["fixes"] = (Fix(**gps, alarms=tuple(alarms)),)
    return (MessageType.ALARM if alarms else MessageType.LOCATION), parts


def _lbs(cur: Cursor, session: Session, protocol: int) -> Body:
    """0x18, 0x28: cell towers only (the serving cell first), no satellite fix."""
    parts: dict[str, Any] = {"ts": read_time(cur, session.utc_offset_minutes)}
    parts.update(read_mcc_mnc(cur))
    parts["cells"] = read_towers(cur, LBS_SLOTS)
    parts["timing_advance"] = cur.uint(1)
    if cur.remaining() >= 2:
        parts["language"] = cur.uint(2)
    return MessageType.LBS, parts


def _long_gps(cur: Cursor, session: Session, protocol: int) -> Body:
    """0x32 (long frame): optional GPS block, serving cell and signal, neighbours, WiFi, status."""
    ts = read_time(cur, session.utc_offset_minutes)
    parts: dict[str, Any] = {}
    gps_length = cur.uint(1)  # 0: no GPS block at all
    fix: Fix | None = None
    if gps_length:
        fix = Fix(**read_gps(cur, ts))
        cur.take(max(0, gps_length - 12))
    lbs_length = cur.uint(1)
    if lbs_length:
        parts["cell"] = read_cell(cur)
        cur.take(max(0, lbs_length - 9))
        parts["cell"]["rssi"] = cur.uint(1)
    neighbours = cur.take(cur.uint(1))  # six bytes a cell: LAC, cell id, signal
    parts["cells"] = read_towers(Cursor(neighbours), len(neighbours) // 6)
    parts["wifi_hex"] = cur.take(cur.uint(1)).hex()
    parts["status_byte"] = cur.uint(1)
    cur.take(cur.uint(1))  # reserved extension
    if fix is None:
        parts["ts"] = ts
        return MessageType.LBS, parts
    parts["fixes"] = (fix,)
    return MessageType.LOCATION, parts


def _info(cur: Cursor, session: Session, protocol: int) -> Body:
    """0x94: information transfer; external voltage (0x00), door (0x05), SIM identity (0x0a)."""
    subtype = cur.uint(1)
    parts: dict[str, Any] = {"subtype": subtype}
    if subtype == 0x00:
        parts["status"] = {"external_voltage_v": cur.uint(2) / 100}
    elif subtype == 0x05:
        parts["status"] = {"door_open": bool(cur.uint(1) & 0x01)}
    elif subtype == 0x0A:
        parts["imei"] = _bcd_digits(cur.take(8), "IMEI")
        parts["imsi"] = _bcd_digits(cur.take(8), "IMSI")
        parts["iccid"] = cur.take(10).hex().replace("f", "")  # padded with F nibbles
    if cur.remaining():
        parts["extra_hex"] = cur.rest().hex()
    return MessageType.HEARTBEAT, parts


Parser = Callable[[Cursor, Session, int], Body]
# Short (0x7878) and long (0x7979) frames number their protocols apart: 0x32 differs between them.
_SHORT: dict[int, Parser] = {
    LOGIN: _login,
    GPS_ONLY: _location,
    GPS_LBS_4G: _location,
    GPS_LBS: _location,
    GPS_LBS_EXT: _location,
    STATUS: _status,
    **dict.fromkeys(ALARM_TYPES, _alarm),
    **dict.fromkeys(LBS_TYPES, _lbs),
    INFO: _info,
}
_LONG: dict[int, Parser] = {LONG_GPS: _long_gps, INFO: _info}


__all__ = ["Gt06Protocol"]
