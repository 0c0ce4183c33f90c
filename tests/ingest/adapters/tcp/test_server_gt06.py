"""The GT06 tracker server end to end: real sockets, real frames, the real pipeline and lake."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.ingest import IngestPipeline
from safecity.ingest.adapters.tcp import gt06_frame
from safecity.ingest.adapters.tcp.gt06 import Gt06Protocol
from safecity.ingest.adapters.tcp.server import MAX_BAD_FRAMES_BEFORE_LOGIN, TrackerServer
from safecity.lake import Lake
from tests.conftest import T0
from tests.ingest.adapters.tcp.conftest import BAD_FRAMES, FRAMES
from tests.ingest.adapters.tcp.server_support import GatedIntake, Terminal, dead_letters

IMEI = "864717003283581"  # the IMEI in the login fixture
DEVICE = "TRK-0001"  # the tracker tests/ingest/conftest.py registers
# The Huizhou frames' fixes are of 2015-12-29 (UTC); the city's clock is set just after them.
NOW = datetime(2015, 12, 29, 12, 0, tzinfo=UTC)
LOCATION = FRAMES["location_22_huizhou"]  # serial 8, fix 02:51:05
ALARM = FRAMES["alarm_16_vibration"]  # serial 28, fix 10:43:33, vibration


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the registry part runs on PostgreSQL in tests/registry/test_terminals.py."""
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def sink(lake: Lake) -> Lake:
    """The real lake as the pipeline's sink."""
    return lake


@pytest.fixture
def intake(
    pipeline: IngestPipeline, clock: ManualClock, session_factory: sessionmaker[Session]
) -> GatedIntake:
    clock.set(NOW)
    with session_factory() as s, s.begin():
        registry.register_terminal(s, device_id=DEVICE, protocol="gt06", terminal=IMEI, now=T0)
    return GatedIntake(pipeline)


@pytest.fixture
def codec() -> Gt06Protocol:
    """The protocol the shared `server` fixture (conftest) serves."""
    return Gt06Protocol()


def ack(protocol: int, serial: int) -> bytes:
    """The plain 0x7878 ack a GT06 terminal expects (10 bytes)."""
    return gt06_frame.encode(protocol, serial)


def stored(lake: Lake) -> pl.DataFrame:
    return lake.scan(start=NOW - timedelta(days=2), end=NOW + timedelta(days=1)).collect().sort("event_id")


async def login(terminal: Terminal) -> None:
    await terminal.send(FRAMES["login"])
    assert await terminal.receive(10) == ack(0x01, 9)


async def test_login_then_a_location_is_a_tracker_fix_in_the_lake_acked_after_storage(
    terminal: Terminal, intake: GatedIntake, lake: Lake
) -> None:
    await login(terminal)
    intake.gate.clear()  # hold the pipeline: no ack may come before the records are durable

    await terminal.send(LOCATION)
    await intake.entered.wait()
    assert await terminal.is_silent()
    intake.gate.set()

    assert await terminal.receive(10) == ack(0x22, 8)
    [row] = stored(lake).to_dicts()
    assert (row["kind"], row["subject"], row["device"], row["source"]) == (
        "tracker_fix",
        IMEI,
        DEVICE,
        "gt06",
    )
    assert row["ts"] == datetime(2015, 12, 29, 2, 51, 5, tzinfo=UTC)
    assert (round(row["lat"], 5), round(row["lon"], 5)) == (23.11169, 114.4093)
    assert row["event_id"] == f"gt06-{IMEI}-0008-{int(row['ts'].timestamp() * 1000):x}-0"
    attrs = json.loads(row["attrs"])
    assert attrs["valid"] is True
    assert attrs["speed_kmh"] == 0
    assert attrs["satellites"] == 9


async def test_an_alarm_is_a_fix_and_an_alarm_named_as_the_platform_knows(
    terminal: Terminal, lake: Lake
) -> None:
    await login(terminal)
    await terminal.send(ALARM)

    assert await terminal.receive(10) == ack(0x16, 28)
    rows = stored(lake).select("kind", "code", "subject").rows()
    assert sorted(rows, key=str) == sorted(
        [("alarm", "vibration", DEVICE), ("tracker_fix", None, IMEI)], key=str
    )


async def test_an_unknown_imei_is_refused_with_silence_and_the_connection_closed(terminal: Terminal) -> None:
    await terminal.send(FRAMES["login_type_tz_west"])  # a real login from an IMEI never registered

    assert await terminal.is_closed()  # no login ack, ever


async def test_a_location_before_login_is_a_dead_letter_and_the_connection_lives(
    terminal: Terminal, session_factory: sessionmaker[Session], lake: Lake
) -> None:
    await terminal.send(LOCATION)
    assert await terminal.is_silent()  # refused: GT06 answers a terminal not logged in with nothing

    [letter] = dead_letters(session_factory)
    assert "not logged in" in letter.reason
    assert letter.raw == LOCATION.hex()
    await login(terminal)  # the same connection goes on
    await terminal.send(LOCATION)
    assert await terminal.receive(10) == ack(0x22, 8)
    assert stored(lake).height == 1


async def test_a_bad_frame_then_a_good_one(
    terminal: Terminal, session_factory: sessionmaker[Session], lake: Lake
) -> None:
    await login(terminal)
    await terminal.send(BAD_FRAMES["wrong_crc_12"] + LOCATION)

    assert await terminal.receive(10) == ack(0x22, 8)
    [letter] = dead_letters(session_factory)
    assert letter.reason.startswith("bad gt06 frame")
    assert stored(lake).height == 1


async def test_the_same_location_sent_twice_is_stored_once_and_acked_twice(
    terminal: Terminal, lake: Lake
) -> None:
    await login(terminal)
    for _ in range(2):
        await terminal.send(LOCATION)
        assert await terminal.receive(10) == ack(0x22, 8)

    assert stored(lake).height == 1


async def test_several_frames_in_one_write_and_one_frame_over_several(terminal: Terminal, lake: Lake) -> None:
    await terminal.send(FRAMES["login"] + LOCATION + ALARM[:7], ALARM[7:20], ALARM[20:])

    assert await terminal.receive(30) == ack(0x01, 9) + ack(0x22, 8) + ack(0x16, 28)
    assert stored(lake).height == 3  # two fixes and an alarm


async def test_storage_down_sends_no_ack_and_the_resend_is_stored(
    terminal: Terminal, intake: GatedIntake, lake: Lake
) -> None:
    await login(terminal)
    intake.down = True
    await terminal.send(LOCATION)
    assert await terminal.is_silent()

    intake.down = False
    await terminal.send(LOCATION)  # the terminal resends what was not acknowledged
    assert await terminal.receive(10) == ack(0x22, 8)
    assert stored(lake).height == 1


async def test_an_unknown_message_type_is_a_dead_letter_and_acked_when_logged_in(
    terminal: Terminal, session_factory: sessionmaker[Session]
) -> None:
    await login(terminal)
    await terminal.send(FRAMES["unknown_19"])

    assert await terminal.receive(10) == ack(0x19, 8)
    [letter] = dead_letters(session_factory)
    assert letter.reason == "unknown gt06 message type 0x19"


async def test_a_heartbeat_after_a_fix_is_a_heartbeat_at_that_fix(terminal: Terminal, lake: Lake) -> None:
    await login(terminal)
    await terminal.send(LOCATION, FRAMES["status_13"])

    assert await terminal.receive(20) == ack(0x22, 8) + ack(0x13, 297)
    beat = stored(lake).filter(pl.col("kind") == "heartbeat").to_dicts()
    [row] = beat
    assert json.loads(row["attrs"])["position"] == "last_fix"


async def test_an_endless_frame_closes_only_its_connection(server: TrackerServer, lake: Lake) -> None:
    server.max_buffer_bytes = 1024
    flood = await Terminal.connect(server.port)
    # A long-frame start whose length says 65535 bytes: split waits for the rest, which never ends.
    await flood.send(b"\x79\x79\xff\xff" + bytes(2000))
    assert await flood.is_closed()

    other = await Terminal.connect(server.port)
    await login(other)
    await other.send(LOCATION)
    assert await other.receive(10) == ack(0x22, 8)
    await other.close()
    await flood.close()


async def test_a_silent_connection_is_closed_after_the_idle_timeout(server: TrackerServer) -> None:
    server.idle_timeout_s = 0.2
    idle = await Terminal.connect(server.port)
    await login(idle)

    assert await idle.is_closed(timeout_s=5.0)
    await idle.close()


async def test_a_stranger_sending_only_bad_frames_is_disconnected(
    terminal: Terminal, session_factory: sessionmaker[Session]
) -> None:
    await terminal.send(BAD_FRAMES["wrong_crc_12"] * MAX_BAD_FRAMES_BEFORE_LOGIN)

    assert await terminal.is_closed()
    assert len(dead_letters(session_factory)) == MAX_BAD_FRAMES_BEFORE_LOGIN
