"""`plain_report`, the codecs' shortcut for plain location reports, against the general path.

Whatever frame it takes, it must give exactly what `decode`, `events_of` and `replies` give: the
same event (id, time, place, attrs in the same order), the same ack and the same last fix. Any
frame it declines takes that path, so declining is always safe; the simulated terminals' reports
must not be declined, or the shortcut would be dead code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from safecity.ingest.adapters.tcp import gt06_frame
from safecity.ingest.adapters.tcp.gt06 import GPS_LBS, GPS_LBS_EXT, Gt06Protocol
from safecity.ingest.adapters.tcp.jt808 import LOCATION, Jt808Protocol
from safecity.ingest.adapters.tcp.jt808_frame import build_frame
from safecity.ingest.adapters.tcp.protocol import DeviceProtocol, Message, Outcome, PlainReport, Session
from safecity.ingest.adapters.tcp.records import events_of
from safecity.sim.terminals import Reading
from safecity.sim.terminals import gt06 as sim_gt06
from safecity.sim.terminals import jt808 as sim_jt808

IMEI = "864717003283581"
PHONE = "013912345678"
PHONE_2019 = "00000000013912345678"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def session(terminal: str, utc_offset_minutes: int = 0) -> Session:
    return Session(device_id="TRK-1", terminal=terminal, utc_offset_minutes=utc_offset_minutes)


def general(
    codec: DeviceProtocol, frame: bytes, terminal: str, offset: int = 0
) -> tuple[list[dict], list[bytes]]:
    """What the general path makes of one frame: its events as JSON values, and its acks."""
    s = session(terminal, offset)
    [item] = codec.split(bytearray(frame), s)
    assert isinstance(item, bytes)
    message = codec.decode(item, s)
    assert isinstance(message, Message)
    events, _ = events_of(message, protocol=codec.name, terminal=terminal, last=None, now=NOW)
    placed = [msgspec.to_builtins(e) for e in events.placed + events.unplaced]
    return placed, codec.replies(message, s, Outcome.STORED)


def plain(codec: DeviceProtocol, frame: bytes, terminal: str, offset: int = 0) -> PlainReport | None:
    s = session(terminal, offset)
    [item] = codec.split(bytearray(frame), s)
    assert isinstance(item, bytes)
    return codec.plain_report(item, s, terminal)


def agrees(codec: Callable[[], DeviceProtocol], frame: bytes, terminal: str, offset: int = 0) -> bool:
    """Assert the shortcut gives what the general path does (each on a codec of its own); return
    whether it took the frame."""
    report = plain(codec(), frame, terminal, offset)
    if report is None:
        return False
    events, acks = general(codec(), frame, terminal, offset)
    assert events == [msgspec.to_builtins(report.event)]
    # Same keys in the same order: the stored attrs text is the same whichever path made it.
    assert list(events[0]["attrs"]) == list(msgspec.to_builtins(report.event)["attrs"])
    assert acks == [report.ack]
    assert (report.last.lat, report.last.lon) == (events[0]["lat"], events[0]["lon"])
    assert int(report.last.ts.timestamp() * 1000) == events[0]["ts"]
    return True


# The JT/T 808 items a plain report may carry, by id, with their sizes (JT/T 808-2013 table 27).
PLAIN_ITEMS = {0x01: 4, 0x02: 2, 0x03: 2, 0x25: 4, 0x2A: 2, 0x2B: 4, 0x30: 1, 0x31: 1}


def is_date(yymmddhhmmss: bytes) -> bool:
    yy, mo, dd, hh, mi, ss = yymmddhhmmss
    try:
        datetime(2000 + yy, mo, dd, hh, mi, ss)
    except ValueError:
        return False
    return True


clock = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
        lambda d: bytes([d.year - 2000, d.month, d.day, d.hour, d.minute, d.second])
    ),
    st.binary(min_size=6, max_size=6),  # months 13 and day 0 included: not a date
)


@given(
    protocol=st.sampled_from([GPS_LBS, GPS_LBS_EXT]),
    time6=clock,
    info=st.integers(0, 255),
    lat=st.one_of(st.just(0), st.integers(0, 2**32 - 1)),
    lon=st.one_of(st.just(0), st.integers(0, 2**32 - 1)),
    speed=st.integers(0, 255),
    flags=st.integers(0, 0xFFFF),
    mcc=st.integers(0, 0xFFFF),
    tail=st.one_of(st.just(b""), st.just(b"\x01\x00\x00"), st.binary(max_size=6)),
    serial=st.integers(0, 0xFFFF),
    offset=st.sampled_from([0, 480, -300]),
)
def test_a_gt06_location_gives_the_general_paths_event_and_ack(
    protocol: int,
    time6: bytes,
    info: int,
    lat: int,
    lon: int,
    speed: int,
    flags: int,
    mcc: int,
    tail: bytes,
    serial: int,
    offset: int,
) -> None:
    body = time6 + bytes([info]) + lat.to_bytes(4, "big") + lon.to_bytes(4, "big") + bytes([speed])
    body += flags.to_bytes(2, "big") + mcc.to_bytes(2, "big") + b"\x00\x10\x27\x00\x12\x34" + tail
    taken = agrees(Gt06Protocol, gt06_frame.encode(protocol, serial, body), IMEI, offset)
    # Taken exactly when it is the plain shape: the usual size, a one-byte MNC, a date, a position.
    usual_size = len(tail) == (3 if protocol == GPS_LBS_EXT else 0)
    assert taken == (usual_size and mcc < 0x8000 and is_date(time6) and (lat, lon) != (0, 0))


item = st.one_of(
    st.tuples(st.sampled_from([0x01, 0x25, 0x2B]), st.binary(min_size=4, max_size=4)),
    st.tuples(st.sampled_from([0x02, 0x03, 0x2A]), st.binary(min_size=2, max_size=2)),
    st.tuples(st.sampled_from([0x30, 0x31]), st.binary(min_size=1, max_size=1)),
    st.tuples(st.integers(0, 255), st.binary(max_size=8)),  # unknown, wrong sizes, area alarms
)
bcd = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: bytes.fromhex(d.strftime("%y%m%d%H%M%S"))
)


@given(
    alarm=st.one_of(st.just(0), st.integers(0, 2**32 - 1)),
    status=st.integers(0, 2**32 - 1),
    lat=st.one_of(st.just(0), st.integers(0, 2**32 - 1)),
    lon=st.one_of(st.just(0), st.integers(0, 2**32 - 1)),
    altitude=st.integers(0, 0xFFFF),
    speed=st.integers(0, 0xFFFF),
    course=st.integers(0, 0xFFFF),
    time6=st.one_of(bcd, st.binary(min_size=6, max_size=6)),
    items=st.lists(item, max_size=5),
    trailing=st.one_of(st.just(b""), st.binary(min_size=1, max_size=1)),
    serial=st.integers(0, 0xFFFF),
    edition=st.sampled_from([None, 1]),
)
def test_a_jt808_location_gives_the_general_paths_event_and_ack(
    alarm: int,
    status: int,
    lat: int,
    lon: int,
    altitude: int,
    speed: int,
    course: int,
    time6: bytes,
    items: list[tuple[int, bytes]],
    trailing: bytes,
    serial: int,
    edition: int | None,
) -> None:
    body = b"".join(v.to_bytes(4, "big") for v in (alarm, status, lat, lon))
    body += b"".join(v.to_bytes(2, "big") for v in (altitude, speed, course)) + time6
    body += b"".join(bytes([i, len(v)]) + v for i, v in items) + trailing
    phone = PHONE if edition is None else PHONE_2019
    frame = build_frame(LOCATION, body, phone=phone, serial=serial, protocol_version=edition)
    taken = agrees(Jt808Protocol, frame, phone)
    # Taken exactly when it is the plain shape: no alarm, only number items, a date, a position.
    plain_items = all(PLAIN_ITEMS.get(i) == len(v) for i, v in items) and not trailing
    bcd_date = time6.hex().isdigit() and is_date(bytes(int(time6.hex()[k : k + 2]) for k in range(0, 12, 2)))
    assert taken == (alarm == 0 and plain_items and bcd_date and (lat, lon) != (0, 0))


def test_another_terminals_number_in_a_jt808_header_is_not_a_plain_report() -> None:
    reading = Reading(ts=NOW, lat=27.99, lon=120.69)
    frame = sim_jt808.location("013900000000", 5, reading)
    assert plain(Jt808Protocol(), frame, PHONE) is None


@given(
    lat=st.floats(-89, 89).filter(lambda v: abs(v) > 1e-3),
    lon=st.floats(-179, 179).filter(lambda v: abs(v) > 1e-3),
    speed=st.floats(0, 200),
    course=st.floats(0, 359),
    serial=st.integers(1, 0xFFFF),
)
def test_the_simulated_terminals_reports_are_all_plain(
    lat: float, lon: float, speed: float, course: float, serial: int
) -> None:
    reading = Reading(ts=NOW, lat=lat, lon=lon, speed_kmh=speed, course=course)
    for protocol in (GPS_LBS, GPS_LBS_EXT):
        assert agrees(Gt06Protocol, sim_gt06.location(reading, serial, protocol=protocol), IMEI)
    frame = sim_jt808.location(PHONE, serial, reading)
    assert agrees(Jt808Protocol, frame, PHONE)
    rich = sim_jt808.location_body(reading, mileage_km=1234.5, fuel_l=40.2, tachograph_speed_kmh=55, signal=3)
    assert agrees(Jt808Protocol, sim_jt808.frame(LOCATION, rich, PHONE, serial), PHONE)
