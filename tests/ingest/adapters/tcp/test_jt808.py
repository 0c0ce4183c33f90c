"""The JT/T 808 codec against frames captured from real terminals, and the replies it builds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from safecity.ingest.adapters.tcp.jt808 import Jt808Protocol
from safecity.ingest.adapters.tcp.jt808_frame import Frame, build_frame, checksum, parse_frame
from safecity.ingest.adapters.tcp.protocol import (
    ALARMS,
    BadFrame,
    DeviceProtocol,
    Message,
    MessageType,
    Outcome,
    Session,
)

FIXTURES = Path(__file__).parents[3] / "fixtures" / "jt808"
codec = Jt808Protocol()


def wire(name: str) -> bytes:
    """One captured frame as the terminal sent it."""
    return (FIXTURES / f"{name}.bin").read_bytes()


def decode(name: str, session: Session | None = None) -> Message:
    """Split and decode one fixture: exactly one frame, decoded to a message."""
    buffer = bytearray(wire(name))
    frames = codec.split(buffer, session or Session())
    assert len(frames) == 1 and isinstance(frames[0], bytes), frames
    assert buffer == bytearray()
    message = codec.decode(frames[0], session or Session())
    assert isinstance(message, Message), message
    return message


def read_back(reply: bytes) -> Frame:
    """A reply frame checked and parsed by the codec's own framing, through split."""
    buffer = bytearray(reply)
    frames = codec.split(buffer, Session())
    assert frames == [reply]
    checked = parse_frame(reply)
    assert isinstance(checked, Frame), checked
    return checked


def test_codec_implements_the_device_protocol() -> None:
    protocol: DeviceProtocol = codec
    assert protocol.name == "jt808"


# --- real frames, fields one by one ---------------------------------------------------------


def test_registration_2013_reads_province_city_maker_model_id_and_gbk_plate() -> None:
    message = decode("register_2013")

    assert message.type is MessageType.REGISTER
    assert message.protocol_id == 0x0100
    assert message.terminal == "013511221122"
    assert message.serial == 5
    assert message.fields["edition"] == 2013
    assert message.fields["province"] == 0
    assert message.fields["city"] == 0
    assert message.fields["maker"] == "70107"
    assert message.fields["model"] == "HB-R03GBD"
    assert message.fields["terminal_id"] == "2366104"
    assert message.fields["plate_colour"] == 2
    assert message.fields["plate"] == "苏BA6860"


def test_registration_with_the_2011_model_width_is_read_by_its_length() -> None:
    message = decode("register_2011_layout")

    assert message.terminal == "013345678906"
    assert message.serial == 15
    assert message.fields["province"] == 44
    assert message.fields["city"] == 303
    assert message.fields["maker"] == "70111"
    assert message.fields["model"] == "BSJ-M7B"
    assert message.fields["terminal_id"] == "0000000"
    assert message.fields["plate_colour"] == 1
    assert message.fields["plate"] == "粤B88888"


def test_authentication_2013_carries_the_code() -> None:
    message = decode("authenticate_2013")

    assert message.type is MessageType.AUTHENTICATE
    assert message.terminal == "013511221122"
    assert message.serial == 6
    assert message.fields["auth_code"] == "authentication"


def test_heartbeat_has_an_empty_body() -> None:
    message = decode("heartbeat")

    assert message.type is MessageType.HEARTBEAT
    assert message.protocol_id == 0x0002
    assert message.terminal == "043048325465"
    assert message.serial == 0xB7
    assert message.fixes == ()


def test_location_with_mileage_fuel_and_tachograph_speed() -> None:
    message = decode("location_mileage_fuel")
    (fix,) = message.fixes

    assert message.type is MessageType.LOCATION
    assert message.terminal == "013833501744"
    assert message.serial == 25
    assert fix.ts == datetime(2015, 8, 17, 23, 21, 21, tzinfo=UTC)  # 2015-08-18 07:21:21 GMT+8
    assert fix.lat == pytest.approx(22.6426, abs=1e-6)
    assert fix.lon == pytest.approx(114.032984, abs=1e-6)
    assert fix.valid is True
    assert fix.speed_kmh == 0.0
    assert fix.course == 8.0
    assert fix.altitude_m == 128.0
    assert fix.alarms == ()
    assert fix.extras["mileage_km"] == pytest.approx(75.7)
    assert fix.extras["fuel_l"] == 0.0
    assert fix.extras["tachograph_speed_kmh"] == 0.0
    assert "items" not in fix.extras
    assert message.status["acc_on"] is False


def test_location_under_voltage_alarm_is_low_battery_and_unknown_item_is_kept_raw() -> None:
    message = decode("location_low_battery")
    (fix,) = message.fixes

    assert message.terminal == "012345678901"
    assert message.serial == 19
    assert fix.ts == datetime(2021, 7, 26, 12, 35, 31, tzinfo=UTC)
    assert fix.lat == pytest.approx(22.641605, abs=1e-6)
    assert fix.lon == pytest.approx(114.032486, abs=1e-6)
    assert fix.valid is True
    assert fix.altitude_m == 235.0
    assert fix.course == 341.0
    assert fix.speed_kmh == 0.0
    assert fix.alarms == ("low_battery",)
    assert fix.extras["mileage_km"] == 0.0
    assert fix.extras["items"] == {
        "eb": "000c00b28986047701207027150200060089ffffefff0004002d0e10000600c5ffffffef"
    }
    assert message.status["acc_on"] is True


def test_location_emergency_alarm_is_sos_west_longitude_is_negative() -> None:
    message = decode("location_sos")
    (fix,) = message.fixes

    assert message.terminal == "094027587492"
    assert message.serial == 10
    assert fix.ts == datetime(2013, 4, 12, 8, 49, 52, tzinfo=UTC)
    assert fix.lat == pytest.approx(50.871735, abs=1e-6)
    assert fix.lon == pytest.approx(-1.255923, abs=1e-6)
    assert fix.speed_kmh == pytest.approx(2.0)
    assert fix.course == 0.0
    assert fix.alarms == ("sos",)
    assert fix.extras["mileage_km"] == pytest.approx(1.8)
    assert fix.extras["items"] == {"36": "0002341502cb0c20085c"}


def test_location_south_and_west_status_bits_sign_the_coordinates() -> None:
    (fix,) = decode("location_south_west").fixes

    assert fix.ts == datetime(2015, 1, 1, 11, 42, 57, tzinfo=UTC)
    assert fix.lat == pytest.approx(-19.591535, abs=1e-6)
    assert fix.lon == pytest.approx(-46.912186, abs=1e-6)
    assert fix.valid is True
    assert fix.extras["mileage_km"] == pytest.approx(11.9)


def test_location_satellites_signal_and_io_items() -> None:
    message = decode("location_satellites_io")
    (fix,) = message.fixes

    assert message.terminal == "001601285614"
    assert message.serial == 3
    assert fix.ts == datetime(2017, 1, 17, 2, 5, 42, tzinfo=UTC)
    assert fix.lat == pytest.approx(-6.152508, abs=1e-6)
    assert fix.lon == pytest.approx(106.720475, abs=1e-6)
    assert fix.altitude_m == 22.0
    assert fix.satellites == 4
    assert fix.extras["signal"] == 27
    assert fix.extras["io_status"] == 0
    assert fix.extras["mileage_km"] == pytest.approx(4326.4)
    assert message.status["acc_on"] is True


def test_location_with_an_escaped_byte_on_the_wire() -> None:
    raw = wire("location_escaped")
    assert b"\x7d\x02" in raw  # the capture carries a 0x7e inside, escaped

    message = decode("location_escaped")
    (fix,) = message.fixes

    assert message.raw == raw
    assert message.terminal == "019171590437"
    assert message.serial == 2606
    assert fix.ts == datetime(2021, 11, 8, 11, 40, 50, tzinfo=UTC)
    assert fix.lat == pytest.approx(22.583576, abs=1e-6)
    assert fix.lon == pytest.approx(113.905643, abs=1e-6)
    assert fix.altitude_m == 4.0
    assert fix.course == 269.0
    assert fix.extras["items"]["87"] == "007e"  # the unescaped byte
    assert fix.extras["mileage_km"] == pytest.approx(0.3)
    assert fix.extras["signal"] == 26


def test_location_2019_edition_header_and_items() -> None:
    session = Session()
    message = decode("location_2019", session)
    (fix,) = message.fixes

    assert message.fields["edition"] == 2019
    assert message.fields["protocol_version"] == 1
    assert message.terminal == "00000000018930946552"
    assert message.serial == 0xE4
    assert fix.ts == datetime(2021, 11, 24, 3, 48, 8, tzinfo=UTC)
    assert fix.lat == pytest.approx(31.000562, abs=1e-6)
    assert fix.lon == pytest.approx(121.451372, abs=1e-6)
    assert fix.valid is False  # ACC on, but not positioned
    assert fix.satellites == 0
    assert fix.extras["mileage_km"] == pytest.approx(3.8)
    assert fix.extras["fuel_l"] == 0.0
    assert fix.extras["signal"] == 21
    assert fix.extras["vehicle_signals"] == 0
    assert fix.extras["items"]["f3"] == "0171" + "18" + "00" * 24
    assert fix.extras["items"]["ea"] == "ff" * 16


def test_batch_upload_gives_every_report_as_a_fix() -> None:
    message = decode("batch_0704")

    assert message.type is MessageType.LOCATION
    assert message.protocol_id == 0x0704
    assert message.terminal == "013567777777"
    assert message.serial == 0x07F5
    assert message.fields["blind_area"] is True
    assert len(message.fixes) == 8
    first, last = message.fixes[0], message.fixes[-1]
    assert first.ts == datetime(2016, 5, 27, 1, 6, 24, tzinfo=UTC)
    assert first.lat == pytest.approx(22.639634, abs=1e-6)
    assert first.lon == pytest.approx(114.031952, abs=1e-6)
    assert first.altitude_m == 370.0
    assert first.course == 1.0
    assert first.extras["mileage_km"] == pytest.approx(2.9)
    assert last.ts == datetime(2016, 5, 27, 1, 10, 2, tzinfo=UTC)
    assert last.lat == pytest.approx(22.640550, abs=1e-6)
    assert last.lon == pytest.approx(114.032432, abs=1e-6)
    assert last.altitude_m == 264.0
    assert [fix.ts for fix in message.fixes] == sorted(fix.ts for fix in message.fixes)


def test_batch_upload_with_speed_satellites_and_west_longitude() -> None:
    message = decode("batch_0704_satellites")

    assert message.serial == 0x1448
    assert len(message.fixes) == 3
    fix = message.fixes[0]
    assert fix.ts == datetime(2020, 9, 2, 7, 23, 3, tzinfo=UTC)
    assert fix.lat == pytest.approx(33.576916, abs=1e-6)
    assert fix.lon == pytest.approx(-7.535516, abs=1e-6)
    assert fix.speed_kmh == pytest.approx(37.0)
    assert fix.course == 242.0
    assert fix.altitude_m == 100.0
    assert fix.satellites == 12
    assert fix.extras["mileage_km"] == pytest.approx(234.5)


def test_unknown_message_id_is_unknown_with_its_raw_bytes() -> None:
    message = decode("unknown_0900")

    assert message.type is MessageType.UNKNOWN
    assert message.protocol_id == 0x0900
    assert message.serial == 0xC4
    assert message.raw == wire("unknown_0900")


def test_captured_frame_with_a_wrong_check_code_is_a_bad_frame() -> None:
    buffer = bytearray(wire("bad_check_code"))

    (bad,) = codec.split(buffer, Session())

    assert isinstance(bad, BadFrame)
    assert bad.reason == "check code 0xd0, computed 0xf0"


def test_every_alarm_name_is_one_the_platform_knows() -> None:
    for name in ("location_low_battery", "location_sos", "batch_0704"):
        for fix in decode(name).fixes:
            assert set(fix.alarms) <= ALARMS


def test_decode_sets_the_session_edition() -> None:
    session = Session()
    decode("location_2019", session)
    assert session.version == 1
    decode("heartbeat", session)
    assert session.version == 0


# --- replies: round trips -------------------------------------------------------------------


def test_heartbeat_gets_a_general_response_with_its_serial_and_id() -> None:
    session = Session()
    message = decode("heartbeat", session)

    (reply,) = codec.replies(message, session, Outcome.STORED)

    frame = read_back(reply)
    assert frame.header.msg_id == 0x8001
    assert frame.header.phone == "043048325465"
    assert frame.header.protocol_version is None
    assert frame.body == bytes.fromhex("00b7000200")
    echoed = codec.decode(reply, Session())
    assert isinstance(echoed, Message)
    assert echoed.protocol_id == 0x8001
    assert echoed.terminal == "043048325465"


def test_replies_carry_the_platforms_own_increasing_serial() -> None:
    session = Session()
    message = decode("heartbeat", session)

    serials = [read_back(codec.replies(message, session, Outcome.STORED)[0]).header.serial for _ in range(3)]

    assert serials == [0, 1, 2]


def test_reply_to_a_2019_terminal_is_in_the_2019_edition() -> None:
    session = Session()
    message = decode("location_2019", session)

    (reply,) = codec.replies(message, session, Outcome.STORED)

    frame = read_back(reply)
    assert frame.header.is_2019
    assert frame.header.protocol_version == 1
    assert frame.header.phone == "00000000018930946552"
    assert frame.body == bytes.fromhex("00e4020000")


def test_reply_escapes_serials_that_contain_the_marks() -> None:
    # A heartbeat whose serial is 0x7e7d: the reply's body echoes it and must escape both bytes.
    heartbeat = build_frame(0x0002, b"", phone="013511221122", serial=0x7E7D, protocol_version=None)
    session = Session()
    message = codec.decode(heartbeat, session)
    assert isinstance(message, Message)
    assert message.serial == 0x7E7D

    (reply,) = codec.replies(message, session, Outcome.STORED)

    assert b"\x7d\x02\x7d\x01" in reply
    assert reply.count(b"\x7e") == 2
    assert read_back(reply).body == bytes.fromhex("7e7d000200")


def test_registration_stored_is_answered_with_the_servers_auth_code() -> None:
    session = Session(auth_code="Ab~}9")  # 0x7e and 0x7d inside: escaped on the wire
    message = decode("register_2013", session)

    (reply,) = codec.replies(message, session, Outcome.STORED)

    frame = read_back(reply)
    assert frame.header.msg_id == 0x8100
    assert frame.header.phone == "013511221122"
    assert frame.body == bytes.fromhex("000500") + b"Ab~}9"


@pytest.mark.parametrize("outcome", [Outcome.REFUSED, Outcome.STORED])
def test_registration_refused_or_without_code_is_terminal_not_in_database(outcome: Outcome) -> None:
    session = Session(auth_code="code" if outcome is Outcome.REFUSED else None)
    message = decode("register_2013", session)

    (reply,) = codec.replies(message, session, outcome)

    assert read_back(reply).body == bytes.fromhex("000504")


@pytest.mark.parametrize(
    ("auth_code", "outcome", "result"),
    [
        ("authentication", Outcome.STORED, 0),
        ("another code", Outcome.STORED, 1),
        (None, Outcome.STORED, 1),
        ("authentication", Outcome.REFUSED, 1),
    ],
)
def test_authentication_answer_says_whether_the_code_matches(
    auth_code: str | None, outcome: Outcome, result: int
) -> None:
    session = Session(auth_code=auth_code)
    message = decode("authenticate_2013", session)

    (reply,) = codec.replies(message, session, outcome)

    frame = read_back(reply)
    assert frame.header.msg_id == 0x8001
    assert frame.body == bytes.fromhex("00060102") + bytes([result])


def test_refused_location_gets_failure_and_refused_unknown_gets_not_supported() -> None:
    session = Session()
    location = decode("location_sos", session)
    unknown = decode("unknown_0900", session)

    (refused,) = codec.replies(location, session, Outcome.REFUSED)
    (unsupported,) = codec.replies(unknown, session, Outcome.REFUSED)

    assert read_back(refused).body == bytes.fromhex("000a020001")
    assert read_back(unsupported).body == bytes.fromhex("00c4090003")


@pytest.mark.parametrize("name", ["heartbeat", "register_2013", "authenticate_2013", "batch_0704"])
def test_failed_storage_gets_no_reply_so_the_terminal_resends(name: str) -> None:
    session = Session(auth_code="authentication")
    assert codec.replies(decode(name, session), session, Outcome.FAILED) == []


def test_terminal_general_response_is_decoded_and_not_answered() -> None:
    body = bytes.fromhex("0003800100")
    frame = build_frame(0x0001, body, phone="013511221122", serial=9, protocol_version=None)
    session = Session()
    message = codec.decode(frame, session)

    assert isinstance(message, Message)
    assert message.type is MessageType.TERMINAL_RESPONSE
    assert message.fields["reply_serial"] == 3
    assert message.fields["reply_id"] == 0x8001
    assert message.fields["result"] == 0
    assert codec.replies(message, session, Outcome.STORED) == []


def test_logout_is_acknowledged() -> None:
    frame = build_frame(0x0003, b"", phone="013511221122", serial=11, protocol_version=None)
    session = Session()
    message = codec.decode(frame, session)

    assert isinstance(message, Message)
    assert message.type is MessageType.LOGOUT
    (reply,) = codec.replies(message, session, Outcome.STORED)
    assert read_back(reply).body == bytes.fromhex("000b000300")


def test_authentication_2019_carries_code_imei_and_software_version() -> None:
    body = bytes([4]) + b"c0de" + b"861234567890123" + b"V1.2.3".ljust(20, b"\x00")
    frame = build_frame(0x0102, body, phone="00000000013912344321", serial=2, protocol_version=1)
    message = codec.decode(frame, Session())

    assert isinstance(message, Message)
    assert message.fields["auth_code"] == "c0de"
    assert message.fields["imei"] == "861234567890123"
    assert message.fields["software_version"] == "V1.2.3"


def test_registration_2019_uses_the_wider_fields() -> None:
    body = (
        (33).to_bytes(2, "big")
        + (100).to_bytes(2, "big")
        + b"MAKER".ljust(11, b"\x00")
        + b"MODEL-2019".ljust(30, b"\x00")
        + b"ID-0001".ljust(30, b"\x00")
        + bytes([1])
        + "浙C12345".encode("gbk")
    )
    frame = build_frame(0x0100, body, phone="00000000013912344329", serial=7, protocol_version=1)

    message = codec.decode(frame, Session())

    assert isinstance(message, Message)
    assert message.fields["maker"] == "MAKER"
    assert message.fields["model"] == "MODEL-2019"
    assert message.fields["terminal_id"] == "ID-0001"
    assert message.fields["plate"] == "浙C12345"


def test_an_encrypted_body_is_unknown_not_misread() -> None:
    location = parse_frame(wire("location_sos"))  # no escapes in it: its bytes can be edited in place
    assert isinstance(location, Frame)
    payload = bytearray(location.wire[1:-2])
    payload[2] |= 0x04  # body properties bit 10: RSA
    frame = b"\x7e" + bytes(payload) + bytes([checksum(bytes(payload))]) + b"\x7e"

    message = codec.decode(frame, Session())

    assert isinstance(message, Message)
    assert message.type is MessageType.UNKNOWN
    assert message.fields["encryption"] == 1
    assert message.fixes == ()
