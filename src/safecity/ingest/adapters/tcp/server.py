"""The TCP device server: one asyncio listener per tracker protocol, frames in, records to the pipeline.

A `TrackerServer` drives one codec (`protocol.DeviceProtocol`: GT06, JT/T 808) and is a
`core.worker.Worker` (started by `ingest/capability.py` when its protocol is enabled). Each
connection is an `asyncio.Protocol` (`Connection`), with a `Session`, a byte buffer capped at
`max_buffer_bytes` and an idle timeout (one timer, moved on only when it fires). It costs no task:
the usual read, an authenticated terminal's reports, is decoded in the `data_received` callback
and queued in the batcher, and the acks go out from the callback of the batch's future (a task
and two wake-ups a read cost the servers ~40 µs a report at 10,000 single-report reads a second).
Anything else (a login, a bad frame, an unknown type, a full batcher) hands the rest of the read to
a task that does what follows, in order. Per read the server

1. splits the buffer into frames (`codec.split`) and decodes them one at a time, in order (a
   login changes how the frames after it decode: the terminal's time zone);
2. authenticates: GT06 login, JT/T 808 registration (an authentication code issued, only its
   hash kept) and authentication, against the registry (`login.TerminalLogins`). An unknown
   terminal gets the protocol's refusal and the connection is closed;
3. turns an authenticated terminal's fixes, alarms and heartbeats into events (`records.py`),
   gathers the consecutive recording messages of the read into one `DecodedPart` and hands it
   to the `batch.ReportBatcher`, which submits the parts of every connection that arrived
   within a few milliseconds as one `submit_parts` call (`batch_max_events=0`: each read's part
   submitted on its own, as before batching); the replies (`codec.replies(..., Outcome.STORED)`)
   go out only after that call returned. On `StorageUnavailable` nothing is acknowledged
   (`Outcome.FAILED`), so the terminal resends, and the deterministic event ids make the resend
   a duplicate of anything stored;
4. keeps as dead letters (`intake.refuse_parts`, with the reason) bad frames, message types the
   codec does not know (answered as the codec says), reports before login or authentication
   (refused, the connection kept) and fixes at (0, 0).

A connection's failure is logged and closes that connection only; the listener goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import cast

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from safecity.core.record import WireEvent
from safecity.ingest.adapters.base import Intake
from safecity.ingest.adapters.tcp.batch import UNPLACED_REASON, BatcherClosed, ReportBatcher
from safecity.ingest.adapters.tcp.login import TerminalLogins
from safecity.ingest.adapters.tcp.protocol import (
    BadFrame,
    DeviceProtocol,
    Message,
    MessageType,
    Outcome,
    Position,
    Session,
)
from safecity.ingest.adapters.tcp.records import RECORDING, events_of
from safecity.ingest.pipeline import DecodedPart, Part, StorageUnavailable, Submission

log = structlog.get_logger(__name__)

FRAMES = Counter("safecity_tracker_frames", "Tracker frames by protocol and outcome", ["protocol", "outcome"])
CONNECTIONS = Gauge("safecity_tracker_connections", "Open tracker connections", ["protocol"])

# A connection that has not logged in and sends this many bad frames is closed: a port scanner or
# a terminal of another protocol, whose every read would otherwise be a dead letter.
MAX_BAD_FRAMES_BEFORE_LOGIN = 8
AUTHENTICATING = frozenset({MessageType.LOGIN, MessageType.REGISTER, MessageType.AUTHENTICATE})


class Closing(Exception):
    """The connection is to be closed once its replies are written (a refused terminal)."""


class Connection(asyncio.Protocol):
    """One terminal's connection: asyncio's callbacks, its session, buffer and pending reports.

    The callbacks hand the work to the server; `busy` is set while the connection's reports are
    being stored (or its frames handled in a task): what arrives meanwhile waits in the buffer, and
    reading is paused once that holds more than the server's `max_buffer_bytes`, so that a slow
    pipeline fills the terminal's TCP window instead of our memory.
    """

    __slots__ = (
        "bad_frames",
        "buffer",
        "busy",
        "closed",
        "idle",
        "last",
        "last_seen",
        "peer",
        "pending",
        "pending_events",
        "read_paused",
        "server",
        "session",
        "terminal",
        "transport",
        "unplaced",
        "writable",
    )

    def __init__(self, server: TrackerServer) -> None:
        self.server = server
        self.peer = ""
        self.session = Session()
        self.buffer = bytearray()
        self.terminal: str | None = None  # the authenticated terminal id
        self.last: Position | None = None  # the last fix: where heartbeats are placed
        # This read's reports not yet submitted, in order: decoded messages (answered by the codec's
        # `replies`) and plain reports' acks (sent as they are once stored).
        self.pending: list[Message | bytes] = []
        self.pending_events: list[WireEvent] = []  # their events
        self.unplaced: list[WireEvent] = []  # events at (0, 0), for dead letters
        self.bad_frames = 0
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.closed = False
        self.read_paused = False
        self.writable: asyncio.Event | None = None  # set while the terminal reads what we send
        self.idle: asyncio.TimerHandle | None = None
        self.last_seen = 0.0  # loop time of the last bytes received

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.peer = str(transport.get_extra_info("peername"))
        self.server._opened(self)

    def data_received(self, data: bytes) -> None:
        self.last_seen = self.server.loop_time()
        self.buffer += data
        if not self.busy:
            self.server._process(self)
        elif len(self.buffer) > self.server.max_buffer_bytes and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._lost(self)

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = asyncio.Event()
        self.writable.clear()

    def resume_writing(self) -> None:
        if self.writable is not None:
            self.writable.set()
        if not self.busy:
            self.server._process(self)

    @property
    def can_write(self) -> bool:
        return self.writable is None or self.writable.is_set()

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the terminal does not read what was sent (its TCP window is full)."""
        if self.writable is not None and not self.closed:
            await self.writable.wait()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TrackerServer:
    """A TCP server for one tracker protocol, feeding the ingest pipeline (a platform worker)."""

    def __init__(
        self,
        codec: DeviceProtocol,
        intake: Intake,
        session_factory: sessionmaker[DbSession],
        *,
        now: Callable[[], datetime],
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout_s: float = 600.0,
        max_buffer_bytes: int = 64 * 1024,
        batch_max_events: int = 2000,
        batch_linger_ms: float = 5.0,
        batcher: ReportBatcher | None = None,
    ) -> None:
        self.codec = codec
        self.name = f"{codec.name}-server"
        self.host = host
        self.port = port  # 0: any free port; the bound one is set by `start`
        self.idle_timeout_s = idle_timeout_s
        self.max_buffer_bytes = max_buffer_bytes
        self._intake = intake
        self._now = now
        self._logins = TerminalLogins(session_factory, codec.name, now)
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._frames: dict[str, Counter] = {}  # FRAMES children by outcome: a label lookup costs µs
        # Reports of many connections (of every server given the same `batcher`) share a pipeline
        # call; batch_max_events=0 and no batcher submits each read on its own.
        if batcher is None and batch_max_events > 0:
            batcher = ReportBatcher(
                intake, protocol=codec.name, max_events=batch_max_events, linger_s=batch_linger_ms / 1000
            )
        self._batcher = batcher.share() if batcher is not None else None

    async def start(self) -> None:
        """Listen; return once bound (the port in use is `self.port`)."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(lambda: Connection(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("tracker_server_started", protocol=self.codec.name, host=self.host, port=self.port)

    async def stop(self) -> None:
        """Stop listening and close every connection (unacknowledged reports are resent by terminals)."""
        if self._server is None:
            return
        self._server.close()
        log.info("tracker_server_stopping", protocol=self.codec.name, connections=len(self._connections))
        for conn in list(self._connections):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        if self._batcher is not None:
            await self._batcher.release()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 5.0)
        self._server = None

    def loop_time(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    # --- connection callbacks -------------------------------------------------------------------

    def _opened(self, conn: Connection) -> None:
        self._connections.add(conn)
        CONNECTIONS.labels(self.codec.name).inc()
        conn.last_seen = self.loop_time()
        # One timer per connection, moved on only when it fires: resetting a timer on every read
        # would cost more than the read (see `_idle_check`).
        conn.idle = self._loop.call_later(self.idle_timeout_s, self._idle_check, conn)  # type: ignore[union-attr]

    def _lost(self, conn: Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        if conn.idle is not None:
            conn.idle.cancel()
        self._connections.discard(conn)
        CONNECTIONS.labels(self.codec.name).dec()
        if conn.writable is not None:
            conn.writable.set()  # a task waiting to write goes on, and finds the connection closed

    def _idle_check(self, conn: Connection) -> None:
        if conn.closed:
            return
        quiet = self.loop_time() - conn.last_seen
        if conn.busy or quiet < self.idle_timeout_s:
            # Waiting for storage is not idleness; otherwise wait out the rest of the timeout.
            wait = self.idle_timeout_s if conn.busy else self.idle_timeout_s - quiet
            conn.idle = self._loop.call_later(wait, self._idle_check, conn)  # type: ignore[union-attr]
            return
        log.info("tracker_idle_closed", protocol=self.codec.name, terminal=conn.terminal)
        conn.close()

    def _count(self, outcome: str, n: int = 1) -> None:
        child = self._frames.get(outcome)
        if child is None:
            child = self._frames[outcome] = FRAMES.labels(self.codec.name, outcome)
        child.inc(n)

    # --- reading --------------------------------------------------------------------------------

    def _process(self, conn: Connection) -> None:
        """Handle the frames the buffer holds: at once when every one is an authenticated
        terminal's report (the usual read: no task, one future for the batch), else in a task."""
        if conn.busy or conn.closed or not conn.can_write:
            return
        if self._batcher is not None and not self._batcher.has_room:
            # Back-pressure: the connection waits its turn (its reads pause once its buffer is
            # full), called back in order as batches leave; no task per waiting connection.
            conn.busy = True
            self._batcher.when_room(lambda: self._room_for(conn))
            return
        if conn.read_paused:
            conn.read_paused = False
            conn.transport.resume_reading()  # type: ignore[union-attr]
        try:
            items = self.codec.split(conn.buffer, conn.session)
            if len(conn.buffer) > self.max_buffer_bytes or self._batcher is None:
                self._spawn(conn, items)
                return
            now = self._now()
            plain = self.codec.plain_report
            terminal = conn.terminal if conn.session.device_id is not None else None
            for n, item in enumerate(items):
                if terminal is not None and type(item) is bytes:
                    report = plain(item, conn.session, terminal)
                    if report is not None:  # the usual frame: its event and ack, nothing else
                        conn.pending_events.append(report.event)
                        conn.pending.append(report.ack)
                        conn.last = report.last
                        continue
                decoded = item if isinstance(item, BadFrame) else self.codec.decode(item, conn.session)
                if isinstance(decoded, BadFrame) or not (
                    decoded.type in RECORDING and self._is_authenticated(conn, decoded)
                ):
                    # Something to answer, refuse or keep: the rest of the read goes to a task,
                    # this item decoded already (decoding twice would reassemble a fragment twice).
                    self._spawn(conn, [decoded, *items[n + 1 :]])
                    return
                self._gather(conn, decoded, now)
            if conn.pending:
                self._store(conn)  # decoded already: queued even past the batcher's limit
        except Exception:
            log.exception(
                "tracker_connection_failed", protocol=self.codec.name, peer=conn.peer, terminal=conn.terminal
            )
            conn.close()

    def _room_for(self, conn: Connection) -> None:
        conn.busy = False
        self._process(conn)

    def _store(self, conn: Connection) -> None:
        """Queue the gathered reports in the batcher; acknowledge them when their batch is durable."""
        assert self._batcher is not None
        reports, placed, refused = self._take_pending(conn)
        done = self._batcher.enqueue(placed, refused)
        if done is None:
            self._acknowledge(conn, reports, Outcome.STORED)
            return
        conn.busy = True
        done.add_done_callback(lambda future: self._stored(conn, reports, future))

    def _stored(self, conn: Connection, reports: list[Message | bytes], done: asyncio.Future[None]) -> None:
        conn.busy = False
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        if error is not None and not isinstance(error, StorageUnavailable):
            log.error(
                "tracker_connection_failed",
                protocol=self.codec.name,
                peer=conn.peer,
                terminal=conn.terminal,
                exc_info=error,
            )
            conn.close()
            return
        if error is not None:
            self._storage_down(conn, error)
        self._acknowledge(conn, reports, Outcome.FAILED if error is not None else Outcome.STORED)
        if conn.buffer:
            self._process(conn)

    def _spawn(self, conn: Connection, items: Sequence[bytes | BadFrame | Message]) -> None:
        """Handle the rest of a read in a task (logins, refusals, dead letters, back-pressure)."""
        conn.busy = True
        task = asyncio.create_task(self._slow(conn, items), name=f"{self.codec.name}-connection")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _slow(self, conn: Connection, items: Sequence[bytes | BadFrame | Message]) -> None:
        try:
            await self._handle(conn, items)
            await conn.drain()
            if len(conn.buffer) > self.max_buffer_bytes:
                # A terminal that never ends a frame (or a stream that never frames) is cut off, so
                # that one connection cannot hold more than this (GT06 long frames stay under 64 KiB).
                await self._refuse(
                    conn, bytes(conn.buffer), f"no frame ends within {self.max_buffer_bytes} bytes"
                )
                log.warning("tracker_buffer_overflow", protocol=self.codec.name, terminal=conn.terminal)
                raise Closing
        except (Closing, ConnectionError):
            conn.close()
            return
        except asyncio.CancelledError:
            conn.close()
            raise
        except Exception:
            log.exception(
                "tracker_connection_failed", protocol=self.codec.name, peer=conn.peer, terminal=conn.terminal
            )
            conn.close()
            return
        finally:
            conn.busy = False
        if conn.buffer:
            self._process(conn)

    async def _handle(self, conn: Connection, items: Sequence[bytes | BadFrame | Message]) -> None:
        """Decode and answer frames in order; recording messages are stored together."""
        now = self._now()
        for item in items:
            decoded = self.codec.decode(item, conn.session) if isinstance(item, bytes) else item
            if isinstance(decoded, BadFrame):
                await self._flush(conn)
                self._count("bad")
                await self._refuse(conn, decoded.raw, f"bad {self.codec.name} frame: {decoded.reason}")
                conn.bad_frames += 1
                if conn.session.device_id is None and conn.bad_frames >= MAX_BAD_FRAMES_BEFORE_LOGIN:
                    log.warning("tracker_bad_frames_closed", protocol=self.codec.name, peer=conn.peer)
                    raise Closing
                continue
            if decoded.type in RECORDING and self._is_authenticated(conn, decoded):
                self._gather(conn, decoded, now)
                continue
            await self._flush(conn)
            await self._answer(conn, decoded)
        await self._flush(conn)

    def _is_authenticated(self, conn: Connection, message: Message) -> bool:
        """Logged in, and the frame names the terminal that did (JT/T 808 repeats it in each header)."""
        return conn.session.device_id is not None and message.terminal in (None, conn.terminal)

    def _gather(self, conn: Connection, message: Message, now: datetime) -> None:
        assert conn.terminal is not None
        events, conn.last = events_of(
            message, protocol=self.codec.name, terminal=conn.terminal, last=conn.last, now=now
        )
        conn.pending.append(message)
        conn.pending_events.extend(events.placed)
        conn.unplaced.extend(events.unplaced)

    async def _answer(self, conn: Connection, message: Message) -> None:
        """Everything but an authenticated terminal's reports: logins, refusals, fragments, unknowns."""
        kind = message.type
        if kind in AUTHENTICATING:
            outcome = await self._logins.handle(message, conn.session)
            if outcome is Outcome.STORED and conn.session.device_id is not None:
                conn.terminal = conn.session.terminal
            self._write(conn, message, outcome)
            self._count(f"{kind.value}_{outcome.value}")
            if outcome is Outcome.REFUSED and kind is not MessageType.AUTHENTICATE:
                raise Closing  # an unknown terminal gets no session to send anything on
            return
        if kind is MessageType.UNKNOWN:
            self._count("unknown")
            protocol_id = message.protocol_id if message.protocol_id is not None else -1
            await self._refuse(conn, message.raw, f"unknown {self.codec.name} message type 0x{protocol_id:x}")
            self._write(conn, message, Outcome.REFUSED)
            return
        if conn.session.device_id is None or not self._is_authenticated(conn, message):
            # A report (or a piece of one) before login: kept, refused, the connection kept.
            self._count("unauthenticated")
            await self._refuse(
                conn, message.raw, f"{kind.value} from a terminal not logged in or authenticated"
            )
            self._write(conn, message, Outcome.REFUSED)
            return
        # FRAGMENT, TERMINAL_RESPONSE, LOGOUT: nothing to store, answered as the codec says.
        self._count(kind.value)
        if kind is MessageType.LOGOUT:  # the reports before it are stored (`_handle` flushed)
            await self._logins.logout(conn.session)  # before the answer: no window for the old code
        self._write(conn, message, Outcome.STORED)

    def _take_pending(
        self, conn: Connection
    ) -> tuple[list[Message | bytes], DecodedPart | None, DecodedPart | None]:
        """The gathered reports, as the parts to store and to keep as dead letters."""
        reports, events, unplaced = conn.pending, conn.pending_events, conn.unplaced
        conn.pending, conn.pending_events, conn.unplaced = [], [], []
        placed = self._part(conn, events) if events else None
        refused = self._part(conn, unplaced) if unplaced else None
        return reports, placed, refused

    async def _flush(self, conn: Connection) -> None:
        """Submit the gathered reports as one part; acknowledge them only once it returned."""
        if not conn.pending:
            return
        reports, placed, refused = self._take_pending(conn)
        outcome = Outcome.STORED
        try:
            if self._batcher is not None:
                await self._batcher.submit(placed, refused)
            else:
                if placed is not None:
                    await self._intake.submit_parts([placed])
                if refused is not None:
                    await self._intake.refuse_parts([refused], UNPLACED_REASON)
        except StorageUnavailable as exc:
            outcome = Outcome.FAILED
            self._storage_down(conn, exc)
        self._acknowledge(conn, reports, outcome)

    def _storage_down(self, conn: Connection, error: BaseException) -> None:
        # Nothing acknowledged: the terminal resends, and what was stored meanwhile is a duplicate.
        if isinstance(error, BatcherClosed):
            return  # stopping: the batcher logged it once for every connection
        log.warning(
            "tracker_storage_unavailable", protocol=self.codec.name, terminal=conn.terminal, error=str(error)
        )

    def _acknowledge(self, conn: Connection, reports: list[Message | bytes], outcome: Outcome) -> None:
        self._count(f"report_{outcome.value}", len(reports))
        # The read's acks in one write, in the order of its frames: one send, not one per report.
        # A plain report's ack is sent only once it is stored (storage down: the terminal resends).
        replies: list[bytes] = []
        for report in reports:
            if not isinstance(report, bytes):
                replies += self.codec.replies(report, conn.session, outcome)
            elif outcome is Outcome.STORED:
                replies.append(report)
        if replies:
            conn.write(b"".join(replies))

    def _part(self, conn: Connection, events: list[WireEvent]) -> DecodedPart:
        return DecodedPart(events=events, device_id=conn.session.device_id, source=self.codec.name)

    async def _refuse(self, conn: Connection, raw: bytes, reason: str) -> None:
        """Keep bytes as a dead letter with the reason (if storage is down they are only logged).

        A dead letter's raw text is UTF-8, which a binary frame is not: it is kept as hex.
        """
        part: Submission = Part(
            body=raw.hex().encode(), device_id=conn.session.device_id, source=self.codec.name
        )
        try:
            await self._intake.refuse_parts([part], reason)
        except StorageUnavailable:
            log.warning(
                "tracker_dead_letter_lost", protocol=self.codec.name, terminal=conn.terminal, reason=reason
            )

    def _write(self, conn: Connection, message: Message, outcome: Outcome) -> None:
        for frame in self.codec.replies(message, conn.session, outcome):
            conn.write(frame)


__all__ = ["CONNECTIONS", "FRAMES", "TrackerServer"]
