"""The TCP device server: one asyncio listener per tracker protocol, frames in, records to the pipeline.

A `TrackerServer` drives one codec (`protocol.DeviceProtocol`: GT06, JT/T 808) and is a
`core.worker.Worker` (started by `ingest/capability.py` when its protocol is enabled). Each
connection is one read loop, the only task it costs, with a `Session`, a byte buffer capped at
`max_buffer_bytes` and an idle timeout; per read it

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
from collections.abc import Callable
from datetime import datetime

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from safecity.core.record import WireEvent
from safecity.ingest.adapters.base import Intake
from safecity.ingest.adapters.tcp.batch import UNPLACED_REASON, ReportBatcher
from safecity.ingest.adapters.tcp.login import TerminalLogins
from safecity.ingest.adapters.tcp.protocol import (
    BadFrame,
    DeviceProtocol,
    Message,
    MessageType,
    Outcome,
    Session,
)
from safecity.ingest.adapters.tcp.records import RECORDING, Position, events_of
from safecity.ingest.pipeline import DecodedPart, Part, StorageUnavailable, Submission

log = structlog.get_logger(__name__)

FRAMES = Counter("safecity_tracker_frames", "Tracker frames by protocol and outcome", ["protocol", "outcome"])
CONNECTIONS = Gauge("safecity_tracker_connections", "Open tracker connections", ["protocol"])

READ_BYTES = 4096  # one read: a few dozen location frames; small, so idle connections stay cheap
# A connection that has not logged in and sends this many bad frames is closed: a port scanner or
# a terminal of another protocol, whose every read would otherwise be a dead letter.
MAX_BAD_FRAMES_BEFORE_LOGIN = 8
AUTHENTICATING = frozenset({MessageType.LOGIN, MessageType.REGISTER, MessageType.AUTHENTICATE})


class Closing(Exception):
    """The connection is to be closed once its replies are written (a refused terminal)."""


class Connection:
    """One terminal's connection: its session, buffer and the messages waiting for storage."""

    __slots__ = (
        "bad_frames",
        "buffer",
        "last",
        "peer",
        "pending",
        "pending_events",
        "session",
        "terminal",
        "unplaced",
    )

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.session = Session()
        self.buffer = bytearray()
        self.terminal: str | None = None  # the authenticated terminal id
        self.last: Position | None = None  # the last fix: where heartbeats are placed
        self.pending: list[Message] = []  # recording messages of this read, not yet submitted
        self.pending_events: list[WireEvent] = []  # their events
        self.unplaced: list[WireEvent] = []  # events at (0, 0), for dead letters
        self.bad_frames = 0


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
        self._writers: set[asyncio.StreamWriter] = set()
        # Reports of many connections share a pipeline call; 0 submits each read on its own.
        self._batcher = (
            ReportBatcher(
                intake, protocol=codec.name, max_events=batch_max_events, linger_s=batch_linger_ms / 1000
            )
            if batch_max_events > 0
            else None
        )

    async def start(self) -> None:
        """Listen; return once bound (the port in use is `self.port`)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("tracker_server_started", protocol=self.codec.name, host=self.host, port=self.port)

    async def stop(self) -> None:
        """Stop listening and close every connection (unacknowledged reports are resent by terminals)."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._batcher is not None:
            await self._batcher.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 5.0)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The read loop of one connection; whatever goes wrong closes this connection only."""
        peer = str(writer.get_extra_info("peername"))
        conn = Connection(peer)
        self._writers.add(writer)
        CONNECTIONS.labels(self.codec.name).inc()
        try:
            await self._read_loop(conn, reader, writer)
        except (Closing, ConnectionError):
            pass
        except Exception:
            log.exception(
                "tracker_connection_failed", protocol=self.codec.name, peer=peer, terminal=conn.terminal
            )
        finally:
            CONNECTIONS.labels(self.codec.name).dec()
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_loop(
        self, conn: Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout_s):
                    chunk = await reader.read(READ_BYTES)
            except TimeoutError:
                log.info("tracker_idle_closed", protocol=self.codec.name, terminal=conn.terminal)
                return
            if not chunk:
                return
            conn.buffer += chunk
            items = self.codec.split(conn.buffer, conn.session)
            try:
                await self._handle(conn, items, writer)
            finally:
                await writer.drain()
            if len(conn.buffer) > self.max_buffer_bytes:
                # A terminal that never ends a frame (or a stream that never frames) is cut off, so
                # that one connection cannot hold more than this (GT06 long frames stay under 64 KiB).
                await self._refuse(
                    conn, bytes(conn.buffer), f"no frame ends within {self.max_buffer_bytes} bytes"
                )
                log.warning("tracker_buffer_overflow", protocol=self.codec.name, terminal=conn.terminal)
                return

    async def _handle(
        self, conn: Connection, items: list[bytes | BadFrame], writer: asyncio.StreamWriter
    ) -> None:
        """Decode and answer one read's frames, in order; recording messages are stored together."""
        for item in items:
            decoded = item if isinstance(item, BadFrame) else self.codec.decode(item, conn.session)
            if isinstance(decoded, BadFrame):
                await self._flush(conn, writer)
                FRAMES.labels(self.codec.name, "bad").inc()
                await self._refuse(conn, decoded.raw, f"bad {self.codec.name} frame: {decoded.reason}")
                conn.bad_frames += 1
                if conn.session.device_id is None and conn.bad_frames >= MAX_BAD_FRAMES_BEFORE_LOGIN:
                    log.warning("tracker_bad_frames_closed", protocol=self.codec.name, peer=conn.peer)
                    raise Closing
                continue
            if decoded.type in RECORDING and self._is_authenticated(conn, decoded):
                self._gather(conn, decoded)
                continue
            await self._flush(conn, writer)
            await self._answer(conn, decoded, writer)
        await self._flush(conn, writer)

    def _is_authenticated(self, conn: Connection, message: Message) -> bool:
        """Logged in, and the frame names the terminal that did (JT/T 808 repeats it in each header)."""
        return conn.session.device_id is not None and message.terminal in (None, conn.terminal)

    def _gather(self, conn: Connection, message: Message) -> None:
        assert conn.terminal is not None
        events, conn.last = events_of(
            message, protocol=self.codec.name, terminal=conn.terminal, last=conn.last, now=self._now()
        )
        conn.pending.append(message)
        conn.pending_events.extend(events.placed)
        conn.unplaced.extend(events.unplaced)

    async def _answer(self, conn: Connection, message: Message, writer: asyncio.StreamWriter) -> None:
        """Everything but an authenticated terminal's reports: logins, refusals, fragments, unknowns."""
        kind = message.type
        if kind in AUTHENTICATING:
            outcome = await self._logins.handle(message, conn.session)
            if outcome is Outcome.STORED and conn.session.device_id is not None:
                conn.terminal = conn.session.terminal
            self._write(writer, message, conn.session, outcome)
            FRAMES.labels(self.codec.name, f"{kind.value}_{outcome.value}").inc()
            if outcome is Outcome.REFUSED and kind is not MessageType.AUTHENTICATE:
                raise Closing  # an unknown terminal gets no session to send anything on
            return
        if kind is MessageType.UNKNOWN:
            FRAMES.labels(self.codec.name, "unknown").inc()
            protocol_id = message.protocol_id if message.protocol_id is not None else -1
            await self._refuse(conn, message.raw, f"unknown {self.codec.name} message type 0x{protocol_id:x}")
            self._write(writer, message, conn.session, Outcome.REFUSED)
            return
        if conn.session.device_id is None or not self._is_authenticated(conn, message):
            # A report (or a piece of one) before login: kept, refused, the connection kept.
            FRAMES.labels(self.codec.name, "unauthenticated").inc()
            await self._refuse(
                conn, message.raw, f"{kind.value} from a terminal not logged in or authenticated"
            )
            self._write(writer, message, conn.session, Outcome.REFUSED)
            return
        # FRAGMENT, TERMINAL_RESPONSE, LOGOUT: nothing to store, answered as the codec says.
        FRAMES.labels(self.codec.name, kind.value).inc()
        self._write(writer, message, conn.session, Outcome.STORED)

    async def _flush(self, conn: Connection, writer: asyncio.StreamWriter) -> None:
        """Submit the gathered reports as one part; acknowledge them only once it returned."""
        if not conn.pending:
            return
        messages, events, unplaced = conn.pending, conn.pending_events, conn.unplaced
        conn.pending, conn.pending_events, conn.unplaced = [], [], []
        outcome = Outcome.STORED
        placed = self._part(conn, events) if events else None
        refused = self._part(conn, unplaced) if unplaced else None
        try:
            if self._batcher is not None:
                await self._batcher.submit(placed, refused)
            else:
                if placed is not None:
                    await self._intake.submit_parts([placed])
                if refused is not None:
                    await self._intake.refuse_parts([refused], UNPLACED_REASON)
        except StorageUnavailable as exc:
            # Nothing acknowledged: the terminal resends, and what was stored meanwhile is a duplicate.
            outcome = Outcome.FAILED
            log.warning(
                "tracker_storage_unavailable",
                protocol=self.codec.name,
                terminal=conn.terminal,
                error=str(exc),
            )
        FRAMES.labels(self.codec.name, f"report_{outcome.value}").inc(len(messages))
        # The read's acks in one write: one send, not one per report.
        replies = [f for m in messages for f in self.codec.replies(m, conn.session, outcome)]
        if replies:
            writer.write(b"".join(replies))

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

    def _write(
        self, writer: asyncio.StreamWriter, message: Message, session: Session, outcome: Outcome
    ) -> None:
        for frame in self.codec.replies(message, session, outcome):
            writer.write(frame)


__all__ = ["CONNECTIONS", "FRAMES", "TrackerServer"]
