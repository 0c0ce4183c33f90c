"""GT06 body fields: date-time, GPS block, cell tower blocks, terminal status, alarm codes.

Readers work on a `Cursor` over a frame's body; reading past its end, or a date that is no
calendar date, raises `BodyError`, which the codec turns into a `BadFrame`.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

# The GPS block after the date: satellites, latitude, longitude, speed, course/status word.
_GPS = struct.Struct(">BIIBH")
# Coordinates are sent in units of 1/30,000 minute: degrees = value / 30,000 / 60.
COORD_UNITS_PER_DEGREE = 30_000 * 60

# The alarm byte of 0x16/0x26/0x13 (Concox GT06 documents and their clones), onto ALARMS names.
ALARM_CODES: dict[int, str] = {
    0x01: "sos",
    0x02: "power_cut",
    0x03: "vibration",
    0x04: "geofence_enter",
    0x05: "geofence_exit",
    0x06: "overspeed",
    0x09: "movement",  # "displacement": the terminal moved while armed
    0x0E: "low_battery",  # external battery low
    0x0F: "low_battery",  # external battery low, protection cut-off
    0x13: "tamper",  # disassembled / removed from the wrist
    0x19: "low_battery",  # internal battery low
    0x23: "fall",  # fall detected (wearables that have the sensor)
    0x2C: "collision",
}

# Bits 3-5 of the terminal information byte: the alarm the terminal is in.
STATUS_ALARMS: dict[int, str] = {1: "vibration", 2: "power_cut", 3: "low_battery", 4: "sos", 7: "tamper"}


class BodyError(ValueError):
    """The body contradicts its own length or fields (ends too soon, a date that is no date)."""


class Cursor:
    """Sequential big-endian reads over a frame body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        """The next `n` bytes."""
        end = self.pos + n
        if end > len(self.data):
            raise BodyError(f"body of {len(self.data)} bytes ends before byte {end}")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def uint(self, n: int) -> int:
        """The next `n` bytes as an unsigned big-endian integer."""
        return int.from_bytes(self.take(n), "big")

    def unpack(self, layout: struct.Struct) -> tuple[Any, ...]:
        """The next fields of a fixed layout, in one call (the hot path of every location)."""
        end = self.pos + layout.size
        if end > len(self.data):
            raise BodyError(f"body of {len(self.data)} bytes ends before byte {end}")
        values = layout.unpack_from(self.data, self.pos)
        self.pos = end
        return values

    def rest(self) -> bytes:
        """Everything not read yet."""
        return self.take(len(self.data) - self.pos)

    def remaining(self) -> int:
        """How many bytes are left."""
        return len(self.data) - self.pos


def read_time(cur: Cursor, utc_offset_minutes: int) -> datetime:
    """Six binary bytes YY MM DD hh mm ss of the terminal's clock, as UTC."""
    yy, mo, dd, hh, mi, ss = cur.take(6)
    try:
        local = datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=UTC)
    except ValueError as exc:
        raise BodyError(f"date-time {yy:02d}-{mo:02d}-{dd:02d} {hh:02d}:{mi:02d}:{ss:02d}: {exc}") from exc
    # The terminal's clock is local time (the registry says its offset): UTC = local - offset.
    return local - timedelta(minutes=utc_offset_minutes)


def position(lat_units: int, lon_units: int, flags: int) -> tuple[float, float]:
    """Latitude and longitude in degrees from the GPS block's units and its course/status word."""
    lat = lat_units / COORD_UNITS_PER_DEGREE
    lon = lon_units / COORD_UNITS_PER_DEGREE
    # Bit 10 set: north latitude; bit 11 set: west longitude.
    return (lat if flags & 0x0400 else -lat), (-lon if flags & 0x0800 else lon)


def read_gps(cur: Cursor, ts: datetime) -> dict[str, Any]:
    """Satellites byte, lat, lon, speed, course/status word: the fields of one Fix at `ts`."""
    info, lat_units, lon_units, speed_kmh, flags = cur.unpack(_GPS)
    lat, lon = position(lat_units, lon_units, flags)
    extras: dict[str, Any] = {"differential": bool(flags & 0x2000)}
    if flags & 0x4000:  # bit 14 says bit 15 carries ACC (ignition)
        extras["acc_on"] = bool(flags & 0x8000)
    return {
        "ts": ts,
        "lat": lat,
        "lon": lon,
        "valid": bool(flags & 0x1000),  # bit 12: "GPS positioned"
        "speed_kmh": float(speed_kmh),
        "course": float(flags & 0x03FF),
        "satellites": info & 0x0F,  # high nibble: the GPS block's length, low: satellites used
        "extras": extras,
    }


def read_mcc_mnc(cur: Cursor, *, wide_mnc: bool = False) -> dict[str, int]:
    """MCC and MNC; MCC's top bit (or `wide_mnc`) says the MNC takes two bytes instead of one."""
    mcc = cur.uint(2)
    mnc = cur.uint(2 if wide_mnc or mcc & 0x8000 else 1)
    return {"mcc": mcc & 0x7FFF, "mnc": mnc}


def read_cell(cur: Cursor, *, wide: bool = False) -> dict[str, int]:
    """The serving cell: MCC, MNC, LAC (2 bytes), cell id (3; in 0x11's `wide` form 4, MNC 2)."""
    cell = read_mcc_mnc(cur, wide_mnc=wide)
    cell["lac"] = cur.uint(2)
    cell["cell_id"] = cur.uint(4 if wide else 3)
    return cell


def read_status(cur: Cursor) -> tuple[dict[str, Any], list[str]]:
    """Terminal information, voltage level, GSM signal: the status dict and the alarms its bits raise."""
    info = cur.uint(1)
    level = cur.uint(1)
    signal = cur.uint(1)
    status: dict[str, Any] = {
        "armed": bool(info & 0x01),
        "acc_on": bool(info & 0x02),
        "charging": bool(info & 0x04),
        "gps_tracking": bool(info & 0x40),
        "power_cut": bool(info & 0x80),  # "oil and electricity disconnected"
        "voltage_level": level,  # 0 (no power) to 6 (very high)
        "battery_pct": _battery_pct(level),
        "signal": signal,  # 0 (none) to 4 (strong)
    }
    code = (info >> 3) & 0x07
    alarms = [STATUS_ALARMS.get(code, "other")] if code else []
    return status, alarms


def _battery_pct(level: int) -> int | None:
    """The 0-6 voltage scale as a percentage; some wearables send a percentage there instead."""
    if level <= 6:
        return round(level * 100 / 6)
    return level if level <= 100 else None


def alarm_name(code: int) -> str | None:
    """The ALARMS name of an alarm byte; None for 0 (no alarm)."""
    return ALARM_CODES.get(code, "other") if code else None


def read_towers(cur: Cursor, count: int) -> list[dict[str, int]]:
    """`count` neighbouring cells of LAC (2), cell id (3), signal (1); all-zero slots dropped."""
    towers = []
    for _ in range(count):
        lac, cell_id, rssi = cur.uint(2), cur.uint(3), cur.uint(1)
        if lac or cell_id:
            towers.append({"lac": lac, "cell_id": cell_id, "rssi": rssi})
    return towers


__all__ = [
    "ALARM_CODES",
    "COORD_UNITS_PER_DEGREE",
    "BodyError",
    "Cursor",
    "alarm_name",
    "position",
    "read_cell",
    "read_gps",
    "read_mcc_mnc",
    "read_status",
    "read_time",
    "read_towers",
]
