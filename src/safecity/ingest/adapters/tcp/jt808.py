"""The JT/T 808 codec (2013 and 2019 editions): frames to protocol-neutral messages, and the replies.

Owns what each terminal message means (general response 0x0001, heartbeat 0x0002, logout 0x0003,
registration 0x0100, authentication 0x0102, location 0x0200, batch location 0x0704), the
reassembly of subpackaged messages in the session, and the platform's answers (general response
0x8001, registration answer 0x8100). Framing and header are in `jt808_frame`, location bodies in
`jt808_location`.

Replies to an outcome:

* `STORED`: 0x8001 result 0 (ok), or 0x8100 result 0 with `session.auth_code` (result 4 if the
  server set none: no code is invented here); authentication gets result 0 only when the code it
  presented equals `session.auth_code`, else 1.
* `REFUSED`: registration gets 0x8100 result 4 ("terminal not in the database": the terminal waits
  for a 0x8100, not a 0x8001); an unknown message id gets 0x8001 result 3 ("not supported");
  anything else 0x8001 result 1 ("failure").
* A subpackage piece held for reassembly (a FRAGMENT message, `fields["fragment"]`): 0x8001
  result 0 unless refused, so the terminal sends the next piece.
* `FAILED`: nothing, so that the terminal resends.
"""

from __future__ import annotations

from typing import Any

from safecity.ingest.adapters.tcp.jt808_frame import (
    BodyError,
    Frame,
    Header,
    build_frame,
    parse_frame,
    split_frames,
)
from safecity.ingest.adapters.tcp.jt808_location import (
    STATUS_KEYS,
    bcd_time,
    decode_batch,
    decode_location,
    plain_location,
)
from safecity.ingest.adapters.tcp.protocol import (
    BadFrame,
    Fix,
    Message,
    MessageType,
    Outcome,
    PlainReport,
    Position,
    Session,
)
from safecity.ingest.adapters.tcp.records import RecentTimes, fix_event, no_position

TERMINAL_RESPONSE = 0x0001
HEARTBEAT = 0x0002
LOGOUT = 0x0003
REGISTER = 0x0100
AUTHENTICATE = 0x0102
LOCATION = 0x0200
BATCH_LOCATION = 0x0704
PLATFORM_RESPONSE = 0x8001
REGISTER_RESPONSE = 0x8100

TYPES = {
    TERMINAL_RESPONSE: MessageType.TERMINAL_RESPONSE,
    HEARTBEAT: MessageType.HEARTBEAT,
    LOGOUT: MessageType.LOGOUT,
    REGISTER: MessageType.REGISTER,
    AUTHENTICATE: MessageType.AUTHENTICATE,
    LOCATION: MessageType.LOCATION,
    BATCH_LOCATION: MessageType.LOCATION,
}

# 0x8001 results (JT/T 808-2013 8.2; 2 "wrong message" is not sent: a frame that contradicts itself
# is a BadFrame, which the contract does not answer) and the 0x8100 ones used here (8.5).
RESULT_OK = 0
RESULT_FAILURE = 1
RESULT_NOT_SUPPORTED = 3
REGISTER_OK = 0
REGISTER_TERMINAL_UNKNOWN = 4

# Subpackage reassembly bounds: a codec has no clock, so a lost piece "times out" after this many
# later frames on the connection; and one connection holds at most this many unfinished messages
# and body bytes, so a terminal cannot grow its session without bound. Only the ids decoded here
# are reassembled: pieces of others (0x0801 multimedia, hundreds of KiB) stay single frames.
FRAGMENT_TTL_FRAMES = 256
MAX_PENDING_MESSAGES = 4
MAX_PENDING_BYTES = 64 * 1024

SERIAL_KEY = "out_serial"  # the platform's own serial counter, in session.pending
FRAMES_KEY = "frames_seen"
FRAGMENTS = "fragments"


def text(raw: bytes) -> str:
    """A fixed-width text field: GBK (the standard's encoding), padding of NULs and spaces dropped."""
    return raw.rstrip(b"\x00 ").lstrip(b"\x00").decode("gbk", errors="replace")


def decode_register(body: bytes, header: Header) -> dict[str, Any]:
    """0x0100: province, city, maker, model, terminal id, plate colour and plate."""
    # Field widths: 2019 maker 11, model 30, id 30; 2013 maker 5, model 20, id 7; and the 2011
    # edition that some terminals still send (model 8), told apart by the body's length.
    if header.is_2019:
        widths = (11, 30, 30)
    elif len(body) >= 4 + 5 + 20 + 7 + 1:
        widths = (5, 20, 7)
    else:
        widths = (5, 8, 7)
    fixed = 4 + sum(widths) + 1
    if len(body) < fixed:
        raise BodyError(f"registration body of {len(body)} bytes, its fixed fields take {fixed}")
    maker_end = 4 + widths[0]
    model_end = maker_end + widths[1]
    id_end = model_end + widths[2]
    return {
        "province": int.from_bytes(body[0:2], "big"),
        "city": int.from_bytes(body[2:4], "big"),
        "maker": text(body[4:maker_end]),
        "model": text(body[maker_end:model_end]),
        "terminal_id": text(body[model_end:id_end]),
        "plate_colour": body[id_end],
        "plate": text(body[id_end + 1 :]),
    }


def decode_authenticate(body: bytes, header: Header) -> dict[str, Any]:
    """0x0102: the authentication code (2019: length-prefixed, then IMEI and software version)."""
    if not header.is_2019:
        return {"auth_code": text(body)}
    if not body or len(body) < 1 + body[0] + 15 + 20:
        raise BodyError(f"2019 authentication body of {len(body)} bytes is too short")
    end = 1 + body[0]
    return {
        "auth_code": text(body[1:end]),
        "imei": text(body[end : end + 15]),
        "software_version": text(body[end + 15 : end + 35]),
    }


def decode_terminal_response(body: bytes) -> dict[str, Any]:
    """0x0001: which of our messages the terminal answers, and its result."""
    if len(body) != 5:
        raise BodyError(f"terminal general response of {len(body)} bytes, not 5")
    return {
        "reply_serial": int.from_bytes(body[0:2], "big"),
        "reply_id": int.from_bytes(body[2:4], "big"),
        "result": body[4],
    }


def _fields(header: Header) -> dict[str, Any]:
    """What a reply needs from the header: the edition and the phone number as the terminal sent it."""
    return {"edition": 2019 if header.is_2019 else 2013, "protocol_version": header.protocol_version}


def _decode_body(header: Header, body: bytes, fields: dict[str, Any]) -> list[Fix]:
    """Decode a body by its message id: fixes returned, everything else added to `fields`."""
    if header.msg_id == LOCATION:
        return [decode_location(body)]
    if header.msg_id == BATCH_LOCATION:
        fixes, batch = decode_batch(body)
        fields.update(batch)
        return fixes
    if header.msg_id == REGISTER:
        fields.update(decode_register(body, header))
    elif header.msg_id == AUTHENTICATE:
        fields.update(decode_authenticate(body, header))
    elif header.msg_id == TERMINAL_RESPONSE:
        fields.update(decode_terminal_response(body))
    return []


def _body_message(frame: Frame, body: bytes, raw: bytes, serials: tuple[int, int]) -> Message | BadFrame:
    """Decode a whole (possibly reassembled) body into a message."""
    header = frame.header
    kind = TYPES.get(header.msg_id, MessageType.UNKNOWN)
    fields = _fields(header)
    if serials[0] != serials[1]:
        fields["serials"] = serials
    fixes: list[Fix] = []
    if header.encryption:
        # RSA-encrypted bodies need the terminal's key, which the platform does not hold.
        kind = MessageType.UNKNOWN
        fields["encryption"] = header.encryption
    else:
        try:
            fixes = _decode_body(header, body, fields)
        except BodyError as exc:
            return BadFrame(raw, f"0x{header.msg_id:04x}: {exc}")
    # The connection's status is that of the newest fix (a batch's last report).
    status = {key: fixes[-1].extras[key] for key in STATUS_KEYS} if fixes else {}
    return Message(
        type=kind,
        raw=raw,
        serial=header.serial,
        terminal=header.phone,
        protocol_id=header.msg_id,
        fixes=tuple(fixes),
        status=status,
        fields=fields,
    )


def _fragment_keys(session: Session) -> list[Any]:
    """The session's unfinished subpackaged messages, oldest first."""
    return [key for key in session.pending if isinstance(key, tuple) and key[0] == FRAGMENTS]


def _expire_fragments(session: Session, seen: int) -> None:
    """Forget unfinished messages whose last piece came too many frames ago (a piece was lost)."""
    for key in _fragment_keys(session):
        if seen - session.pending[key]["seen"] > FRAGMENT_TTL_FRAMES:
            del session.pending[key]


# Frames `split` checked, kept by their bytes until `decode` takes them (checking a frame is half
# the cost of decoding a report). Frames are immutable, so identical bytes from two connections
# may share an entry; the bound covers frames split and never decoded (a connection closed midway).
MAX_CHECKED = 4096


class Jt808Protocol:
    """JT/T 808 as a `DeviceProtocol`: all per-connection state in the `Session`."""

    name = "jt808"

    def __init__(self) -> None:
        self._checked: dict[bytes, Frame] = {}
        self._times = RecentTimes()

    def split(self, buffer: bytearray, session: Session) -> list[bytes | BadFrame]:
        """Remove complete frames (and undecodable bytes) from the front of `buffer`, in order."""
        if len(self._checked) > MAX_CHECKED:
            self._checked.clear()
        return split_frames(buffer, self._checked)

    def decode(self, frame: bytes, session: Session) -> Message | BadFrame:
        """Decode one complete frame (as received, marks included)."""
        checked = self._checked.pop(frame, None) or parse_frame(frame)
        if isinstance(checked, str):
            return BadFrame(frame, checked)
        header = checked.header
        seen = self._seen(header, session)
        if header.packet_total is None or header.msg_id not in TYPES:
            message = _body_message(checked, checked.body, frame, (header.serial, header.serial))
            if header.packet_total is not None and isinstance(message, Message):
                message.fields["packet"] = {"index": header.packet_index, "total": header.packet_total}
            return message
        return self._reassemble(checked, session, seen)

    @staticmethod
    def _seen(header: Header, session: Session) -> int:
        """Note a frame in the session (edition, terminal, frames seen); return its count."""
        session.version = 1 if header.is_2019 else 0
        session.terminal = session.terminal or header.phone
        seen = session.pending.get(FRAMES_KEY, 0) + 1
        session.pending[FRAMES_KEY] = seen
        _expire_fragments(session, seen)
        return seen

    def plain_report(self, frame: bytes, session: Session, terminal: str) -> PlainReport | None:
        """A whole 0x0200 without alarms or unusual items, from `terminal` itself, as its event and
        ack (see `DeviceProtocol.plain_report`); the frame was checked by `split`."""
        checked = self._checked.get(frame)
        if checked is None:
            return None
        header = checked.header
        if header.msg_id != LOCATION or header.packet_total is not None or header.encryption:
            return None
        if header.phone != terminal:
            return None  # another terminal's number: refused by `decode`'s path
        plain = plain_location(checked.body)
        if plain is None:
            return None
        lat, lon, clock, attrs = plain
        if no_position(lat, lon):
            return None  # a dead letter, as `events_of` decides
        when = self._times.get(clock, lambda: bcd_time(clock))
        if when is None:
            return None
        del self._checked[frame]
        self._seen(header, session)
        ms, ts = when
        event = fix_event(self.name, terminal, header.serial, ms, lat, lon, attrs)
        ack = self._general_response(header.serial, LOCATION, header.protocol_version, header.phone, session)
        return PlainReport(event, ack, Position(lat, lon, ts))

    def _reassemble(self, frame: Frame, session: Session, seen: int) -> Message | BadFrame:
        """Hold a subpackage piece; the piece that completes its message yields the whole message."""
        header = frame.header
        total, index = header.packet_total or 0, header.packet_index or 0
        # Pieces of one message carry consecutive serials, so the first piece's serial names it.
        key = (FRAGMENTS, header.msg_id, (header.serial - (index - 1)) & 0xFFFF, total)
        if key not in session.pending:
            live = _fragment_keys(session)
            while len(live) >= MAX_PENDING_MESSAGES:
                del session.pending[live.pop(0)]  # the oldest unfinished message gives way
            session.pending[key] = {"seen": seen, "pieces": {}}
        held = sum(
            len(p.body) for k in _fragment_keys(session) for p in session.pending[k]["pieces"].values()
        )
        if held + len(frame.body) > MAX_PENDING_BYTES:
            del session.pending[key]
            return BadFrame(frame.wire, f"subpackages would hold more than {MAX_PENDING_BYTES} bytes")
        group = session.pending[key]
        group["pieces"][index] = frame
        group["seen"] = seen
        if len(group["pieces"]) < total:
            fields = _fields(header) | {"fragment": {"index": index, "total": total}}
            return Message(
                type=MessageType.FRAGMENT,
                raw=frame.wire,
                serial=header.serial,
                terminal=header.phone,
                protocol_id=header.msg_id,
                fields=fields,
            )
        del session.pending[key]
        pieces = [group["pieces"][i] for i in range(1, total + 1)]
        body = b"".join(piece.body for piece in pieces)
        raw = b"".join(piece.wire for piece in pieces)
        serials = (pieces[0].header.serial, pieces[-1].header.serial)
        return _body_message(frame, body, raw, serials)

    def replies(self, message: Message, session: Session, outcome: Outcome) -> list[bytes]:
        """The frames to send back for this message and what became of it (may be none)."""
        if outcome is Outcome.FAILED or message.type is MessageType.TERMINAL_RESPONSE:
            return []
        serial = message.serial or 0
        if message.type is MessageType.FRAGMENT:
            # A piece held for reassembly is acknowledged as received unless the terminal is refused.
            result = RESULT_OK if outcome is Outcome.STORED else RESULT_FAILURE
            return [self._answer(message, session, result)]
        if message.type is MessageType.REGISTER:
            code = session.auth_code
            if outcome is Outcome.STORED and code:
                body = serial.to_bytes(2, "big") + bytes([REGISTER_OK]) + code.encode("gbk")
            else:
                body = serial.to_bytes(2, "big") + bytes([REGISTER_TERMINAL_UNKNOWN])
            version, phone = self._addressee(message, session)
            return [self._frame(REGISTER_RESPONSE, body, version, phone, session)]
        if outcome is Outcome.REFUSED:
            unknown = message.type is MessageType.UNKNOWN
            result = RESULT_NOT_SUPPORTED if unknown else RESULT_FAILURE
        elif message.type is MessageType.AUTHENTICATE:
            presented = message.fields.get("auth_code")
            result = RESULT_OK if session.auth_code and presented == session.auth_code else RESULT_FAILURE
        else:
            result = RESULT_OK
        return [self._answer(message, session, result)]

    def _answer(self, message: Message, session: Session, result: int) -> bytes:
        """0x8001 to a decoded message."""
        version, phone = self._addressee(message, session)
        serial, msg_id = message.serial or 0, message.protocol_id or 0
        return self._general_response(serial, msg_id, version, phone, session, result)

    @staticmethod
    def _addressee(message: Message, session: Session) -> tuple[int | None, str]:
        """The edition (version byte) and phone number a reply to this message is written in."""
        return message.fields.get("protocol_version"), message.terminal or session.terminal or ""

    def _general_response(
        self,
        serial: int,
        msg_id: int,
        version: int | None,
        phone: str,
        session: Session,
        result: int = RESULT_OK,
    ) -> bytes:
        """0x8001: the serial and id of the terminal's message, and the result."""
        body = serial.to_bytes(2, "big") + msg_id.to_bytes(2, "big") + bytes([result])
        return self._frame(PLATFORM_RESPONSE, body, version, phone, session)

    def _frame(self, msg_id: int, body: bytes, version: int | None, phone: str, session: Session) -> bytes:
        """A reply frame in the terminal's edition (its own version byte and phone number width),
        to its phone number, with the next serial."""
        serial = session.pending.get(SERIAL_KEY, 0)
        session.pending[SERIAL_KEY] = (serial + 1) & 0xFFFF
        return build_frame(msg_id, body, phone=phone, serial=serial, protocol_version=version)


__all__ = ["Jt808Protocol"]
