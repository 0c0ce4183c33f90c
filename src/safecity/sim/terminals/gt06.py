"""What a GT06 terminal sends: login 0x01, location 0x12/0x22, status 0x13, alarm 0x16/0x26.

The client side of `ingest/adapters/tcp/gt06.py`, built on its framing (`gt06_frame.encode`, the
CRC-ITU), so that what the simulated wearers send is what a Concox-style locator puts on the
wire and the server's decoder reads it back field for field (tests/sim/test_terminals.py holds
it to the captured frames in tests/fixtures/gt06). Pure functions of their arguments: the
serial number and the clock belong to the caller (`client.Gt06Terminal`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from safecity.ingest.adapters.tcp import gt06_frame
from safecity.ingest.adapters.tcp.gt06 import GPS_LBS, GPS_LBS_EXT, LOGIN, STATUS
from safecity.ingest.adapters.tcp.gt06_body import ALARM_CODES, COORD_UNITS_PER_DEGREE
from safecity.sim.terminals.reading import Reading

LOCATION = GPS_LBS
LOCATION_EXT = GPS_LBS_EXT
ALARM = 0x16
ALARM_4G = 0x26

# One alarm byte per platform alarm name (the first code the decoder maps onto it).
ALARM_BYTES: dict[str, int] = {}
for _code, _name in sorted(ALARM_CODES.items()):
    ALARM_BYTES.setdefault(_name, _code)
ALARM_BYTES["low_battery"] = 0x19  # a wearable's own (internal) battery, not a vehicle's
GPS_INFO_LENGTH = 0xC0  # high nibble of the satellites byte: the GPS block's 12 bytes


@dataclass(frozen=True, slots=True)
class Cell:
    """The serving cell a report carries (MCC 460 is China, MNC 0 China Mobile)."""

    mcc: int = 460
    mnc: int = 0
    lac: int = 0x2795
    cell_id: int = 0x0E4C


def _time(ts: datetime, utc_offset_minutes: int) -> bytes:
    """Six bytes YY MM DD hh mm ss of the terminal's local clock."""
    local = ts.astimezone(UTC) + timedelta(minutes=utc_offset_minutes)
    return bytes([local.year - 2000, local.month, local.day, local.hour, local.minute, local.second])


def _gps(fix: Reading) -> bytes:
    """Satellites byte, latitude, longitude, speed, course/status word."""
    flags = (int(round(fix.course)) % 360) & 0x03FF
    if fix.lat >= 0:
        flags |= 0x0400  # north
    if fix.lon < 0:
        flags |= 0x0800  # west
    if fix.valid:
        flags |= 0x1000
    return (
        bytes([GPS_INFO_LENGTH | (min(fix.satellites, 15) & 0x0F)])
        + round(abs(fix.lat) * COORD_UNITS_PER_DEGREE).to_bytes(4, "big")
        + round(abs(fix.lon) * COORD_UNITS_PER_DEGREE).to_bytes(4, "big")
        + bytes([min(int(round(fix.speed_kmh)), 255)])
        + flags.to_bytes(2, "big")
    )


def _cell(cell: Cell) -> bytes:
    return (
        cell.mcc.to_bytes(2, "big")
        + bytes([cell.mnc])
        + cell.lac.to_bytes(2, "big")
        + cell.cell_id.to_bytes(3, "big")
    )


def _status(*, battery_level: int, signal: int, charging: bool) -> bytes:
    """Terminal information (GPS tracking on, no alarm in bits 3-5), voltage level 0-6, GSM 0-4."""
    info = 0x40 | (0x04 if charging else 0)
    return bytes([info, max(0, min(battery_level, 6)), max(0, min(signal, 4))])


def login(imei: str, serial: int, *, type_id: int | None = None) -> bytes:
    """0x01: the IMEI as eight BCD bytes (a pad nibble 0 before its 15 digits), and a type id."""
    if not (imei.isdigit() and len(imei) <= 16):
        raise ValueError(f"an IMEI is up to 16 digits, not {imei!r}")
    body = bytes.fromhex(imei.rjust(16, "0"))
    if type_id is not None:
        body += type_id.to_bytes(2, "big")
    return gt06_frame.encode(LOGIN, serial, body)


def location(
    fix: Reading,
    serial: int,
    *,
    protocol: int = LOCATION,
    cell: Cell | None = None,
    utc_offset_minutes: int = 0,
    acc_on: bool = False,
) -> bytes:
    """0x12 (GPS and cell) or 0x22 (and ACC, upload mode 0, not re-uploaded)."""
    body = location_body(
        fix, protocol=protocol, cell=cell, utc_offset_minutes=utc_offset_minutes, acc_on=acc_on
    )
    return gt06_frame.encode(protocol, serial, body)


# Cached: a load generator reports the same few readings again and again, and its CPU is taken
# from the server it measures (the body holds no serial number, so a body is reused as it is).
@functools.lru_cache(maxsize=4096)
def location_body(
    fix: Reading,
    *,
    protocol: int = LOCATION,
    cell: Cell | None = None,
    utc_offset_minutes: int = 0,
    acc_on: bool = False,
) -> bytes:
    """The body of a 0x12 or 0x22 location (`location` frames it with a serial number)."""
    if protocol not in (LOCATION, LOCATION_EXT):
        raise ValueError(f"a location is 0x12 or 0x22, not 0x{protocol:02x}")
    body = _time(fix.ts, utc_offset_minutes) + _gps(fix) + _cell(cell or Cell())
    if protocol == LOCATION_EXT:
        body += bytes([1 if acc_on else 0, 0, 0])
    return body


def heartbeat(serial: int, *, battery_level: int = 6, signal: int = 4, charging: bool = False) -> bytes:
    """0x13: terminal information, voltage level, GSM signal, no alarm, language 2 (English)."""
    body = _status(battery_level=battery_level, signal=signal, charging=charging) + b"\x00\x02"
    return gt06_frame.encode(STATUS, serial, body)


def alarm(
    fix: Reading,
    name: str,
    serial: int,
    *,
    protocol: int = ALARM,
    cell: Cell | None = None,
    utc_offset_minutes: int = 0,
    battery_level: int = 6,
    signal: int = 4,
) -> bytes:
    """0x16 or 0x26: the fix, the cell, the terminal's status and the alarm byte of `name`."""
    if protocol not in (ALARM, ALARM_4G):
        raise ValueError(f"an alarm is 0x16 or 0x26, not 0x{protocol:02x}")
    if name not in ALARM_BYTES:
        raise ValueError(f"GT06 has no alarm byte for {name!r} (one of {', '.join(sorted(ALARM_BYTES))})")
    body = (
        _time(fix.ts, utc_offset_minutes)
        + _gps(fix)
        + bytes([9])  # the cell block's length, counting itself
        + _cell(cell or Cell())
        + _status(battery_level=battery_level, signal=signal, charging=False)
        + bytes([ALARM_BYTES[name], 0x02])
    )
    return gt06_frame.encode(protocol, serial, body)


def ack_of(frame: bytes) -> tuple[int, int] | None:
    """(protocol number, serial) of a server's plain ack, or None if `frame` is not one."""
    head = gt06_frame.header_size(frame)
    if len(frame) != head + 7:
        return None
    return frame[head], int.from_bytes(frame[-6:-4], "big")


__all__ = [
    "ALARM",
    "ALARM_4G",
    "ALARM_BYTES",
    "LOCATION",
    "LOCATION_EXT",
    "LOGIN",
    "STATUS",
    "Cell",
    "Reading",
    "ack_of",
    "alarm",
    "heartbeat",
    "location",
    "location_body",
    "login",
]
