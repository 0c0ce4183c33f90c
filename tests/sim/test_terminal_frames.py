"""The simulated terminals' frames against the real captures and the server's own decoders.

Where a capture carries nothing our encoder leaves out, the encoder must give its exact bytes;
elsewhere the capture is decoded, its fields re-encoded, and the decoder must read back the same
fields one by one (time, position, speed, course, satellites, validity, cell, alarms).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from safecity.ingest.adapters.tcp.gt06 import Gt06Protocol
from safecity.ingest.adapters.tcp.jt808 import Jt808Protocol
from safecity.ingest.adapters.tcp.jt808_frame import Frame, parse_frame
from safecity.ingest.adapters.tcp.protocol import Fix, Message, MessageType, Outcome, Session
from safecity.sim.terminals import gt06, jt808
from safecity.sim.terminals.reading import Reading

FIXTURES = Path(__file__).parents[1] / "fixtures"
GT06_FRAMES = {
    name: bytes.fromhex(h)
    for name, h in json.loads((FIXTURES / "gt06" / "frames.json").read_text())["frames"].items()
}
GT06 = Gt06Protocol()
JT808 = Jt808Protocol()
AT = datetime(2026, 12, 6, 9, 30, 15, tzinfo=UTC)


def jt808_wire(name: str) -> bytes:
    return (FIXTURES / "jt808" / name).read_bytes()


def decode_gt06(frame: bytes, session: Session | None = None) -> Message:
    message = GT06.decode(frame, session or Session())
    assert isinstance(message, Message), message
    return message


def decode_jt808(frame: bytes) -> Message:
    message = JT808.decode(frame, Session())
    assert isinstance(message, Message), message
    return message


def reading_of(fix: Fix) -> Reading:
    return Reading(
        ts=fix.ts,
        lat=fix.lat,
        lon=fix.lon,
        speed_kmh=fix.speed_kmh or 0.0,
        course=fix.course or 0.0,
        satellites=fix.satellites or 0,
        valid=fix.valid,
        altitude_m=fix.altitude_m or 0.0,
    )


def same_fix(ours: Fix, theirs: Fix) -> None:
    assert ours.ts == theirs.ts
    assert ours.lat == pytest.approx(theirs.lat, abs=1e-6)
    assert ours.lon == pytest.approx(theirs.lon, abs=1e-6)
    assert ours.speed_kmh == theirs.speed_kmh
    assert ours.course == theirs.course
    assert ours.valid == theirs.valid
    assert ours.alarms == theirs.alarms


# GT06


def test_gt06_login_is_the_captured_login_byte_for_byte() -> None:
    assert gt06.login("864717003283581", 9) == GT06_FRAMES["login"]


@pytest.mark.parametrize("name", ["location_12_lithuania", "location_22_huizhou"])
def test_gt06_location_reads_back_as_the_captured_one(name: str) -> None:
    captured = decode_gt06(GT06_FRAMES[name])
    cell = captured.fields["cell"]
    ours = decode_gt06(
        gt06.location(
            reading_of(captured.fixes[0]),
            captured.serial or 0,
            protocol=captured.protocol_id or 0,
            cell=gt06.Cell(cell["mcc"], cell["mnc"], cell["lac"], cell["cell_id"]),
        )
    )
    assert (ours.type, ours.serial, ours.protocol_id) == (
        MessageType.LOCATION,
        captured.serial,
        captured.protocol_id,
    )
    same_fix(ours.fixes[0], captured.fixes[0])
    assert ours.fixes[0].satellites == captured.fixes[0].satellites
    assert ours.fields["cell"] == cell


@pytest.mark.parametrize(
    "name", ["alarm_16_vibration", "alarm_26_vibration", "alarm_16_power_cut_south_west"]
)
def test_gt06_alarm_reads_back_as_the_captured_one(name: str) -> None:
    captured = decode_gt06(GT06_FRAMES[name])
    fix = captured.fixes[0]
    ours = decode_gt06(
        gt06.alarm(reading_of(fix), fix.alarms[0], captured.serial or 0, protocol=captured.protocol_id or 0)
    )
    assert ours.type is MessageType.ALARM
    same_fix(ours.fixes[0], fix)


def test_gt06_status_reads_back_battery_and_signal() -> None:
    captured = decode_gt06(GT06_FRAMES["status_13_b"])
    ours = decode_gt06(gt06.heartbeat(442, battery_level=6, signal=4))
    assert ours.type is MessageType.HEARTBEAT
    for key in ("voltage_level", "battery_pct", "signal", "gps_tracking", "power_cut"):
        assert ours.status[key] == captured.status[key], key
    assert ours.fields["alarms"] == ()


@pytest.mark.parametrize("name", ["sos", "low_battery", "fall", "power_cut", "vibration"])
def test_gt06_wearer_alarms_decode_to_the_platforms_name(name: str) -> None:
    reading = Reading(ts=AT, lat=27.99, lon=120.70, speed_kmh=3, course=90)
    message = decode_gt06(gt06.alarm(reading, name, 7))
    assert message.type is MessageType.ALARM
    assert message.fixes[0].alarms == (name,)
    assert message.fixes[0].ts == AT


def test_gt06_local_time_and_the_southern_western_hemispheres() -> None:
    reading = Reading(ts=AT, lat=-33.5, lon=-70.25, speed_kmh=61, course=271, satellites=11)
    frame = gt06.location(reading, 1, protocol=gt06.LOCATION_EXT, utc_offset_minutes=480)
    [fix] = decode_gt06(frame, Session(utc_offset_minutes=480)).fixes
    same_fix(fix, Fix(ts=AT, lat=-33.5, lon=-70.25, valid=True, speed_kmh=61.0, course=271.0))
    assert fix.satellites == 11


def test_gt06_ack_of_reads_the_servers_ack() -> None:
    [ack] = GT06.replies(decode_gt06(GT06_FRAMES["location_22_huizhou"]), Session(), Outcome.STORED)
    assert gt06.ack_of(ack) == (0x22, 8)


def test_gt06_refuses_what_it_cannot_encode() -> None:
    reading = Reading(ts=AT, lat=1, lon=1)
    with pytest.raises(ValueError, match="no alarm byte"):
        gt06.alarm(reading, "rollover", 1)
    with pytest.raises(ValueError, match="0x12 or 0x22"):
        gt06.location(reading, 1, protocol=0x16)


# JT/T 808


@pytest.mark.parametrize("name", ["heartbeat.bin", "authenticate_2013.bin", "register_2013.bin"])
def test_jt808_heartbeat_authentication_registration_are_the_captures_byte_for_byte(name: str) -> None:
    wire = jt808_wire(name)
    captured = decode_jt808(wire)
    phone, serial = captured.terminal or "", captured.serial or 0
    if name == "heartbeat.bin":
        ours = jt808.heartbeat(phone, serial)
    elif name == "authenticate_2013.bin":
        ours = jt808.authenticate(phone, serial, captured.fields["auth_code"])
    else:
        f = captured.fields
        vehicle = jt808.Vehicle(
            f["province"], f["city"], f["maker"], f["model"], f["terminal_id"], f["plate_colour"], f["plate"]
        )
        ours = jt808.register(phone, serial, vehicle)
    assert ours == wire


@pytest.mark.parametrize(
    "name",
    ["location_mileage_fuel.bin", "location_sos.bin", "location_low_battery.bin", "location_south_west.bin"],
)
def test_jt808_location_reads_back_as_the_captured_one(name: str) -> None:
    captured = decode_jt808(jt808_wire(name))
    fix = captured.fixes[0]
    extras = fix.extras
    body = jt808.location_body(
        reading_of(fix),
        alarms=fix.alarms,
        acc_on=extras["acc_on"],
        mileage_km=extras.get("mileage_km"),
        fuel_l=extras.get("fuel_l"),
        tachograph_speed_kmh=extras.get("tachograph_speed_kmh"),
    )
    [ours] = decode_jt808(
        jt808.frame(jt808.LOCATION, body, captured.terminal or "", captured.serial or 0)
    ).fixes
    same_fix(ours, fix)
    assert ours.altitude_m == fix.altitude_m
    for key in ("mileage_km", "fuel_l", "tachograph_speed_kmh", "acc_on", "positioned"):
        assert ours.extras.get(key) == extras.get(key), key


def test_jt808_batch_reads_back_every_report_of_the_capture() -> None:
    captured = decode_jt808(jt808_wire("batch_0704_satellites.bin"))
    bodies = [
        jt808.location_body(reading_of(f), mileage_km=f.extras["mileage_km"], signal=f.extras["signal"])
        for f in captured.fixes
    ]
    ours = decode_jt808(jt808.batch(captured.terminal or "", captured.serial or 0, bodies, blind_area=True))
    assert ours.fields["blind_area"] is True
    assert len(ours.fixes) == len(captured.fixes) > 1
    for mine, theirs in zip(ours.fixes, captured.fixes, strict=True):
        same_fix(mine, theirs)
        assert (mine.satellites, mine.extras["signal"]) == (theirs.satellites, theirs.extras["signal"])


@pytest.mark.parametrize("names", [("sos",), ("overspeed", "low_battery"), ("power_cut", "collision")])
def test_jt808_alarm_bits_decode_to_the_platforms_names(names: tuple[str, ...]) -> None:
    reading = Reading(ts=AT, lat=27.99, lon=120.70, speed_kmh=88.5, course=45, altitude_m=12)
    [fix] = decode_jt808(jt808.location("013800000001", 3, reading, alarms=names)).fixes
    assert fix.alarms == names
    assert (fix.ts, fix.speed_kmh, fix.altitude_m, fix.satellites) == (AT, 88.5, 12.0, 9)


def test_jt808_a_frame_whose_bytes_need_escaping_is_escaped_and_reads_back() -> None:
    # 0x7e in the latitude: the frame must escape it for the server to find the frame's end.
    reading = Reading(ts=AT, lat=0x7E7E7E / 1e6, lon=120.0)
    wire = jt808.location("013800000001", 0x7D7E, reading)
    assert wire.count(b"\x7e") == 2
    checked = parse_frame(wire)
    assert isinstance(checked, Frame)
    assert checked.header.serial == 0x7D7E
    assert decode_jt808(wire).fixes[0].lat == pytest.approx(0x7E7E7E / 1e6)


def test_jt808_refuses_an_alarm_it_has_no_bit_for() -> None:
    with pytest.raises(ValueError, match="no alarm bit"):
        jt808.alarm_flags(["fall"])
