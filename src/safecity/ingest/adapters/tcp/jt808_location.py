"""JT/T 808 location bodies: the 0x0200 report (alarm and status bits, additional items) and 0x0704 batches.

Owns the mapping from the terminal's alarm flag bits onto the platform's ALARMS names, the status
bits, the units (1e-6 degrees, 1/10 km/h, BCD time in GMT+8) and the additional-information items
(JT/T 808-2013 table 27 and the 2019 additions). Values are decoded as sent: a time far in the
future or a latitude beyond 90 degrees is returned faithfully for the pipeline to judge.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from safecity.ingest.adapters.tcp.jt808_frame import BodyError
from safecity.ingest.adapters.tcp.protocol import Fix

BASIC_SIZE = 28  # alarm 4, status 4, lat 4, lon 4, altitude 2, speed 2, course 2, time 6
BASIC = struct.Struct(">IIIIHHH")  # the fields before the time

# Terminal time is Beijing time (GMT+8, JT/T 808-2013 table 23), whatever the registry says.
TERMINAL_OFFSET = timedelta(hours=8)

# Alarm flag bits (JT/T 808-2013 table 24) with a platform name. Area (20) and route (21) in/out
# alarms are named by the 0x12 item's direction; every other set bit is "other".
ALARM_BITS: dict[int, str] = {
    0: "sos",  # emergency alarm, triggered by the alarm switch
    1: "overspeed",
    2: "fatigue_driving",
    4: "gnss_fault",  # GNSS module fault
    5: "gnss_fault",  # GNSS antenna not connected or cut
    6: "gnss_fault",  # GNSS antenna short-circuited
    7: "low_battery",  # terminal main power under-voltage
    8: "power_cut",  # terminal main power off
    28: "movement",  # illegal displacement of the vehicle
    29: "collision",  # collision warning
    30: "rollover",  # rollover warning
}
AREA_BITS = (20, 21)

# Status bits (JT/T 808-2013 table 25).
ACC_ON = 1 << 0
POSITIONED = 1 << 1
SOUTH = 1 << 2
WEST = 1 << 3
OUT_OF_SERVICE = 1 << 4
COORDINATES_ENCRYPTED = 1 << 5
DOOR_LOCKED = 1 << 12

# The status flags each fix carries in its extras (and a message in its status, from its last fix).
STATUS_KEYS = (
    "acc_on",
    "positioned",
    "out_of_service",
    "coordinates_encrypted",
    "door_locked",
    "status_bits",
)


def status_flags(status: int) -> dict[str, Any]:
    """The status word as the flags each fix carries, named and ordered as STATUS_KEYS."""
    return {
        "acc_on": bool(status & ACC_ON),
        "positioned": bool(status & POSITIONED),
        "out_of_service": bool(status & OUT_OF_SERVICE),
        "coordinates_encrypted": bool(status & COORDINATES_ENCRYPTED),
        "door_locked": bool(status & DOOR_LOCKED),
        "status_bits": status,
    }


def bcd_time(raw: bytes) -> datetime:
    """A BCD YYMMDDhhmmss in GMT+8 as UTC (years 2000-2099, the only century the field can say)."""
    digits = raw.hex()
    if not digits.isdigit():
        raise BodyError(f"time {digits} is not BCD")
    try:
        local = datetime(
            2000 + int(digits[0:2]),
            int(digits[2:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise BodyError(f"time {digits} is not a date: {exc}") from exc
    return local - TERMINAL_OFFSET


def alarm_names(flags: int, area_directions: list[int]) -> tuple[str, ...]:
    """The platform's names for the set alarm bits, in bit order, each name once."""
    if not flags:
        return ()
    names: list[str] = []
    for bit in range(flags.bit_length()):
        if not flags & (1 << bit):
            continue
        if bit in AREA_BITS and area_directions:
            for direction in area_directions:
                names.append("geofence_exit" if direction else "geofence_enter")
        else:
            names.append(ALARM_BITS.get(bit, "other"))
    return tuple(dict.fromkeys(names))


def _item(item_id: int, value: bytes, extras: dict[str, Any], areas: list[int]) -> int | None:
    """Decode one additional item into `extras`; return the satellite count for 0x31."""
    size = len(value)
    number = int.from_bytes(value, "big")
    if item_id == 0x01 and size == 4:
        extras["mileage_km"] = number / 10
    elif item_id == 0x02 and size == 2:
        extras["fuel_l"] = number / 10
    elif item_id == 0x03 and size == 2:
        extras["tachograph_speed_kmh"] = number / 10
    elif item_id == 0x12 and size in (2, 6):
        # Area/route alarm: position type, area id (absent when the type is 0), direction 0 in 1 out.
        extras["area"] = {"type": value[0], "id": int.from_bytes(value[1:-1], "big"), "out": value[-1]}
        areas.append(value[-1])
    elif item_id == 0x25 and size == 4:
        extras["vehicle_signals"] = number
    elif item_id == 0x2A and size == 2:
        extras["io_status"] = number
    elif item_id == 0x2B and size == 4:
        extras["analog_ad0"] = number & 0xFFFF
        extras["analog_ad1"] = number >> 16
    elif item_id == 0x30 and size == 1:
        extras["signal"] = number
    elif item_id == 0x31 and size == 1:
        return number
    else:
        # Unknown items (and known ids of an unexpected size) are kept as sent, for later decoders.
        extras.setdefault("items", {})[f"{item_id:02x}"] = value.hex()
    return None


def decode_location(body: bytes) -> Fix:
    """One 0x0200 body as a fix (its status flags among the extras, named by STATUS_KEYS)."""
    if len(body) < BASIC_SIZE:
        raise BodyError(f"location body of {len(body)} bytes, the basic information alone is 28")
    alarm, status, lat_e6, lon_e6, altitude, speed_dkmh, course = BASIC.unpack_from(body)
    lat, lon = lat_e6 / 1e6, lon_e6 / 1e6
    ts = bcd_time(body[22:28])
    extras: dict[str, Any] = {}
    areas: list[int] = []
    satellites: int | None = None
    offset = BASIC_SIZE
    while offset < len(body):
        if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
            # Some terminals append text that is not an item list: kept, not decoded.
            extras["trailing"] = body[offset:].hex()
            break
        item_id, size = body[offset], body[offset + 1]
        count = _item(item_id, body[offset + 2 : offset + 2 + size], extras, areas)
        satellites = count if count is not None else satellites
        offset += 2 + size
    extras |= status_flags(status)
    extras["alarm_bits"] = alarm
    return Fix(
        ts=ts,
        lat=-lat if status & SOUTH else lat,
        lon=-lon if status & WEST else lon,
        valid=bool(status & POSITIONED),
        speed_kmh=speed_dkmh / 10,
        course=float(course),
        altitude_m=float(altitude),
        satellites=satellites,
        alarms=alarm_names(alarm, areas),
        extras=extras,
    )


# Items a plain report may carry: each decodes to scalars only (no area alarm, nothing kept raw).
_PLAIN_ITEMS = {0x01: 4, 0x02: 2, 0x03: 2, 0x25: 4, 0x2A: 2, 0x2B: 4, 0x30: 1, 0x31: 1}


def plain_location(body: bytes) -> tuple[float, float, bytes, dict[str, Any]] | None:
    """A 0x0200 body without alarms whose items are all plain (`_PLAIN_ITEMS`), as latitude,
    longitude, the BCD time and the attrs its `tracker_fix` gets; None for any other, which
    `decode_location` and `records.events_of` take. The attrs are theirs, in their order: the
    message's status flags, the items' values, the alarm bits, then the fix's own fields."""
    if len(body) < BASIC_SIZE:
        return None
    alarm, status, lat_e6, lon_e6, altitude, speed_dkmh, course = BASIC.unpack_from(body)
    if alarm:
        return None
    items: dict[str, Any] = {}
    satellites: int | None = None
    offset, end = BASIC_SIZE, len(body)
    while offset < end:
        if offset + 2 > end:
            return None
        item_id, size = body[offset], body[offset + 1]
        if _PLAIN_ITEMS.get(item_id) != size or offset + 2 + size > end:
            return None
        count = _item(item_id, body[offset + 2 : offset + 2 + size], items, [])
        satellites = count if count is not None else satellites
        offset += 2 + size
    lat, lon = lat_e6 / 1e6, lon_e6 / 1e6
    attrs: dict[str, Any] = {
        **status_flags(status),
        **items,
        "alarm_bits": alarm,
        "valid": bool(status & POSITIONED),
        "speed_kmh": speed_dkmh / 10,
        "course": float(course),
        "altitude_m": float(altitude),
    }
    if satellites is not None:
        attrs["satellites"] = satellites
    return (-lat if status & SOUTH else lat), (-lon if status & WEST else lon), body[22:28], attrs


def decode_batch(body: bytes) -> tuple[list[Fix], dict[str, Any]]:
    """A 0x0704 body: count, type (0 normal, 1 blind-area supplement), then length-prefixed reports."""
    if len(body) < 3:
        raise BodyError(f"batch body of {len(body)} bytes has no count and type")
    count = int.from_bytes(body[0:2], "big")
    kind = body[2]
    fixes: list[Fix] = []
    offset = 3
    for index in range(count):
        if offset + 2 > len(body):
            raise BodyError(f"batch says {count} reports, the body ends after {index}")
        size = int.from_bytes(body[offset : offset + 2], "big")
        end = offset + 2 + size
        if end > len(body):
            raise BodyError(f"report {index + 1} of {size} bytes runs past the body's end")
        fixes.append(decode_location(body[offset + 2 : end]))
        offset = end
    if offset != len(body):
        raise BodyError(f"{len(body) - offset} bytes after the {count} reports of the batch")
    return fixes, {"batch_type": kind, "blind_area": kind == 1}
