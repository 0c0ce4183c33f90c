"""GT06 framing properties: any split of a stream into reads, garbage, truncation, bad frames."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from safecity.ingest.adapters.tcp import gt06_frame
from safecity.ingest.adapters.tcp.gt06 import Gt06Protocol
from safecity.ingest.adapters.tcp.protocol import BadFrame, Message, MessageType, Session
from tests.ingest.adapters.tcp.conftest import FRAMES

CODEC = Gt06Protocol()
real_frames = st.sampled_from(sorted(FRAMES.values()))
# Garbage may hold start marks (0x7878, 0x7979) and so open fake frames of any declared length.
marks = st.sampled_from([b"\x78", b"\x79", b"\x78\x78", b"\x79\x79", b"\x0d\x0a"])
garbage = st.lists(st.binary(min_size=1, max_size=6) | marks, min_size=1, max_size=8).map(b"".join)


def feed(stream: bytes, cuts: list[int]) -> tuple[list[bytes | BadFrame], bytearray]:
    """Split `stream` read by read at `cuts`, as a server would; what came out and what is pending."""
    buffer = bytearray()
    session = Session()
    out: list[bytes | BadFrame] = []
    bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        buffer += stream[start:end]
        out += CODEC.split(buffer, session)
    return out, buffer


def decoded(items: list[bytes | BadFrame]) -> list[Message | BadFrame]:
    """Decode every frame of a split's output."""
    return [CODEC.decode(i, Session()) if isinstance(i, bytes) else i for i in items]


@given(st.lists(real_frames, min_size=1, max_size=8), st.lists(st.integers(0, 10_000), max_size=20))
def test_any_split_of_a_stream_into_reads_yields_the_same_messages(
    frames: list[bytes], cuts: list[int]
) -> None:
    out, pending = feed(b"".join(frames), cuts)
    assert out == frames
    assert not pending
    assert decoded(out) == decoded(list(frames))


@given(
    st.lists(st.tuples(garbage, real_frames), min_size=1, max_size=6),
    st.lists(st.integers(0, 10_000), max_size=10),
)
def test_garbage_before_and_between_frames_is_reported_and_the_frames_still_decode(
    chunks: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(g + f for g, f in chunks)
    out, pending = feed(stream, cuts)
    assert not pending
    assert [i for i in out if isinstance(i, bytes)] == [f for _, f in chunks]
    bad = [i for i in out if isinstance(i, BadFrame)]
    # A read may cut a run of garbage in two: its pieces are reported apart, none is lost.
    assert b"".join(b.raw for b in bad) == b"".join(g for g, _ in chunks)
    assert all(b.reason for b in bad)


@given(real_frames, st.data())
def test_a_truncated_frame_stays_pending_until_the_rest_arrives(frame: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(frame) - 1))
    buffer = bytearray(frame[:cut])
    assert CODEC.split(buffer, Session()) == []
    assert bytes(buffer) == frame[:cut]
    buffer += frame[cut:]
    assert CODEC.split(buffer, Session()) == [frame]


@given(real_frames, real_frames, st.data())
def test_a_wrong_crc_is_a_bad_frame_and_the_next_frame_decodes(
    frame: bytes, after: bytes, data: st.DataObject
) -> None:
    head = gt06_frame.header_size(frame)
    # Any byte from the protocol number to the CRC itself: the CRC catches every single-byte error.
    index = data.draw(st.integers(head, len(frame) - 3))
    flip = data.draw(st.integers(1, 255))
    broken = bytearray(frame)
    broken[index] ^= flip
    out, pending = feed(bytes(broken) + after, [])
    assert out == [BadFrame(bytes(broken), out[0].reason), after]  # the damaged frame whole, then the next
    assert "CRC-ITU mismatch" in out[0].reason
    assert not pending


@given(real_frames, real_frames, st.data())
def test_a_shorter_length_is_a_bad_frame_and_the_next_frame_decodes(
    frame: bytes, after: bytes, data: st.DataObject
) -> None:
    head = gt06_frame.header_size(frame)
    length = int.from_bytes(frame[2:head], "big")
    wrong = data.draw(st.integers(0, length - 1))
    broken = frame[:2] + wrong.to_bytes(head - 2, "big") + frame[head:]
    out, pending = feed(broken + after, [])
    assert isinstance(out[0], BadFrame)
    assert out[0].reason.startswith(f"length {wrong}")
    assert out[-1] == after
    assert not pending


@given(real_frames, real_frames, st.binary(min_size=2, max_size=2).filter(lambda b: b != b"\r\n"))
def test_bad_stop_bits_are_a_bad_frame_and_the_next_frame_decodes(
    frame: bytes, after: bytes, stop: bytes
) -> None:
    out, pending = feed(frame[:-2] + stop + after, [])
    assert isinstance(out[0], BadFrame)
    assert "no stop bits 0D0A" in out[0].reason
    assert out[-1] == after
    assert not pending


@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=60), st.booleans())
def test_a_frame_of_an_unknown_type_is_an_unknown_message(
    protocol: int, serial: int, body: bytes, long: bool
) -> None:
    known = {0x01, 0x10, 0x11, 0x12, 0x13, 0x16, 0x18, 0x22, 0x26, 0x28, 0x94} | ({0x32} if long else set())
    if protocol in known:
        return
    frame = gt06_frame.encode(protocol, serial, body, long=long)
    [split] = CODEC.split(bytearray(frame), Session())
    message = CODEC.decode(split, Session())
    assert isinstance(message, Message)
    assert message.type is MessageType.UNKNOWN
    assert (message.protocol_id, message.serial, message.raw) == (protocol, serial, frame)
    assert message.fields["body_hex"] == body.hex()


def test_a_long_frame_is_split_by_its_two_byte_length() -> None:
    body = bytes(range(256)) * 2  # longer than a one-byte length could say
    frame = gt06_frame.encode(0x94, 9, b"\x0f" + body, long=True)
    assert int.from_bytes(frame[2:4], "big") == 5 + 1 + len(body)
    out, pending = feed(FRAMES["long_94_iccid"] + frame + FRAMES["status_13"], [3, 100, 500])
    assert out == [FRAMES["long_94_iccid"], frame, FRAMES["status_13"]]
    assert not pending


def test_the_crc_is_crc16_x25_by_its_catalogue_check_value() -> None:
    # The CRC catalogue's check value of CRC-16/X-25 over the ASCII digits 1-9.
    assert gt06_frame.crc_itu(b"123456789") == 0x906E


@given(st.binary(max_size=80) | st.builds(lambda b: b"\x78\x78" + b, st.binary(max_size=40)))
def test_decode_answers_any_bytes_without_raising(raw: bytes) -> None:
    assert isinstance(CODEC.decode(raw, Session()), Message | BadFrame)
