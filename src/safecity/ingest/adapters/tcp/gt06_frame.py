"""GT06 framing: start marks, length, CRC-ITU, stop bits; cutting frames off a byte stream.

A GT06 frame is `start(2) length(1|2) protocol(1) body serial(2) crc(2) 0D 0A`. The short form
starts 0x7878 with a one-byte length, the long form 0x7979 with a two-byte length; the length
counts the bytes from the protocol number to the CRC, and the CRC covers the length field to the
serial number.
"""

from __future__ import annotations

import binascii

from safecity.ingest.adapters.tcp.protocol import BadFrame

SHORT_START = b"\x78\x78"
LONG_START = b"\x79\x79"
STOP = b"\x0d\x0a"
# protocol number + serial + CRC: the least a length can count.
MIN_LENGTH = 5


# Each byte value with its bits reversed: CRC-16/X-25 is the reflected form of CRC-CCITT, which
# `binascii.crc_hqx` computes in C; reversing the bits of the input bytes (`bytes.translate`, in C
# too) and of the 16-bit result turns the one into the other (a loop per byte in Python cost
# several times more, once per frame on the servers' hot path).
_REVERSED = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))


def crc_itu(data: bytes) -> int:
    """CRC-16/X-25 (the GT06 documents' "CRC-ITU"): reflected 0x1021, init and xorout 0xFFFF."""
    crc = binascii.crc_hqx(data.translate(_REVERSED), 0xFFFF)
    return ((_REVERSED[crc & 0xFF] << 8) | _REVERSED[crc >> 8]) ^ 0xFFFF


def header_size(frame: bytes) -> int:
    """Start mark plus length field: 3 bytes in the short form, 4 in the long."""
    return 4 if frame[:2] == LONG_START else 3


def encode(protocol: int, serial: int, body: bytes = b"", *, long: bool = False) -> bytes:
    """Build one frame (a reply, or a test's own frame) with its length and CRC."""
    length = MIN_LENGTH + len(body)
    head = LONG_START + length.to_bytes(2, "big") if long else SHORT_START + bytes([length])
    inner = head[2:] + bytes([protocol]) + body + serial.to_bytes(2, "big")
    return head[:2] + inner + crc_itu(inner).to_bytes(2, "big") + STOP


def _next_start(buffer: bytearray, offset: int) -> int:
    """Index of the next start mark at or after `offset`, or -1."""
    hits = [i for i in (buffer.find(SHORT_START, offset), buffer.find(LONG_START, offset)) if i >= 0]
    return min(hits) if hits else -1


def _skip_garbage(buffer: bytearray, out: list[bytes | BadFrame], reason: str) -> None:
    """Cut bytes up to the next start mark (after the first byte) as one BadFrame."""
    nxt = _next_start(buffer, 1)
    if nxt < 0:
        # No start mark yet: keep a trailing 0x78/0x79, it may be the first half of one.
        nxt = len(buffer) - 1 if buffer[-1:] in (b"\x78", b"\x79") and len(buffer) > 1 else len(buffer)
    out.append(BadFrame(bytes(buffer[:nxt]), reason))
    del buffer[:nxt]


def _check(frame: bytes) -> str | None:
    """Why a frame of the declared size is not valid, or None."""
    if frame[-2:] != STOP:
        return f"no stop bits 0D0A where the length puts them (found {frame[-2:].hex()})"
    inner = frame[2:-4]
    sent = int.from_bytes(frame[-4:-2], "big")
    if crc_itu(inner) != sent:
        return f"CRC-ITU mismatch: frame says {sent:04x}, bytes give {crc_itu(inner):04x}"
    return None


def _first_valid_frame(buffer: bytearray, offset: int) -> int:
    """Index of the first start mark at or after `offset` that opens a complete valid frame, or -1."""
    i = _next_start(buffer, offset)
    while i >= 0:
        head = i + header_size(bytes(buffer[i : i + 2]))
        length = int.from_bytes(buffer[i + 2 : head], "big")
        end = head + length + len(STOP)
        if length >= MIN_LENGTH and end <= len(buffer) and _check(bytes(buffer[i:end])) is None:
            return i
        i = _next_start(buffer, i + 1)
    return -1


def split(buffer: bytearray) -> list[bytes | BadFrame]:
    """Remove complete frames and undecodable bytes from the front of `buffer`, in order."""
    out: list[bytes | BadFrame] = []
    while buffer:
        if buffer[:2] not in (SHORT_START, LONG_START):
            if len(buffer) == 1 and buffer[0] in (0x78, 0x79):
                break  # may be the first half of a start mark
            _skip_garbage(buffer, out, "no start mark 7878/7979: bytes skipped up to the next one")
            continue
        head = header_size(bytes(buffer[:2]))
        if len(buffer) < head:
            break
        length = int.from_bytes(buffer[2:head], "big")
        if length < MIN_LENGTH:
            _skip_garbage(buffer, out, f"length {length} is below the minimum {MIN_LENGTH}")
            continue
        total = head + length + len(STOP)
        if len(buffer) < total:
            later = _first_valid_frame(buffer, 1)
            if later < 0:
                break  # partial frame: wait for the rest
            # A whole valid frame starts inside the span this one claims: on an ordered stream
            # this start mark was not a frame's (garbage, or a stop byte 0x78 before 0x7878).
            out.append(
                BadFrame(bytes(buffer[:later]), f"length {length}: a valid frame starts at byte {later}")
            )
            del buffer[:later]
            continue
        frame = bytes(buffer[:total])
        reason = _check(frame)
        if reason is None:
            out.append(frame)
            del buffer[:total]
        elif frame[-2:] == STOP and not 0 <= _first_valid_frame(buffer, 1) < total:
            # Length and stop bits agree, only the CRC is wrong: a frame damaged in transit,
            # reported whole (one dead letter, not one per start mark its body happens to hold).
            out.append(BadFrame(frame, f"length {length}: {reason}"))
            del buffer[:total]
        else:
            # The declared length cannot be trusted: resynchronise on the next start mark.
            _skip_garbage(buffer, out, f"length {length}: {reason}")
    return out


__all__ = ["LONG_START", "SHORT_START", "crc_itu", "encode", "header_size", "split"]
