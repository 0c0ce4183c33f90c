"""Real GT06 frames (tests/fixtures/gt06/frames.json) for the codec's tests; the tracker server
and a connected terminal for the server tests (each module gives its `codec` and `intake`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import ManualClock
from safecity.ingest.adapters.tcp.protocol import DeviceProtocol
from safecity.ingest.adapters.tcp.server import TrackerServer
from tests.ingest.adapters.tcp.server_support import GatedIntake, Terminal

FIXTURES = Path(__file__).parents[3] / "fixtures" / "gt06" / "frames.json"
_DATA = json.loads(FIXTURES.read_text())
FRAMES: dict[str, bytes] = {name: bytes.fromhex(h) for name, h in _DATA["frames"].items()}
BAD_FRAMES: dict[str, bytes] = {name: bytes.fromhex(h) for name, h in _DATA["bad_frames"].items()}
ACKS: dict[str, bytes] = {name: bytes.fromhex(h) for name, h in _DATA["acks"].items()}


@pytest.fixture
async def server(
    codec: DeviceProtocol, intake: GatedIntake, session_factory: sessionmaker[Session], clock: ManualClock
) -> AsyncIterator[TrackerServer]:
    srv = TrackerServer(codec, intake, session_factory, now=clock.now, port=0)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def terminal(server: TrackerServer) -> AsyncIterator[Terminal]:
    t = await Terminal.connect(server.port)
    yield t
    await t.close()
