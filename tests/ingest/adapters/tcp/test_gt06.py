"""The GT06 codec on frames captured from real terminals: fields one by one, and every reply."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safecity.ingest.adapters.tcp import gt06_frame
from safecity.ingest.adapters.tcp.gt06 import Gt06Protocol
from safecity.ingest.adapters.tcp.protocol import (
    ALARMS,
    BadFrame,
    DeviceProtocol,
    Message,
    MessageType,
    Outcome,
    Session,
)
from tests.ingest.adapters.tcp.conftest import ACKS, BAD_FRAMES, FRAMES

CODEC = Gt06Protocol()


def decode(name: str, session: Session | None = None) -> Message:
    """Split and decode one named real frame; it must be exactly one valid message."""
    buffer = bytearray(FRAMES[name])
    session = session or Session()
    [frame] = CODEC.split(buffer, session)
    assert isinstance(frame, bytes)
    assert not buffer
    message = CODEC.decode(frame, session)
    assert isinstance(message, Message), message
    return message


def test_the_codec_implements_the_device_protocol() -> None:
    codec: DeviceProtocol = CODEC
    assert codec.name == "gt06"


def test_login_names_the_terminal_by_its_fifteen_imei_digits() -> None:
    session = Session()
    message = decode("login", session)
    assert message.type is MessageType.LOGIN
    assert message.terminal == "864717003283581"
    assert message.serial == 0x0009
    assert message.protocol_id == 0x01
    assert session.terminal == "864717003283581"


def test_login_of_a_newer_terminal_carries_its_type_and_time_zone() -> None:
    west = decode("login_type_tz_west")
    assert west.terminal == "864717003664467"
    assert west.fields == {"type_id": "100f", "terminal_utc_offset_minutes": -240}
    assert west.serial == 0x0002
    zero = decode("login_type_tz_zero")
    assert zero.terminal == "863586038760942"
    assert zero.fields["terminal_utc_offset_minutes"] == 0


def test_messages_after_login_carry_the_sessions_terminal() -> None:
    session = Session()
    decode("login", session)
    assert decode("status_13", session).terminal == "864717003283581"


def test_location_0x12_decodes_time_position_speed_course_and_cell() -> None:
    message = decode("location_12_lithuania")
    assert message.type is MessageType.LOCATION
    assert message.serial == 0x0003
    [fix] = message.fixes
    # Traccar's test expects 2015-10-20 14:21:11 UTC, 54.94535, 24.01762 for this frame.
    assert fix.ts == datetime(2015, 10, 20, 14, 21, 11, tzinfo=UTC)
    assert fix.lat == pytest.approx(54.945347, abs=1e-6)
    assert fix.lon == pytest.approx(24.017622, abs=1e-6)
    assert fix.valid is True
    assert fix.speed_kmh == 0
    assert fix.course == 0
    assert fix.satellites == 5
    assert fix.alarms == ()
    assert message.fields["cell"] == {"mcc": 246, "mnc": 1, "lac": 110, "cell_id": 21978}


@pytest.mark.parametrize(
    ("offset_minutes", "utc"),
    [
        (0, datetime(2015, 10, 20, 14, 21, 11, tzinfo=UTC)),
        (180, datetime(2015, 10, 20, 11, 21, 11, tzinfo=UTC)),  # a terminal on UTC+3
        (-300, datetime(2015, 10, 20, 19, 21, 11, tzinfo=UTC)),  # a terminal on UTC-5
        (480, datetime(2015, 10, 20, 6, 21, 11, tzinfo=UTC)),  # China's terminals on UTC+8
    ],
)
def test_the_terminals_local_time_becomes_utc_by_the_sessions_offset(
    offset_minutes: int, utc: datetime
) -> None:
    [fix] = decode("location_12_lithuania", Session(utc_offset_minutes=offset_minutes)).fixes
    assert fix.ts == utc
    assert fix.ts.utcoffset() is not None


def test_location_0x22_decodes_the_fix_and_the_acc_and_reupload_bytes() -> None:
    message = decode("location_22_huizhou")
    assert message.protocol_id == 0x22
    assert message.serial == 0x0008
    [fix] = message.fixes
    assert fix.ts == datetime(2015, 12, 29, 2, 51, 5, tzinfo=UTC)
    assert fix.lat == pytest.approx(23.111693, abs=1e-6)
    assert fix.lon == pytest.approx(114.409298, abs=1e-6)
    assert (fix.valid, fix.speed_kmh, fix.course, fix.satellites) == (True, 0, 0, 9)
    assert fix.extras["acc_on"] is False
    assert fix.extras["reuploaded"] is True
    assert message.fields["cell"] == {"mcc": 460, "mnc": 0, "lac": 10365, "cell_id": 8049}


def test_a_location_without_gps_positioning_is_an_invalid_fix() -> None:
    [fix] = decode("location_22_no_fix").fixes
    assert fix.valid is False
    assert fix.ts == datetime(2017, 6, 22, 10, 16, 22, tzinfo=UTC)
    assert fix.lat == pytest.approx(23.010642, abs=1e-6)
    assert fix.lon == pytest.approx(72.507196, abs=1e-6)
    assert fix.satellites == 6
    assert fix.extras["acc_on"] is True


def test_location_0x10_is_gps_only() -> None:
    message = decode("location_10_gps_only")
    [fix] = message.fixes
    assert fix.ts == datetime(2011, 3, 26, 11, 27, 49, tzinfo=UTC)
    assert fix.lat == pytest.approx(23.111678, abs=1e-6)
    assert fix.lon == pytest.approx(114.409208, abs=1e-6)
    assert (fix.valid, fix.speed_kmh, fix.course, fix.satellites) == (True, 1, 289, 12)
    assert "cell" not in message.fields


def test_location_0x11_has_a_west_longitude_and_a_wide_cell() -> None:
    message = decode("location_11_4g_cell")
    [fix] = message.fixes
    assert fix.ts == datetime(2021, 11, 11, 2, 44, 48, tzinfo=UTC)
    assert fix.lat == pytest.approx(43.970484, abs=1e-6)
    assert fix.lon == pytest.approx(-79.263956, abs=1e-6)  # Ontario: bit 11 says west
    assert fix.valid is True
    assert fix.satellites == 8
    assert message.fields["cell"] == {"mcc": 302, "mnc": 720, "lac": 30175, "cell_id": 8685836}


def test_status_0x13_reports_battery_signal_and_terminal_bits() -> None:
    message = decode("status_13")
    assert message.type is MessageType.HEARTBEAT
    assert message.serial == 0x0129
    assert message.status == {
        "armed": False,
        "acc_on": False,
        "charging": True,
        "gps_tracking": True,
        "power_cut": True,
        "voltage_level": 6,
        "battery_pct": 100,
        "signal": 4,
    }
    assert message.fields["alarms"] == ()
    assert message.fields["language"] == 2
    assert decode("status_13_b").status["power_cut"] is False


def test_alarm_0x16_vibration_with_its_fix_cell_and_status() -> None:
    message = decode("alarm_16_vibration")
    assert message.type is MessageType.ALARM
    assert message.serial == 0x001C
    [fix] = message.fixes
    assert fix.alarms == ("vibration",)
    assert fix.ts == datetime(2015, 12, 29, 10, 43, 33, tzinfo=UTC)
    assert fix.lat == pytest.approx(23.111682, abs=1e-6)
    assert fix.lon == pytest.approx(114.409253, abs=1e-6)
    assert (fix.valid, fix.speed_kmh, fix.course, fix.satellites) == (True, 0, 111, 8)
    assert message.status["voltage_level"] == 4
    assert message.status["battery_pct"] == 67
    assert message.status["signal"] == 4
    assert message.fields["cell"] == {"mcc": 460, "mnc": 0, "lac": 10365, "cell_id": 8049}


def test_alarm_0x16_power_cut_in_the_southern_and_western_hemispheres() -> None:
    [fix] = decode("alarm_16_power_cut_south_west").fixes
    assert fix.alarms == ("power_cut",)
    assert fix.lat == pytest.approx(-19.991585, abs=1e-6)
    assert fix.lon == pytest.approx(-43.904117, abs=1e-6)
    assert (fix.speed_kmh, fix.course, fix.satellites) == (7, 8, 5)


def test_alarm_0x16_overspeed_and_removal() -> None:
    overspeed = decode("alarm_16_overspeed")
    [fix] = overspeed.fixes
    assert fix.alarms == ("overspeed",)
    assert fix.speed_kmh == 88
    assert fix.course == 199
    assert fix.lat == pytest.approx(27.466647, abs=1e-6)
    assert fix.lon == pytest.approx(76.043698, abs=1e-6)
    assert overspeed.status["charging"] is True
    [removed] = decode("alarm_16_removed").fixes
    assert removed.alarms == ("tamper",)  # terminal-information bits 3-5 = 7
    assert decode("alarm_16_removed").status["battery_pct"] == 85  # a percentage, not the 0-6 scale


def test_alarm_0x26_vibration_without_a_gps_fix() -> None:
    message = decode("alarm_26_vibration")
    assert message.type is MessageType.ALARM
    assert message.protocol_id == 0x26
    [fix] = message.fixes
    assert fix.alarms == ("vibration",)
    assert fix.valid is False
    assert fix.ts == datetime(2018, 3, 12, 6, 56, 22, tzinfo=UTC)
    assert fix.lat == pytest.approx(22.575833, abs=1e-6)
    assert fix.lon == pytest.approx(113.915653, abs=1e-6)
    assert message.status["battery_pct"] == 100
    assert message.status["signal"] == 4


def test_every_alarm_name_is_one_the_platform_knows() -> None:
    for name in FRAMES:
        message = decode(name)
        for fix in message.fixes:
            assert set(fix.alarms) <= ALARMS
        assert set(message.fields.get("alarms", ())) <= ALARMS


def test_lbs_0x28_reports_cells_and_no_fix() -> None:
    message = decode("lbs_28", Session(utc_offset_minutes=480))
    assert message.type is MessageType.LBS
    assert message.fixes == ()
    assert message.serial == 0x0005
    assert message.fields["ts"] == datetime(2016, 1, 12, 18, 2, 2, tzinfo=UTC)
    assert (message.fields["mcc"], message.fields["mnc"]) == (460, 0)
    assert message.fields["cells"] == [
        {"lac": 10365, "cell_id": 8049, "rssi": 62},
        {"lac": 10365, "cell_id": 8050, "rssi": 49},
        {"lac": 10365, "cell_id": 7715, "rssi": 45},
        {"lac": 10365, "cell_id": 8000, "rssi": 24},
    ]
    assert message.fields["timing_advance"] == 255


def test_lbs_0x18_reports_seven_cells() -> None:
    message = decode("lbs_18")
    assert message.type is MessageType.LBS
    assert message.fields["ts"] == datetime(2016, 12, 15, 18, 1, 1, tzinfo=UTC)
    assert (message.fields["mcc"], message.fields["mnc"]) == (405, 39)
    assert len(message.fields["cells"]) == 7
    assert message.fields["cells"][0] == {"lac": 6020, "cell_id": 23222, "rssi": 54}


def test_long_frame_0x32_location() -> None:
    message = decode("long_32_location")
    assert message.type is MessageType.LOCATION
    assert message.serial == 0x00BC
    [fix] = message.fixes
    assert fix.ts == datetime(2017, 6, 23, 12, 27, 24, tzinfo=UTC)
    assert fix.lat == pytest.approx(-6.133382, abs=1e-6)  # Jakarta
    assert fix.lon == pytest.approx(106.995049, abs=1e-6)
    assert (fix.valid, fix.speed_kmh, fix.course, fix.satellites) == (True, 0, 53, 9)
    assert message.fields["cell"] == {"mcc": 510, "mnc": 10, "lac": 124, "cell_id": 2321, "rssi": 36}
    assert len(message.fields["cells"]) == 3


def test_long_frame_0x32_without_gps_is_an_lbs_report() -> None:
    message = decode("long_32_no_gps")
    assert message.type is MessageType.LBS
    assert message.fixes == ()
    assert message.fields["ts"] == datetime(2017, 6, 23, 12, 27, 19, tzinfo=UTC)
    assert message.fields["wifi_hex"] == "10bef565574e37"


def test_long_frame_0x94_information() -> None:
    iccid = decode("long_94_iccid")
    assert iccid.type is MessageType.HEARTBEAT
    assert iccid.fields["iccid"] == "8966051912408052452"
    assert iccid.fields["imei"] == "359857082366758"
    assert decode("long_94_voltage").status == {"external_voltage_v": 0.0}


def test_an_unknown_protocol_number_is_an_unknown_message_with_its_body() -> None:
    message = decode("unknown_19")
    assert message.type is MessageType.UNKNOWN
    assert message.protocol_id == 0x19
    assert message.serial == 0x0008
    assert message.raw == FRAMES["unknown_19"]
    assert message.fields["body_hex"] == "028f0a29e10036f12003040102"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("wrong_crc_login", "CRC-ITU mismatch"),
        ("wrong_crc_12", "CRC-ITU mismatch"),
        ("wrong_length_13", "no stop bits"),
        ("length_below_minimum", "below the minimum"),
    ],
)
def test_real_frames_with_bad_framing_are_bad_frames_with_a_reason(name: str, reason: str) -> None:
    buffer = bytearray(BAD_FRAMES[name] + FRAMES["status_13"])
    out = CODEC.split(buffer, Session())
    assert isinstance(out[0], BadFrame)
    assert reason in out[0].reason
    assert out[-1] == FRAMES["status_13"]
    assert b"".join(i.raw for i in out if isinstance(i, BadFrame)) == BAD_FRAMES[name]  # nothing lost


def test_a_date_that_is_no_calendar_date_is_a_bad_frame() -> None:
    buffer = bytearray(BAD_FRAMES["zero_date_16"])
    [frame] = CODEC.split(buffer, Session())
    assert isinstance(frame, bytes)
    bad = CODEC.decode(frame, Session())
    assert isinstance(bad, BadFrame)
    assert "month must be in 1..12" in bad.reason


# Replies.


def reply(name: str, outcome: Outcome = Outcome.STORED, session: Session | None = None) -> list[bytes]:
    """The codec's replies to a named real frame."""
    session = session or Session(device_id="dev-1")
    return CODEC.replies(decode(name, session), session, outcome)


def test_login_ack_matches_the_protocol_documents_example() -> None:
    message = Message(type=MessageType.LOGIN, raw=b"\x78\x78", serial=1, protocol_id=0x01, terminal="1")
    [ack] = CODEC.replies(message, Session(device_id="dev-1"), Outcome.STORED)
    assert ack == bytes.fromhex("787805010001d9dc0d0a")


def test_location_ack_matches_the_ack_shaped_frame_of_traccars_test() -> None:
    message = Message(type=MessageType.LOCATION, raw=b"\x78\x78", serial=0x0099, protocol_id=0x12)
    assert CODEC.replies(message, Session(device_id="d"), Outcome.STORED) == [ACKS["ack_shaped_12"]]


@pytest.mark.parametrize(
    ("name", "protocol", "long"),
    [
        ("login", 0x01, False),
        ("location_12_lithuania", 0x12, False),
        ("location_22_huizhou", 0x22, False),
        ("location_10_gps_only", 0x10, False),
        ("location_11_4g_cell", 0x11, False),
        ("status_13", 0x13, False),
        ("alarm_16_vibration", 0x16, False),
        ("alarm_26_vibration", 0x26, False),
        ("lbs_28", 0x28, False),
        ("lbs_18", 0x18, False),
        ("long_32_location", 0x32, True),
    ],
)
def test_each_acked_message_gets_one_ack_that_frames_back_with_its_serial(
    name: str, protocol: int, long: bool
) -> None:
    [ack] = reply(name)
    buffer = bytearray(ack)
    assert CODEC.split(buffer, Session()) == [ack]  # length, CRC and stop bits check
    head = gt06_frame.header_size(ack)
    assert (head == 4) is long
    assert ack[head] == protocol
    assert int.from_bytes(ack[head + 1 : head + 3], "big") == decode(name).serial
    assert len(ack) == head + 7  # protocol, serial, CRC, stop: no body


def test_information_frames_get_no_reply() -> None:
    assert reply("long_94_iccid") == []
    assert reply("long_94_voltage") == []


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_nothing_is_acked_when_storage_failed(name: str) -> None:
    assert reply(name, Outcome.FAILED) == []


def test_a_refused_login_gets_no_ack() -> None:
    assert reply("login", Outcome.REFUSED, Session()) == []


def test_a_refused_location_of_a_terminal_not_logged_in_gets_no_ack() -> None:
    assert reply("location_12_lithuania", Outcome.REFUSED, Session()) == []


def test_an_unknown_type_from_a_logged_in_terminal_is_acked_so_it_is_not_resent() -> None:
    [ack] = reply("unknown_19", Outcome.REFUSED)
    assert ack == gt06_frame.encode(0x19, 0x0008)
    assert reply("unknown_19", Outcome.REFUSED, Session()) == []


def test_command_replies_are_not_acked() -> None:
    frame = gt06_frame.encode(0x81, 7, b"\x05\x00\x00\x00\x00OK")
    message = CODEC.decode(frame, Session())
    assert isinstance(message, Message)
    assert message.type is MessageType.UNKNOWN
    assert CODEC.replies(message, Session(device_id="d"), Outcome.REFUSED) == []


# Faithful decoding of implausible values: the pipeline judges them, the codec must not raise.


def gps_body(date: bytes, lat: int, lon: int, flags: int) -> bytes:
    """A 0x12 body: date, satellites, lat, lon, speed, course/status, a cell."""
    return (
        date
        + b"\xc8"
        + lat.to_bytes(4, "big")
        + lon.to_bytes(4, "big")
        + b"\x10"
        + flags.to_bytes(2, "big")
        + bytes(8)
    )


def test_zero_coordinates_outside_the_globe_and_far_future_dates_decode_faithfully() -> None:
    far = bytes([255, 12, 31, 23, 59, 59])
    message = CODEC.decode(gt06_frame.encode(0x12, 1, gps_body(far, 0, 0, 0x1400)), Session())
    assert isinstance(message, Message)
    [fix] = message.fixes
    assert (fix.lat, fix.lon) == (0.0, 0.0)
    assert fix.ts == datetime(2255, 12, 31, 23, 59, 59, tzinfo=UTC)
    huge = CODEC.decode(gt06_frame.encode(0x12, 2, gps_body(far, 0xFFFFFFFF, 0xFFFFFFFF, 0x0800)), Session())
    assert isinstance(huge, Message)
    assert huge.fixes[0].lat == pytest.approx(-2386.092942, abs=1e-6)
    assert huge.fixes[0].lon == pytest.approx(-2386.092942, abs=1e-6)


@given(
    protocol=st.integers(0, 255),
    body=st.binary(max_size=120),
    long=st.booleans(),
    offset=st.integers(-720, 840),
)
def test_decode_never_raises_whatever_the_body(protocol: int, body: bytes, long: bool, offset: int) -> None:
    frame = gt06_frame.encode(protocol, 1, body, long=long)
    result = CODEC.decode(frame, Session(utc_offset_minutes=offset))
    assert isinstance(result, Message | BadFrame)
    if isinstance(result, Message):
        assert result.protocol_id == protocol
        assert result.raw == frame
