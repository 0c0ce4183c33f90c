"""What a JT/T 808 (2013 edition) vehicle terminal sends: registration, authentication, heartbeat,
location 0x0200 with its alarm and status bits and additional items, and batches 0x0704.

The client side of `ingest/adapters/tcp/jt808*.py`, built on its framing (`build_frame`: header,
escaping, check code), so that the simulated tankers send what a road-transport terminal puts on
the wire (tests/sim/test_terminals.py holds it to the captures in tests/fixtures/jt808). Pure
functions: the serial number belongs to the caller (`client.Jt808Terminal`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC

from safecity.ingest.adapters.tcp.jt808 import (
    AUTHENTICATE,
    BATCH_LOCATION,
    HEARTBEAT,
    LOCATION,
    PLATFORM_RESPONSE,
    REGISTER,
    REGISTER_RESPONSE,
)
from safecity.ingest.adapters.tcp.jt808_frame import build_frame
from safecity.ingest.adapters.tcp.jt808_location import (
    ACC_ON,
    ALARM_BITS,
    POSITIONED,
    SOUTH,
    TERMINAL_OFFSET,
    WEST,
)
from safecity.sim.terminals.reading import Reading

# One alarm flag bit per platform alarm name (the first bit the decoder maps onto it).
ALARM_FLAGS: dict[str, int] = {}
for _bit, _name in sorted(ALARM_BITS.items()):
    ALARM_FLAGS.setdefault(_name, 1 << _bit)


@dataclass(frozen=True, slots=True)
class Vehicle:
    """What a terminal says of itself when it registers (JT/T 808-2013 table 8)."""

    province: int = 33  # Zhejiang
    city: int = 300  # Wenzhou
    maker: str = "SAFEC"
    model: str = "SIM-808"
    terminal_id: str = "0000001"
    plate_colour: int = 2  # yellow: a commercial vehicle
    plate: str = "浙C00001"


def _text(value: str, width: int) -> bytes:
    """A fixed-width GBK field padded with NULs (too long a value is cut)."""
    return value.encode("gbk")[:width].ljust(width, b"\x00")


def _bcd_time(reading: Reading) -> bytes:
    """YYMMDDhhmmss in BCD, Beijing time (the protocol's clock, whatever the terminal's zone)."""
    local = reading.ts.astimezone(UTC) + TERMINAL_OFFSET
    return bytes.fromhex(local.strftime("%y%m%d%H%M%S"))


def alarm_flags(names: tuple[str, ...] | list[str]) -> int:
    """The alarm word raising each named alarm."""
    flags = 0
    for name in names:
        if name not in ALARM_FLAGS:
            known = ", ".join(sorted(ALARM_FLAGS))
            raise ValueError(f"JT/T 808 has no alarm bit for {name!r} (one of {known})")
        flags |= ALARM_FLAGS[name]
    return flags


# Cached: a load generator reports the same few readings again and again (see gt06.location_body).
@functools.lru_cache(maxsize=4096)
def location_body(
    reading: Reading,
    *,
    alarms: tuple[str, ...] = (),
    acc_on: bool = True,
    mileage_km: float | None = None,
    fuel_l: float | None = None,
    tachograph_speed_kmh: float | None = None,
    signal: int | None = None,
) -> bytes:
    """The 0x0200 body: basic information, then the additional items given (satellites always)."""
    status = (ACC_ON if acc_on else 0) | (POSITIONED if reading.valid else 0)
    status |= (SOUTH if reading.lat < 0 else 0) | (WEST if reading.lon < 0 else 0)
    body = (
        alarm_flags(alarms).to_bytes(4, "big")
        + status.to_bytes(4, "big")
        + round(abs(reading.lat) * 1e6).to_bytes(4, "big")
        + round(abs(reading.lon) * 1e6).to_bytes(4, "big")
        + max(0, round(reading.altitude_m)).to_bytes(2, "big")
        + round(reading.speed_kmh * 10).to_bytes(2, "big")
        + (round(reading.course) % 360).to_bytes(2, "big")
        + _bcd_time(reading)
    )
    if mileage_km is not None:
        body += b"\x01\x04" + round(mileage_km * 10).to_bytes(4, "big")
    if fuel_l is not None:
        body += b"\x02\x02" + round(fuel_l * 10).to_bytes(2, "big")
    if tachograph_speed_kmh is not None:
        body += b"\x03\x02" + round(tachograph_speed_kmh * 10).to_bytes(2, "big")
    if signal is not None:
        body += b"\x30\x01" + bytes([signal])
    return body + b"\x31\x01" + bytes([min(reading.satellites, 255)])


def frame(msg_id: int, body: bytes, phone: str, serial: int) -> bytes:
    """One 2013-edition frame (12-digit phone number) with its marks, escapes and check code."""
    return build_frame(msg_id, body, phone=phone, serial=serial, protocol_version=None)


def register(phone: str, serial: int, vehicle: Vehicle | None = None) -> bytes:
    """0x0100 (2013 widths: maker 5, model 20, terminal id 7)."""
    v = vehicle or Vehicle()
    body = (
        v.province.to_bytes(2, "big")
        + v.city.to_bytes(2, "big")
        + _text(v.maker, 5)
        + _text(v.model, 20)
        + _text(v.terminal_id, 7)
        + bytes([v.plate_colour])
        + v.plate.encode("gbk")
    )
    return frame(REGISTER, body, phone, serial)


def authenticate(phone: str, serial: int, code: str) -> bytes:
    """0x0102: the code the platform issued in its 0x8100."""
    return frame(AUTHENTICATE, code.encode("gbk"), phone, serial)


def heartbeat(phone: str, serial: int) -> bytes:
    """0x0002: an empty body."""
    return frame(HEARTBEAT, b"", phone, serial)


def location(phone: str, serial: int, reading: Reading, *, alarms: tuple[str, ...] = ()) -> bytes:
    """0x0200: one report with the named alarms raised (items: `location_body`, framed with `frame`)."""
    return frame(LOCATION, location_body(reading, alarms=alarms), phone, serial)


def batch(phone: str, serial: int, bodies: list[bytes], *, blind_area: bool = False) -> bytes:
    """0x0704: several 0x0200 bodies; `blind_area` marks reports kept while out of coverage."""
    body = len(bodies).to_bytes(2, "big") + bytes([1 if blind_area else 0])
    for one in bodies:
        body += len(one).to_bytes(2, "big") + one
    return frame(BATCH_LOCATION, body, phone, serial)


__all__ = [
    "ALARM_FLAGS",
    "AUTHENTICATE",
    "BATCH_LOCATION",
    "HEARTBEAT",
    "LOCATION",
    "PLATFORM_RESPONSE",
    "REGISTER",
    "REGISTER_RESPONSE",
    "Vehicle",
    "alarm_flags",
    "authenticate",
    "batch",
    "frame",
    "heartbeat",
    "location",
    "location_body",
    "register",
]
