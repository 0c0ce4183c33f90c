"""Properties of JT/T 808 framing and reassembly: splits, junk, escapes, check codes, subpackages."""

from __future__ import annotations

import functools
import operator
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from safecity.ingest.adapters.tcp.jt808 import MAX_PENDING_MESSAGES, Jt808Protocol
from safecity.ingest.adapters.tcp.jt808_frame import (
    MAX_WIRE_FRAME,
    SUBPACKAGE_BIT,
    Frame,
    build_frame,
    checksum,
    escape,
    parse_frame,
    unescape,
)
from safecity.ingest.adapters.tcp.protocol import BadFrame, Message, MessageType, Session

FIXTURES = Path(__file__).parents[3] / "fixtures" / "jt808"
GOOD = sorted(path.stem for path in FIXTURES.glob("*.bin") if path.stem != "bad_check_code")
REAL = [(FIXTURES / f"{name}.bin").read_bytes() for name in GOOD]
codec = Jt808Protocol()

real_frames = st.sampled_from(REAL)
junk = st.binary(min_size=1, max_size=40)
junk_without_marks = junk.filter(lambda b: 0x7E not in b)


def split_all(
    chunks: list[bytes], session: Session | None = None
) -> tuple[list[bytes | BadFrame], bytearray]:
    """Feed reads one by one as a server would; return everything split and what is left."""
    session = session or Session()
    buffer = bytearray()
    out: list[bytes | BadFrame] = []
    for chunk in chunks:
        buffer += chunk
        out += codec.split(buffer, session)
    return out, buffer


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """Cut bytes at the given offsets."""
    edges = [0, *sorted(set(points)), len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def with_subpackage(msg_id: int, piece: bytes, *, phone: str, serial: int, total: int, index: int) -> bytes:
    """One subpackaged 2013-edition frame (the codec sends none, so the test builds it)."""
    props = (len(piece) | SUBPACKAGE_BIT).to_bytes(2, "big")
    head = msg_id.to_bytes(2, "big") + props + bytes.fromhex(phone) + serial.to_bytes(2, "big")
    payload = head + total.to_bytes(2, "big") + index.to_bytes(2, "big") + piece
    return b"\x7e" + escape(payload + bytes([checksum(payload)])) + b"\x7e"


@given(st.lists(real_frames, min_size=1, max_size=6), st.data())
def test_any_split_of_a_stream_into_reads_yields_the_same_frames(
    frames: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(frames)
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))

    out, left = split_all(cut(stream, points))

    assert out == frames
    assert left == bytearray()
    decoded = [codec.decode(frame, Session()) for frame in frames]
    assert all(isinstance(message, Message) for message in decoded)


@given(real_frames, junk_without_marks, real_frames)
def test_junk_between_frames_is_one_bad_frame_and_the_next_frame_decodes(
    before: bytes, garbage: bytes, after: bytes
) -> None:
    out, left = split_all([before + garbage + after])

    assert out == [before, BadFrame(garbage, "bytes before a 0x7e start mark"), after]
    assert left == bytearray()


@settings(max_examples=300)
@given(real_frames, junk, real_frames, st.data())
def test_junk_with_stray_marks_never_costs_the_frames_around_it(
    before: bytes, garbage: bytes, after: bytes, data: st.DataObject
) -> None:
    stream = before + garbage + after
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))

    out, left = split_all(cut(stream, points))

    good = [item for item in out if isinstance(item, bytes)]
    bad = [item for item in out if isinstance(item, BadFrame)]
    assert good == [before, after]
    assert left == bytearray()
    # Every junk byte is reported (a bare 0x7e may be taken as a mark): nothing vanishes silently.
    assert b"".join(b.raw for b in bad).replace(b"\x7e", b"") == garbage.replace(b"\x7e", b"")


@given(real_frames, st.integers(0, 10_000), st.integers(1, 255), real_frames)
def test_any_changed_byte_is_caught_by_the_check_code(
    frame: bytes, where: int, flip: int, after: bytes
) -> None:
    payload = bytearray(frame[1:-1])
    position = where % len(payload)
    payload[position] ^= flip
    # Without escapes in play, one changed byte changes the XOR; a new 0x7d or 0x7e reframes instead.
    assume(0x7D not in frame and payload[position] not in (0x7D, 0x7E))
    damaged = b"\x7e" + bytes(payload) + b"\x7e"

    out, _ = split_all([damaged + after])

    assert isinstance(out[0], BadFrame)
    assert out[0].reason.startswith("check code")
    assert out[1:] == [after]


def test_an_escape_byte_at_the_end_of_a_frame_is_a_bad_frame() -> None:
    heartbeat = (FIXTURES / "heartbeat.bin").read_bytes()
    broken = heartbeat[:-2] + b"\x7d\x7e"

    out, _ = split_all([broken + heartbeat])

    assert isinstance(out[0], BadFrame)
    assert out[0].reason.startswith("escape byte 0x7d at the end of the frame")
    assert out[1:] == [heartbeat]


def test_an_unknown_escape_is_a_bad_frame() -> None:
    heartbeat = (FIXTURES / "heartbeat.bin").read_bytes()
    broken = heartbeat[:5] + b"\x7d\x03" + heartbeat[5:]

    (bad,), _ = split_all([broken])

    assert isinstance(bad, BadFrame)
    assert bad.reason == "bad escape 0x7d 0x03 at offset 5"


def test_a_body_shorter_than_the_header_says_is_a_bad_frame() -> None:
    payload = bytes.fromhex("000200050135112211220001") + b"\x01\x02"
    frame = b"\x7e" + escape(payload + bytes([checksum(payload)])) + b"\x7e"

    (bad,), _ = split_all([frame])

    assert isinstance(bad, BadFrame)
    assert bad.reason == "body of 2 bytes is shorter than the header's length 5"
    assert isinstance(codec.decode(frame, Session()), BadFrame)


@given(real_frames, st.data())
def test_a_truncated_frame_stays_in_the_buffer_until_the_rest_arrives(
    frame: bytes, data: st.DataObject
) -> None:
    size = data.draw(st.integers(1, len(frame) - 1))
    session = Session()
    buffer = bytearray(frame[:size])

    assert codec.split(buffer, session) == []
    assert buffer == bytearray(frame[:size])

    buffer += frame[size:]
    assert codec.split(buffer, session) == [frame]


def test_a_start_mark_without_an_end_mark_does_not_grow_the_buffer_without_bound() -> None:
    buffer = bytearray(b"\x7e" + b"\x01" * MAX_WIRE_FRAME)

    (bad,) = codec.split(buffer, Session())

    assert isinstance(bad, BadFrame)
    assert buffer == bytearray()


# --- subpackages ----------------------------------------------------------------------------

BATCH = parse_frame((FIXTURES / "batch_0704.bin").read_bytes())
assert isinstance(BATCH, Frame)


def batch_pieces(count: int, first_serial: int) -> list[bytes]:
    """The real 0x0704 batch body cut into `count` subpackages with consecutive serials."""
    assert isinstance(BATCH, Frame)
    body = BATCH.body
    step = -(-len(body) // count)
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    return [
        with_subpackage(
            0x0704,
            chunk,
            phone="013567777777",
            serial=(first_serial + i) & 0xFFFF,
            total=len(chunks),
            index=i + 1,
        )
        for i, chunk in enumerate(chunks)
    ]


@given(st.integers(2, 6), st.integers(0, 0xFFFF), st.randoms(use_true_random=False))
def test_subpackages_in_any_order_reassemble_into_the_whole_message(
    count: int, serial: int, rnd: random.Random
) -> None:
    pieces = batch_pieces(count, serial)
    order = list(range(len(pieces)))
    rnd.shuffle(order)
    session = Session()

    messages = [codec.decode(pieces[i], session) for i in order]

    *held, whole = messages
    assert all(
        isinstance(m, Message) and m.type is MessageType.FRAGMENT and "fragment" in m.fields for m in held
    )
    assert isinstance(whole, Message)
    assert whole.type is MessageType.LOCATION
    expected = codec.decode((FIXTURES / "batch_0704.bin").read_bytes(), Session())
    assert isinstance(expected, Message)
    assert whole.fixes == expected.fixes
    assert whole.raw == b"".join(pieces)
    assert whole.fields["serials"] == (serial, (serial + len(pieces) - 1) & 0xFFFF)
    assert not any(isinstance(key, tuple) for key in session.pending)


def test_lost_pieces_do_not_grow_the_session_without_bound() -> None:
    session = Session()
    for message_no in range(MAX_PENDING_MESSAGES * 3):
        first, *_ = batch_pieces(4, message_no * 10)  # only the first piece of each ever arrives
        codec.decode(first, session)

    held = [key for key in session.pending if isinstance(key, tuple)]
    assert len(held) == MAX_PENDING_MESSAGES


def test_a_lost_piece_times_out_after_later_frames() -> None:
    session = Session()
    first, *_ = batch_pieces(3, 100)
    codec.decode(first, session)
    heartbeat = (FIXTURES / "heartbeat.bin").read_bytes()

    for _ in range(300):
        codec.decode(heartbeat, session)

    assert not any(isinstance(key, tuple) for key in session.pending)


# --- whatever the bytes, decode answers -----------------------------------------------------


@given(
    st.integers(0, 0xFFFF).filter(lambda i: i not in {1, 2, 3, 0x100, 0x102, 0x200, 0x704}),
    st.binary(max_size=64),
)
def test_unknown_message_ids_are_unknown(msg_id: int, body: bytes) -> None:
    frame = build_frame(msg_id, body, phone="013511221122", serial=1, protocol_version=None)

    message = codec.decode(frame, Session())

    assert isinstance(message, Message)
    assert message.type is MessageType.UNKNOWN
    assert message.protocol_id == msg_id


bcd_time: st.SearchStrategy[tuple[int, int, int, int, int, int]] = st.tuples(
    *(st.integers(lo, hi) for lo, hi in ((0, 99), (1, 12), (1, 28), (0, 23), (0, 59), (0, 59)))
)


@given(
    st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), bcd_time, st.booleans()
)
def test_far_future_times_and_off_globe_coordinates_decode_faithfully(
    lat: int, lon: int, status: int, when: tuple[int, ...], is_2019: bool
) -> None:
    body = (
        bytes(4)
        + status.to_bytes(4, "big")
        + lat.to_bytes(4, "big")
        + lon.to_bytes(4, "big")
        + bytes(6)
        + bytes.fromhex("".join(f"{part:02d}" for part in when))
    )
    phone = "0" * 20 if is_2019 else "013511221122"
    frame = build_frame(0x0200, body, phone=phone, serial=1, protocol_version=1 if is_2019 else None)

    message = codec.decode(frame, Session())

    assert isinstance(message, Message)
    (fix,) = message.fixes
    assert abs(fix.lat) == lat / 1e6
    assert abs(fix.lon) == lon / 1e6
    year, month, day, hour, minute, second = when
    local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    assert fix.ts == local - timedelta(hours=8)  # terminal time is GMT+8


@given(st.sampled_from([0x0001, 0x0100, 0x0102, 0x0200, 0x0704]), st.binary(max_size=200), st.booleans())
def test_any_body_of_a_known_id_decodes_or_is_a_bad_frame_never_an_error(
    msg_id: int, body: bytes, is_2019: bool
) -> None:
    phone = "0" * 20 if is_2019 else "013511221122"
    frame = build_frame(msg_id, body, phone=phone, serial=1, protocol_version=1 if is_2019 else None)

    result = codec.decode(frame, Session())

    assert isinstance(result, Message | BadFrame)


@given(st.binary(max_size=600))
def test_escaping_round_trips_and_the_check_code_is_the_xor_of_every_byte(payload: bytes) -> None:
    escaped = escape(payload)

    assert 0x7E not in escaped
    assert unescape(escaped) == payload
    assert checksum(payload) == functools.reduce(operator.xor, payload, 0)
