"""The JT/T 808 server end to end: register, authenticate, report over real sockets into the real pipeline.

The registration frame is a real capture (tests/fixtures/jt808/register_2013.bin, phone
013511221122); the reports are real 0x0200 and 0x0704 bodies re-framed under that phone, since
the captures come from different terminals; the authentication frame carries the code the server
issued, so it is built here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.ingest import IngestPipeline
from safecity.ingest.adapters.tcp.jt808 import Jt808Protocol
from safecity.ingest.adapters.tcp.jt808_frame import Frame, build_frame, parse_frame
from safecity.ingest.adapters.tcp.server import TrackerServer
from tests.conftest import T0
from tests.ingest.adapters.tcp.server_support import GatedIntake, Terminal, dead_letters
from tests.ingest.conftest import ListSink

FIXTURES = Path(__file__).parents[3] / "fixtures" / "jt808"
PHONE = "013511221122"
DEVICE = "TRK-0001"
REGISTER = (FIXTURES / "register_2013.bin").read_bytes()  # serial 5


def body_of(name: str) -> bytes:
    frame = parse_frame((FIXTURES / name).read_bytes())
    assert isinstance(frame, Frame)
    return frame.body


LOCATION_BODY = body_of("location_mileage_fuel.bin")  # one fix, 2015-08-17 23:21:21 UTC
BATCH_BODY = body_of("batch_0704.bin")  # eight fixes of 2016-05-27
# The captures are old: the pipeline takes them only with the city's clock set just after them.
NOW = datetime(2015, 8, 18, 0, 0, tzinfo=UTC)


def frame(msg_id: int, body: bytes, serial: int, phone: str = PHONE) -> bytes:
    return build_frame(msg_id, body, phone=phone, serial=serial, protocol_version=None)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the registry part runs on PostgreSQL in tests/registry/test_terminals.py."""
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def intake(
    pipeline: IngestPipeline, clock: ManualClock, session_factory: sessionmaker[Session]
) -> GatedIntake:
    clock.set(NOW)
    with session_factory() as s, s.begin():
        registry.register_terminal(s, device_id=DEVICE, protocol="jt808", terminal=PHONE, now=T0)
    return GatedIntake(pipeline)


@pytest.fixture
def codec() -> Jt808Protocol:
    """The protocol the shared `server` fixture (conftest) serves."""
    return Jt808Protocol()


async def reply(terminal: Terminal) -> Frame:
    """The next frame from the server, checked."""
    start = await terminal.receive(1)
    assert start == b"\x7e"
    rest = await terminal.reader.readuntil(b"\x7e")
    checked = parse_frame(start + rest)
    assert isinstance(checked, Frame), checked
    return checked


def general_response(answer: Frame) -> tuple[int, int, int]:
    """0x8001: (the terminal's serial, its message id, the result)."""
    assert answer.header.msg_id == 0x8001
    body = answer.body
    return int.from_bytes(body[0:2], "big"), int.from_bytes(body[2:4], "big"), body[4]


async def register(terminal: Terminal) -> str:
    await terminal.send(REGISTER)
    answer = await reply(terminal)
    assert answer.header.msg_id == 0x8100
    assert answer.header.phone == PHONE
    assert (int.from_bytes(answer.body[0:2], "big"), answer.body[2]) == (5, 0)  # serial 5, result ok
    return answer.body[3:].decode()


async def authenticate(terminal: Terminal, code: str, serial: int = 6) -> int:
    await terminal.send(frame(0x0102, code.encode(), serial))
    answer_serial, msg_id, result = general_response(await reply(terminal))
    assert (answer_serial, msg_id) == (serial, 0x0102)
    return result


async def test_register_authenticate_and_report_is_stored_then_answered(
    terminal: Terminal, intake: GatedIntake, sink: ListSink, session_factory: sessionmaker[Session]
) -> None:
    code = await register(terminal)
    with session_factory() as s:
        entry = registry.get_terminal(s, "jt808", PHONE)
    assert entry is not None and registry.is_auth_code_valid(code, entry)  # only its hash is kept
    assert await authenticate(terminal, code) == 0

    intake.gate.clear()
    await terminal.send(frame(0x0200, LOCATION_BODY, 7))
    await intake.entered.wait()
    assert await terminal.is_silent()  # no answer before the records are durable
    intake.gate.set()

    assert general_response(await reply(terminal)) == (7, 0x0200, 0)
    [row] = sink.all.to_dicts()
    assert (row["kind"], row["subject"], row["device"], row["source"]) == (
        "tracker_fix",
        PHONE,
        DEVICE,
        "jt808",
    )
    assert row["ts"] == datetime(2015, 8, 17, 23, 21, 21, tzinfo=UTC)


async def test_a_report_before_authentication_is_refused_kept_and_the_connection_lives(
    terminal: Terminal, session_factory: sessionmaker[Session], sink: ListSink
) -> None:
    await terminal.send(frame(0x0200, LOCATION_BODY, 7))

    assert general_response(await reply(terminal)) == (7, 0x0200, 1)  # failure
    [letter] = dead_letters(session_factory)
    assert "not logged in or authenticated" in letter.reason
    code = await register(terminal)
    assert await authenticate(terminal, code) == 0
    await terminal.send(frame(0x0200, LOCATION_BODY, 8))
    assert general_response(await reply(terminal)) == (8, 0x0200, 0)
    assert sink.count() == 1


async def test_a_wrong_code_is_refused_and_a_code_from_an_earlier_connection_accepted(
    server: TrackerServer, terminal: Terminal
) -> None:
    code = await register(terminal)
    assert await authenticate(terminal, "not-the-code") == 1
    await terminal.close()

    again = await Terminal.connect(server.port)  # a terminal authenticates on every connection
    assert await authenticate(again, code) == 0
    await again.close()


async def test_a_logout_ends_the_session_and_voids_the_code_until_the_terminal_registers_again(
    terminal: Terminal,
    intake: GatedIntake,
    sink: ListSink,
    session_factory: sessionmaker[Session],
) -> None:
    # JT/T 808 0x0003 deregisters the terminal: it must register (0x0100) before it authenticates.
    code = await register(terminal)
    assert await authenticate(terminal, code) == 0
    await terminal.send(frame(0x0200, LOCATION_BODY, 7) + frame(0x0003, b"", 8))
    assert general_response(await reply(terminal)) == (7, 0x0200, 0)  # stored before the logout
    assert general_response(await reply(terminal)) == (8, 0x0003, 0)

    await terminal.send(frame(0x0200, LOCATION_BODY, 9))
    assert general_response(await reply(terminal)) == (9, 0x0200, 1)  # no longer authenticated
    [letter] = dead_letters(session_factory)
    assert "not logged in or authenticated" in letter.reason
    with session_factory() as s:
        entry = registry.get_terminal(s, "jt808", PHONE)
    assert entry is not None and not registry.is_auth_code_valid(code, entry)
    assert await authenticate(terminal, code, serial=10) == 1  # the old code no longer works

    fresh = await register(terminal)
    assert await authenticate(terminal, fresh, serial=11) == 0
    await terminal.send(frame(0x0200, LOCATION_BODY, 12))
    assert general_response(await reply(terminal)) == (12, 0x0200, 0)
    assert sink.count() == 2  # the first report and the last; the one in between is a dead letter


async def test_a_logout_before_authentication_is_refused_and_kept(
    terminal: Terminal, session_factory: sessionmaker[Session]
) -> None:
    await terminal.send(frame(0x0003, b"", 3))

    assert general_response(await reply(terminal)) == (3, 0x0003, 1)
    [letter] = dead_letters(session_factory)
    assert "logout from a terminal not logged in" in letter.reason


async def test_an_unknown_terminal_gets_registration_result_4_and_is_disconnected(
    terminal: Terminal, session_factory: sessionmaker[Session]
) -> None:
    await terminal.send((FIXTURES / "register_2011_layout.bin").read_bytes())  # phone 013345678906

    answer = await reply(terminal)
    assert (answer.header.msg_id, answer.body[2]) == (0x8100, 4)
    assert await terminal.is_closed()


async def test_a_batch_upload_is_one_fix_each_with_its_own_id_stored_once(
    terminal: Terminal, clock: ManualClock, sink: ListSink
) -> None:
    clock.set(datetime(2016, 5, 27, 12, 0, tzinfo=UTC))
    code = await register(terminal)
    assert await authenticate(terminal, code) == 0

    for _ in range(2):  # the answer was lost: the terminal sends the same batch again
        await terminal.send(frame(0x0704, BATCH_BODY, 9))
        assert general_response(await reply(terminal)) == (9, 0x0704, 0)

    fixes = sink.all.filter(pl.col("kind") == "tracker_fix")
    assert fixes.height == 8
    assert sorted(i.rsplit("-", 1)[1] for i in fixes["event_id"]) == [str(i) for i in range(8)]


async def test_storage_down_gets_no_answer(terminal: Terminal, intake: GatedIntake, sink: ListSink) -> None:
    code = await register(terminal)
    assert await authenticate(terminal, code) == 0
    intake.down = True

    await terminal.send(frame(0x0200, LOCATION_BODY, 7))
    assert await terminal.is_silent()
    intake.down = False
    await terminal.send(frame(0x0200, LOCATION_BODY, 7))
    assert general_response(await reply(terminal)) == (7, 0x0200, 0)
    assert sink.count() == 1


async def test_an_unknown_message_is_kept_and_answered_not_supported(
    terminal: Terminal, session_factory: sessionmaker[Session]
) -> None:
    await terminal.send(frame(0x0900, b"\x01data", 3))

    assert general_response(await reply(terminal)) == (3, 0x0900, 3)
    [letter] = dead_letters(session_factory)
    assert letter.reason == "unknown jt808 message type 0x900"


async def test_a_bad_check_code_is_a_dead_letter_and_the_next_frame_goes_through(
    terminal: Terminal, session_factory: sessionmaker[Session]
) -> None:
    bad = (FIXTURES / "bad_check_code.bin").read_bytes()
    await terminal.send(bad[:10], bad[10:] + REGISTER[:5], REGISTER[5:])

    answer = await reply(terminal)
    assert answer.header.msg_id == 0x8100
    [letter] = dead_letters(session_factory)
    assert letter.reason.startswith("bad jt808 frame: check code")


async def test_a_report_naming_another_terminal_on_an_authenticated_connection_is_refused(
    terminal: Terminal, sink: ListSink
) -> None:
    code = await register(terminal)
    assert await authenticate(terminal, code) == 0

    await terminal.send(frame(0x0200, LOCATION_BODY, 7, phone="013900000000"))
    assert general_response(await reply(terminal))[2] == 1
    assert sink.count() == 0
