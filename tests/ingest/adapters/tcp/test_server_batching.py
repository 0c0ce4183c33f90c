"""Cross-connection batching over real sockets: many terminals, one pipeline call, acks after durable.

The terminals are the simulator's (`sim.terminals`), speaking GT06 and JT/T 808 to the real
servers, the real pipeline and the real lake; the intake in front of the pipeline counts its
calls, can hold them (to see that nothing is acked before the batch is durable), make storage
fail, or break on one terminal's part.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import structlog
from sqlalchemy.orm import Session, sessionmaker

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.ingest import IngestPipeline
from safecity.ingest.adapters.tcp.batch import ReportBatcher
from safecity.ingest.adapters.tcp.gt06 import Gt06Protocol
from safecity.ingest.adapters.tcp.jt808 import Jt808Protocol
from safecity.ingest.adapters.tcp.server import TrackerServer
from safecity.ingest.pipeline import DecodedPart, IngestResult, StorageUnavailable, Submission
from safecity.lake import Lake
from safecity.sim.terminals import Gt06Terminal, Jt808Terminal, NoAck, Reading
from tests.conftest import T0
from tests.ingest.adapters.tcp.server_support import GatedIntake, dead_letters

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
TERMINALS = 12
LINGER_MS = 100  # long, so that the concurrent reports of a test surely share a batch


def imei(i: int) -> str:
    return f"86471700{i:07d}"


def phone(i: int) -> str:
    return f"0138{i:08d}"


class CountingIntake(GatedIntake):
    """The gated pipeline, counting the parts of each call; `breaks_on` makes one device's part fail."""

    def __init__(self, pipeline: IngestPipeline) -> None:
        super().__init__(pipeline)
        self.calls: list[int] = []
        self.breaks_on: str | None = None

    async def submit_parts(self, parts: Sequence[Submission]) -> list[IngestResult]:
        self.calls.append(len(parts))
        if self.breaks_on is not None and any(p.device_id == self.breaks_on for p in parts):
            raise RuntimeError(f"a part of {self.breaks_on} breaks the pipeline")
        return await super().submit_parts(parts)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def sink(lake: Lake) -> Lake:
    return lake


@pytest.fixture
def intake(
    pipeline: IngestPipeline, clock: ManualClock, session_factory: sessionmaker[Session]
) -> CountingIntake:
    clock.set(NOW)
    with session_factory() as s, s.begin():
        for i in range(TERMINALS):
            for protocol, terminal in (("gt06", imei(i)), ("jt808", phone(i))):
                device = f"TRK-{protocol}-{i:03d}"
                registry.create_device(
                    s, device_id=device, kind="tracker", name=device, lat=None, lon=None, area_id=None, now=T0
                )
                registry.register_terminal(s, device_id=device, protocol=protocol, terminal=terminal, now=T0)
    return CountingIntake(pipeline)


async def serve(
    codec: Gt06Protocol | Jt808Protocol,
    intake: CountingIntake,
    factory: sessionmaker[Session],
    clock: ManualClock,
) -> TrackerServer:
    server = TrackerServer(codec, intake, factory, now=clock.now, batch_linger_ms=LINGER_MS)
    await server.start()
    return server


@pytest.fixture
async def gt06_server(
    intake: CountingIntake, session_factory: sessionmaker[Session], clock: ManualClock
) -> AsyncIterator[TrackerServer]:
    server = await serve(Gt06Protocol(), intake, session_factory, clock)
    yield server
    await server.stop()


@pytest.fixture
async def gt06_terminals(gt06_server: TrackerServer) -> AsyncIterator[list[Gt06Terminal]]:
    terminals = [Gt06Terminal(imei(i), "127.0.0.1", gt06_server.port, timeout_s=5) for i in range(TERMINALS)]
    await asyncio.gather(*(t.login() for t in terminals))
    yield terminals
    await asyncio.gather(*(t.close() for t in terminals))


def reading(i: int, k: int = 0) -> Reading:
    return Reading(
        ts=NOW - timedelta(seconds=60 - k), lat=27.99 + i / 1000, lon=120.69, speed_kmh=4, course=90
    )


def stored(lake: Lake) -> pl.DataFrame:
    return lake.scan(start=NOW - timedelta(days=1), end=NOW + timedelta(days=1)).collect()


async def test_reports_of_many_connections_are_one_pipeline_call_and_each_is_acked(
    gt06_terminals: list[Gt06Terminal], intake: CountingIntake, lake: Lake
) -> None:
    intake.calls.clear()
    latencies = await asyncio.gather(*(t.report(reading(i)) for i, t in enumerate(gt06_terminals)))

    assert all(0 < s < 5 for s in latencies)
    assert sum(intake.calls) == TERMINALS  # one part per connection
    assert len(intake.calls) < TERMINALS / 2  # shared calls, not one per connection
    assert max(intake.calls) > 1
    rows = stored(lake)
    assert sorted(rows["subject"].to_list()) == sorted(imei(i) for i in range(TERMINALS))
    assert set(rows["kind"].to_list()) == {"tracker_fix"}


async def test_paced_reports_do_not_wait_for_acks_and_each_is_timed(
    gt06_terminals: list[Gt06Terminal], lake: Lake
) -> None:
    first = gt06_terminals[0]
    start = time.perf_counter()
    times = [start + k * 0.01 for k in range(5)]  # 10 ms apart, under the 100 ms linger
    latencies = await first.paced(times, iter(reading(0, k) for k in range(5)).__next__)

    assert len(latencies) == 5
    # Sent on schedule, not after each ack: the first waited for the linger, the last less.
    assert time.perf_counter() - start < 0.04 + max(latencies) + 0.05
    assert all(0 < s < 5 for s in latencies)
    assert stored(lake).height == 5


async def test_no_connection_is_acked_before_the_shared_batch_is_durable(
    gt06_terminals: list[Gt06Terminal], intake: CountingIntake, lake: Lake
) -> None:
    intake.gate.clear()
    intake.entered.clear()
    reports = [asyncio.create_task(t.report(reading(i))) for i, t in enumerate(gt06_terminals)]
    await intake.entered.wait()
    await asyncio.sleep(0.2)
    assert not any(r.done() for r in reports)  # held in the pipeline: no ack went out
    assert stored(lake).height == 0

    intake.gate.set()
    await asyncio.gather(*reports)
    assert stored(lake).height == TERMINALS


async def test_a_bad_frame_on_one_connection_leaves_the_others_batch_alone(
    gt06_terminals: list[Gt06Terminal],
    intake: CountingIntake,
    lake: Lake,
    session_factory: sessionmaker[Session],
) -> None:
    bad, *good = gt06_terminals
    await bad.write(b"\x78\x78\x05\x12\x00\x01\xde\xad\x0d\x0a")  # a wrong CRC
    await asyncio.gather(*(t.report(reading(i + 1)) for i, t in enumerate(good)), bad.report(reading(0)))

    [letter] = dead_letters(session_factory)
    assert letter.reason.startswith("bad gt06 frame")
    assert stored(lake).height == TERMINALS  # the bad connection's own next report too


async def test_storage_down_acks_no_connection_and_the_resends_are_stored_once(
    gt06_terminals: list[Gt06Terminal], intake: CountingIntake, lake: Lake
) -> None:
    intake.down = True
    for t in gt06_terminals:
        t.timeout_s = 0.5
    outcomes = await asyncio.gather(
        *(t.report(reading(i)) for i, t in enumerate(gt06_terminals)), return_exceptions=True
    )
    assert all(isinstance(o, NoAck) for o in outcomes)  # silence: the terminals will resend

    intake.down = False
    for t in gt06_terminals:
        t.serial -= 1  # the resend carries the same serial, so the same event ids
        t.timeout_s = 5
    await asyncio.gather(*(t.report(reading(i)) for i, t in enumerate(gt06_terminals)))
    assert stored(lake).height == TERMINALS


async def test_a_part_that_breaks_the_pipeline_fails_only_its_own_connection(
    gt06_terminals: list[Gt06Terminal], intake: CountingIntake, lake: Lake
) -> None:
    intake.breaks_on = "TRK-gt06-000"
    broken, *others = gt06_terminals
    outcomes = await asyncio.gather(
        broken.report(reading(0)),
        *(t.report(reading(i + 1)) for i, t in enumerate(others)),
        return_exceptions=True,
    )

    assert isinstance(outcomes[0], NoAck)  # its connection closed, nothing acked
    assert all(isinstance(o, float) for o in outcomes[1:])
    assert sorted(stored(lake)["subject"].to_list()) == sorted(imei(i) for i in range(1, TERMINALS))


async def test_with_batching_off_each_connections_read_is_its_own_call(
    intake: CountingIntake, session_factory: sessionmaker[Session], clock: ManualClock, lake: Lake
) -> None:
    server = TrackerServer(Gt06Protocol(), intake, session_factory, now=clock.now, batch_max_events=0)
    await server.start()
    terminals = [Gt06Terminal(imei(i), "127.0.0.1", server.port, timeout_s=5) for i in range(3)]
    try:
        await asyncio.gather(*(t.login() for t in terminals))
        await asyncio.gather(
            *(t.report_many([reading(i, 1), reading(i, 2)]) for i, t in enumerate(terminals))
        )
    finally:
        await asyncio.gather(*(t.close() for t in terminals))
        await server.stop()

    assert intake.calls == [1, 1, 1]
    assert stored(lake).height == 6


async def test_jt808_terminals_register_authenticate_and_batch_their_reports(
    intake: CountingIntake, session_factory: sessionmaker[Session], clock: ManualClock, lake: Lake
) -> None:
    server = await serve(Jt808Protocol(), intake, session_factory, clock)
    terminals = [Jt808Terminal(phone(i), "127.0.0.1", server.port, timeout_s=5) for i in range(TERMINALS)]
    try:
        await asyncio.gather(*(t.login() for t in terminals))
        intake.calls.clear()
        await asyncio.gather(
            *(t.report_alarms(reading(i), ("sos",) if i == 0 else ()) for i, t in enumerate(terminals)),
            terminals[1].report_batch([reading(1, k) for k in range(1, 4)]),
        )
    finally:
        await asyncio.gather(*(t.close() for t in terminals))
        await server.stop()

    assert len(intake.calls) < TERMINALS / 2
    rows = stored(lake)
    assert rows.filter(pl.col("kind") == "tracker_fix").height == TERMINALS + 3
    assert rows.filter(pl.col("kind") == "alarm")["code"].to_list() == ["sos"]


class BlockedIntake:
    """An intake that holds every call until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls: list[int] = []

    async def submit_parts(self, parts: Sequence[Submission]) -> list[IngestResult]:
        self.calls.append(len(parts))
        await self.release.wait()
        return [IngestResult(batch_id="b") for _ in parts]

    async def refuse_parts(self, parts: Sequence[Submission], reason: str) -> list[IngestResult]:
        return [IngestResult(batch_id="b") for _ in parts]


def part(n: int) -> DecodedPart:
    from safecity.core.record import WireEvent

    events = [WireEvent(id=f"e-{n}-{k}", kind="tracker_fix", ts=0, lat=1.0, lon=1.0) for k in range(n)]
    return DecodedPart(events=events, device_id="d", source="gt06")


async def test_a_slow_pipeline_holds_submitters_back_instead_of_queueing_without_bound() -> None:
    intake = BlockedIntake()
    batcher = ReportBatcher(
        intake, protocol="gt06", max_events=2, linger_s=0, max_pending_events=4, max_in_flight=1
    )
    first = [
        asyncio.create_task(batcher.submit(part(2), None)) for _ in range(3)
    ]  # one in flight, two waiting
    await asyncio.sleep(0.05)
    assert (intake.calls, batcher.waiting_events) == ([1], 4)
    held = asyncio.create_task(batcher.submit(part(1), None))
    await asyncio.sleep(0.05)
    assert batcher.waiting_events == 4  # not queued: its connection waits (and stops reading)

    intake.release.set()
    await asyncio.wait_for(asyncio.gather(*first, held), 2)
    assert sum(intake.calls) == 4 and batcher.waiting_events == 0
    await batcher.close()


async def test_below_full_load_the_next_batch_waits_for_the_one_in_flight_and_a_full_one_does_not() -> None:
    intake = BlockedIntake()
    batcher = ReportBatcher(intake, protocol="gt06", max_events=4, linger_s=0, max_in_flight=2)
    first = batcher.enqueue(part(1), None)  # taken at once, held by the intake
    await asyncio.sleep(0.05)
    second = batcher.enqueue(part(1), None)
    third = batcher.enqueue(part(2), None)
    await asyncio.sleep(0.05)
    # Not full: it grows while the first batch is stored, instead of competing with it.
    assert (intake.calls, batcher.waiting_events) == ([1], 3)
    fourth = batcher.enqueue(part(1), None)  # now full: a second batch goes at once
    await asyncio.sleep(0.05)
    assert (intake.calls, batcher.waiting_events) == ([1, 3], 0)  # parts: three connections

    intake.release.set()
    await asyncio.wait_for(asyncio.gather(first, second, third, fourth), 2)  # type: ignore[arg-type]
    fifth = batcher.enqueue(part(1), None)  # nothing in flight: it lingers only linger_s
    await asyncio.wait_for(fifth, 2)  # type: ignore[arg-type]
    assert intake.calls == [1, 3, 1]
    await batcher.close()


async def test_stopping_fails_what_waits_so_that_nothing_is_acked() -> None:
    intake = BlockedIntake()
    batcher = ReportBatcher(intake, protocol="gt06", max_events=5, linger_s=10, max_in_flight=1)
    waiting = asyncio.create_task(batcher.submit(part(1), None))  # lingering for others to join it
    await asyncio.sleep(0.05)
    await batcher.close()
    with pytest.raises(StorageUnavailable):
        await waiting
    assert intake.calls == []


async def test_connections_that_find_no_room_are_called_back_in_order_as_batches_leave() -> None:
    intake = BlockedIntake()
    batcher = ReportBatcher(
        intake, protocol="gt06", max_events=2, linger_s=0, max_pending_events=2, max_in_flight=1
    )
    in_flight = batcher.enqueue(part(2), None)  # taken at once, and held by the intake
    await asyncio.sleep(0.05)
    waiting = batcher.enqueue(part(2), None)  # fills the room
    await asyncio.sleep(0.05)
    assert not batcher.has_room
    woken: list[str] = []
    batcher.when_room(lambda: woken.append("first"))
    batcher.when_room(lambda: woken.append("second"))
    await asyncio.sleep(0.05)
    assert woken == []  # nothing leaves while the pipeline holds the batch in flight

    intake.release.set()
    await asyncio.wait_for(asyncio.gather(in_flight, waiting), 2)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert woken == ["first", "second"]
    await batcher.close()


async def test_one_batcher_shared_by_both_servers_stores_their_reports_in_one_call(
    intake: CountingIntake, session_factory: sessionmaker[Session], clock: ManualClock, lake: Lake
) -> None:
    shared = ReportBatcher(intake, protocol="tracker", max_events=2000, linger_s=LINGER_MS / 1000)
    servers = [
        TrackerServer(codec, intake, session_factory, now=clock.now, batcher=shared)
        for codec in (Gt06Protocol(), Jt808Protocol())
    ]
    for server in servers:
        await server.start()
    gt06 = Gt06Terminal(imei(0), "127.0.0.1", servers[0].port, timeout_s=5)
    jt808 = Jt808Terminal(phone(0), "127.0.0.1", servers[1].port, timeout_s=5)
    try:
        await asyncio.gather(gt06.login(), jt808.login())
        intake.calls.clear()
        await asyncio.gather(gt06.report(reading(0)), jt808.report(reading(1)))
        await servers[0].stop()  # the other server still uses the batcher: it stays open
        await jt808.report(reading(1, 1))
    finally:
        await asyncio.gather(gt06.close(), jt808.close())
        await servers[1].stop()

    assert intake.calls == [2, 1]  # both protocols' reports in one call, then the second alone
    assert sorted(stored(lake)["source"].to_list()) == ["gt06", "jt808", "jt808"]


async def test_connections_held_back_by_a_full_batcher_are_all_stored_and_acked(
    intake: CountingIntake, session_factory: sessionmaker[Session], clock: ManualClock, lake: Lake
) -> None:
    # Room for two reports: most connections wait their turn, called back as batches leave.
    tight = ReportBatcher(intake, protocol="gt06", max_events=2, linger_s=0.01, max_pending_events=2)
    server = TrackerServer(Gt06Protocol(), intake, session_factory, now=clock.now, batcher=tight)
    await server.start()
    terminals = [Gt06Terminal(imei(i), "127.0.0.1", server.port, timeout_s=5) for i in range(TERMINALS)]
    try:
        await asyncio.gather(*(t.login() for t in terminals))
        latencies = await asyncio.gather(
            *(t.report_many([reading(i, k) for k in range(3)]) for i, t in enumerate(terminals))
        )
    finally:
        await asyncio.gather(*(t.close() for t in terminals))
        await server.stop()

    assert all(0 < s < 5 for s in latencies)
    assert stored(lake).height == TERMINALS * 3


def test_the_servers_run_on_uvloop_as_under_safecity_serve(
    intake: CountingIntake, session_factory: sessionmaker[Session], clock: ManualClock, lake: Lake
) -> None:
    import uvloop

    async def exchange() -> float:
        server = await serve(Gt06Protocol(), intake, session_factory, clock)
        terminal = Gt06Terminal(imei(0), "127.0.0.1", server.port, timeout_s=5)
        try:
            await terminal.login()
            return await terminal.report(reading(0))
        finally:
            await terminal.close()
            await server.stop()

    # uvloop's transports are not asyncio.Transport subclasses: the server must not assume so.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert 0 < runner.run(exchange()) < 5
    assert stored(lake).height == 1


async def test_stopping_with_reports_waiting_logs_one_line_not_one_per_terminal(
    gt06_server: TrackerServer, gt06_terminals: list[Gt06Terminal], intake: CountingIntake, lake: Lake
) -> None:
    intake.gate.clear()
    intake.entered.clear()
    first = asyncio.create_task(gt06_terminals[0].report(reading(0)))
    await intake.entered.wait()  # one batch held by the pipeline: the others wait behind it
    rest = [asyncio.create_task(t.report(reading(i))) for i, t in enumerate(gt06_terminals[1:], 1)]
    await asyncio.sleep(0.2)

    with structlog.testing.capture_logs() as logs:
        stopping = asyncio.create_task(gt06_server.stop())
        await asyncio.sleep(0.1)
        intake.gate.set()  # the batch in flight is carried through; the waiting ones are not sent
        await stopping
    await asyncio.gather(first, *rest, return_exceptions=True)

    events = [entry["event"] for entry in logs]
    assert "tracker_storage_unavailable" not in events
    [closed] = [entry for entry in logs if entry["event"] == "tracker_batcher_closed"]
    assert (closed["log_level"], closed["unacknowledged"], closed["reports"]) == (
        "info",
        TERMINALS - 1,
        TERMINALS - 1,
    )
    assert stored(lake).height == 1  # the batch in flight; the others resend to the next server
