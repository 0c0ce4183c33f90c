"""JT/T 808 framing: 0x7e marks, 0x7d escaping, the XOR check code and the message header.

Owns the wire shape shared by every JT/T 808 message (2013 and 2019 editions): cutting frames out
of a byte stream, undoing and applying the escapes, checking and computing the check code, and
reading and writing the header (message id, body properties, protocol version, terminal phone
number in BCD, serial number, subpackage total and index). What a body means lives elsewhere.
"""

from __future__ import annotations

import re

import msgspec

from safecity.ingest.adapters.tcp.protocol import BadFrame

MARK = 0x7E
ESCAPE = 0x7D
# 0x7d 0x01 stands for 0x7d and 0x7d 0x02 for 0x7e (JT/T 808-2013 section 4.4.2); any other
# follower, or none, is not an escape.
BAD_ESCAPE = re.compile(rb"\x7d(?![\x01\x02])")

BODY_LENGTH_MASK = 0x03FF  # body properties bits 0-9
ENCRYPTION_SHIFT = 10  # bits 10-12: 0 none, 1 RSA
SUBPACKAGE_BIT = 0x2000  # bit 13
VERSION_BIT = 0x4000  # bit 14: set by the 2019 edition

HEADER_2013 = 12  # id 2, properties 2, phone 6, serial 2
HEADER_2019 = 17  # id 2, properties 2, version 1, phone 10, serial 2
SUBPACKAGE_FIELDS = 4  # total 2, index 2
PHONE_2013 = 6
PHONE_2019 = 10

# The largest frame the protocol allows: a 21-byte header, a 1023-byte body and the check code,
# every byte escaped, plus the two marks. Beyond that without an end mark the bytes are not a frame.
MAX_WIRE_FRAME = 2 * (HEADER_2019 + SUBPACKAGE_FIELDS + BODY_LENGTH_MASK + 1) + 2


class BodyError(ValueError):
    """A well-framed body that contradicts its own length or fields."""


# msgspec Structs, not frozen dataclasses: every frame makes one of each, and a frozen
# dataclass's __init__ (a setattr per field) cost more than the rest of checking the frame.
class Header(msgspec.Struct, frozen=True, gc=False):
    """A JT/T 808 message header."""

    msg_id: int
    body_length: int
    encryption: int
    phone: str  # the BCD bytes as hex digits, leading zeros kept so a reply can echo them exactly
    serial: int
    protocol_version: int | None = None  # 2019 edition only (the version byte); None for 2013
    packet_total: int | None = None  # subpackaged messages only
    packet_index: int | None = None  # 1-based

    @property
    def is_2019(self) -> bool:
        """Whether the header is of the 2019 edition (version flag, 10-byte phone number)."""
        return self.protocol_version is not None


class Frame(msgspec.Struct, frozen=True, gc=False):
    """A checked frame: its header, its body, and the bytes as received."""

    header: Header
    body: bytes
    wire: bytes


def checksum(data: bytes) -> int:
    """XOR of every byte (the check code covers header and body, before escaping)."""
    # Fold the bytes as one integer, halving it each round: a few big-integer operations in C
    # instead of a Python loop per byte (decode runs once per report on the hot path).
    value = int.from_bytes(data, "little")
    width = len(data)
    while width > 1:
        half = width // 2
        high = value >> (8 * half)
        value = (value & ((1 << (8 * half)) - 1)) ^ high
        width -= half
    return value


def escape(payload: bytes) -> bytes:
    """Escape 0x7d and 0x7e inside a frame (0x7d first, so the 0x7d of 0x7d02 is not escaped again)."""
    return payload.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(inner: bytes) -> bytes | str:
    """Undo the escapes of the bytes between the marks, or say why they cannot be undone."""
    if ESCAPE not in inner:
        return inner
    bad = BAD_ESCAPE.search(inner)
    if bad is not None:
        at = bad.start() + 1
        if at == len(inner):
            return f"escape byte 0x7d at the end of the frame (offset {at})"
        return f"bad escape 0x7d 0x{inner[at]:02x} at offset {at}"
    # Every 0x7d is now the lead of a 0x7d01 or 0x7d02 pair, so the pairs cannot overlap.
    return inner.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")


def parse_header(payload: bytes) -> Header | str:
    """Read the header at the front of an unescaped payload, or say why it is not one."""
    if len(payload) < 4:
        return f"{len(payload)} bytes cannot hold a message id and body properties"
    msg_id = int.from_bytes(payload[0:2], "big")
    props = int.from_bytes(payload[2:4], "big")
    is_2019 = bool(props & VERSION_BIT)
    offset = 4
    version: int | None = None
    if is_2019:
        if len(payload) < HEADER_2019:
            return f"{len(payload)} bytes cannot hold a 2019-edition header of {HEADER_2019}"
        version = payload[4]
        offset = 5
    elif len(payload) < HEADER_2013:
        return f"{len(payload)} bytes cannot hold a 2013-edition header of {HEADER_2013}"
    phone_len = PHONE_2019 if is_2019 else PHONE_2013
    phone = payload[offset : offset + phone_len].hex()
    offset += phone_len
    serial = int.from_bytes(payload[offset : offset + 2], "big")
    offset += 2
    total = index = None
    if props & SUBPACKAGE_BIT:
        if len(payload) < offset + SUBPACKAGE_FIELDS:
            return "subpackage flag set but the header has no room for packet total and index"
        total = int.from_bytes(payload[offset : offset + 2], "big")
        index = int.from_bytes(payload[offset + 2 : offset + 4], "big")
    return Header(
        msg_id=msg_id,
        body_length=props & BODY_LENGTH_MASK,
        encryption=(props >> ENCRYPTION_SHIFT) & 0x07,
        phone=phone,
        serial=serial,
        protocol_version=version,
        packet_total=total,
        packet_index=index,
    )


def header_size(header: Header) -> int:
    """How many bytes the header takes on the wire (before escaping)."""
    size = HEADER_2019 if header.is_2019 else HEADER_2013
    return size + (SUBPACKAGE_FIELDS if header.packet_total is not None else 0)


def parse_frame(wire: bytes) -> Frame | str:
    """Check one frame as received (marks included): escapes, check code, header and body length."""
    if len(wire) < 2 or wire[0] != MARK or wire[-1] != MARK:
        return "a frame starts and ends with 0x7e"
    payload = unescape(wire[1:-1])
    if isinstance(payload, str):
        return payload
    if not payload:
        return "empty frame between two 0x7e marks"
    expected = checksum(payload[:-1])
    if expected != payload[-1]:
        return f"check code 0x{payload[-1]:02x}, computed 0x{expected:02x}"
    content = payload[:-1]
    header = parse_header(content)
    if isinstance(header, str):
        return header
    if header.packet_total is not None and not 1 <= (header.packet_index or 0) <= header.packet_total:
        return f"packet index {header.packet_index} outside 1..{header.packet_total}"
    body = content[header_size(header) :]
    if len(body) != header.body_length:
        shorter = "shorter" if len(body) < header.body_length else "longer"
        return f"body of {len(body)} bytes is {shorter} than the header's length {header.body_length}"
    return Frame(header=header, body=body, wire=wire)


def split_frames(buffer: bytearray, parsed: dict[bytes, Frame] | None = None) -> list[bytes | BadFrame]:
    """Cut every complete frame (checked) and every run of junk off the front of `buffer`.

    `parsed`, if given, receives each good frame's checked `Frame` by its bytes, so that decoding
    it need not check it again.
    """
    out: list[bytes | BadFrame] = []
    pos = 0  # what is consumed; the buffer is cut once at the end, not once per frame
    size = len(buffer)
    while pos < size:
        start = buffer.find(MARK, pos)
        if start == -1:
            out.append(BadFrame(bytes(buffer[pos:]), "bytes without a 0x7e start mark"))
            pos = size
            break
        if start > pos:
            out.append(BadFrame(bytes(buffer[pos:start]), "bytes before a 0x7e start mark"))
            pos = start
        end = buffer.find(MARK, pos + 1)
        if end == -1:
            if size - pos > MAX_WIRE_FRAME:
                # No frame is this long: drop it rather than let one terminal grow the buffer.
                out.append(BadFrame(bytes(buffer[pos:]), f"no 0x7e end mark within {MAX_WIRE_FRAME} bytes"))
                pos = size
            break
        if end == pos + 1:
            # Two marks in a row: the first closed a frame already reported as bad (see below).
            pos = end
            continue
        wire = bytes(buffer[pos : end + 1])
        checked = parse_frame(wire)
        if isinstance(checked, str):
            # The closing 0x7e of a bad frame may be the start mark of the next good one
            # (junk with a stray 0x7e before it): leave it in the buffer.
            out.append(BadFrame(wire[:-1], checked))
            pos = end
        else:
            out.append(wire)
            if parsed is not None:
                parsed[wire] = checked
            pos = end + 1
    del buffer[:pos]
    return out


def build_frame(
    msg_id: int,
    body: bytes,
    *,
    phone: str,
    serial: int,
    protocol_version: int | None,
) -> bytes:
    """One unsubpackaged, unencrypted frame, escaped and check-coded, with its marks."""
    if len(body) > BODY_LENGTH_MASK:
        raise ValueError(f"a body of {len(body)} bytes needs subpackaging")
    props = len(body)
    head = bytearray(msg_id.to_bytes(2, "big"))
    if protocol_version is None:
        phone_bytes = bytes.fromhex(phone.rjust(2 * PHONE_2013, "0"))
        head += props.to_bytes(2, "big")
    else:
        phone_bytes = bytes.fromhex(phone.rjust(2 * PHONE_2019, "0"))
        head += (props | VERSION_BIT).to_bytes(2, "big") + bytes([protocol_version])
    head += phone_bytes + (serial & 0xFFFF).to_bytes(2, "big")
    payload = bytes(head) + body
    return bytes([MARK]) + escape(payload + bytes([checksum(payload)])) + bytes([MARK])
