"""Simulated terminals on real TCP: connect, log in, report, and time each report to its ack.

`Gt06Terminal` (a wearable locator) and `Jt808Terminal` (a vehicle terminal, 2013 edition) speak
the binary protocols to the platform's tracker servers as real devices do: one request and its
answer at a time (`report`, `alarm`, `heartbeat`), several reports in one write (`report_many`),
or reports on a schedule whatever the answers (`paced`: the next report does not wait for the
last ack, so a slow server shows as latency rather than as fewer reports). Each returns the
seconds from the write to the answer: the report-to-ack latency the `protocols` benchmark
measures. A terminal the server refuses raises `Refused`; no answer within `timeout_s`, or a
closed connection, raises `NoAck`. Used by bench/protocols.py, and meant for the demo's
wanderers (GT06) and tankers (JT/T 808).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from safecity.ingest.adapters.tcp import gt06_frame
from safecity.ingest.adapters.tcp.jt808_frame import Frame, split_frames
from safecity.sim.terminals import gt06, jt808
from safecity.sim.terminals.reading import Reading

Key = tuple[int, int]  # what an ack names: GT06 (protocol, serial), JT/T 808 (serial, message id)


class NoAck(ConnectionError):
    """The server did not answer in time, or closed the connection first."""


class Refused(ConnectionError):
    """The server answered with a refusal (unknown terminal, wrong code, a failed report)."""


class _Link(asyncio.Protocol):
    """asyncio's callbacks for a terminal's connection: bytes into its buffer, waiters woken.

    A protocol rather than a stream: a stream wakes a task per read, which cost the simulated
    terminals more CPU a report than the servers spend on it (their share of the benchmark's
    machine). While a terminal's acks are collected (`on_data`), they are read in the callback.
    """

    def __init__(self, terminal: _Terminal) -> None:
        self.terminal = terminal
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.waiter: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.terminal.buffer += data
        if self.terminal.on_data is not None:
            self.terminal.on_data()
        self._wake()

    def eof_received(self) -> bool | None:
        self.lost = True
        if self.terminal.on_data is not None:
            self.terminal.on_data()
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.terminal.on_data is not None:
            self.terminal.on_data()
        self._wake()
        if not self.closed.done():
            self.closed.set_result(None)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class _Terminal:
    """One TCP connection: serial numbers, the bytes received, and waiting for acks by key."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.serial = 0
        self._link: _Link | None = None
        self.buffer = bytearray()  # received, not yet framed
        self.on_data: Callable[[], None] | None = None  # called on every receipt (collecting acks)
        # One exchange at a time: a second caller waits, rather than both reading the socket.
        self.lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        """Whether `connect` was called and `close` not since."""
        return self._link is not None

    def next_serial(self) -> int:
        """The serial number of the next message (1, 2, ..., wrapping at 16 bits)."""
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    async def connect(self) -> None:
        """Open the connection (no protocol message yet)."""
        loop = asyncio.get_running_loop()
        _, self._link = await loop.create_connection(lambda: _Link(self), self.host, self.port)

    async def close(self) -> None:
        """Close the connection."""
        if self._link is not None:
            link, self._link = self._link, None
            if link.transport is not None:
                link.transport.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await link.closed

    def _send(self, data: bytes) -> None:
        link = self._link
        if link is None or link.transport is None:
            raise NoAck("not connected")
        if link.lost:
            raise NoAck("the server closed the connection")
        link.transport.write(data)

    async def write(self, data: bytes) -> float:
        """Send; return the time of sending (perf_counter)."""
        sent = time.perf_counter()
        self._send(data)
        return sent

    async def read_more(self) -> None:
        """Wait for more bytes from the server."""
        link = self._link
        if link is None:
            raise NoAck("not connected")
        if link.lost:
            raise NoAck("the server closed the connection")
        size = len(self.buffer)
        link.waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self.timeout_s):
                await link.waiter
        except TimeoutError:
            raise NoAck(f"no answer within {self.timeout_s} s") from None
        finally:
            link.waiter = None
        if len(self.buffer) == size and link.lost:
            raise NoAck("the server closed the connection")

    def _acks(self) -> Iterator[tuple[Key, bool]]:
        """The acks framed in the buffer (cut off it): their key, and whether they say OK."""
        raise NotImplementedError

    def _report(self, reading: Reading) -> tuple[bytes, Key]:
        """A location report's frame (with the next serial) and the key of its ack."""
        raise NotImplementedError

    async def _exchange(self, frames: list[bytes], expected: list[Key]) -> float:
        """Write the frames at once; wait for an ack of each key; `Refused` on a refusal. The acks
        are read as they arrive, in the connection's callback (no task woken per read)."""
        async with self.lock:
            waiting = set(expected)
            done = asyncio.get_running_loop().create_future()

            def take() -> None:
                for key, ok in self._acks():
                    if key in waiting:
                        waiting.discard(key)
                        if not ok and not done.done():
                            done.set_exception(Refused(f"{key} answered with a refusal"))
                if done.done():
                    return
                if not waiting:
                    done.set_result(None)
                elif self._link is None or self._link.lost:
                    done.set_exception(NoAck("the server closed the connection"))

            sent = await self.write(b"".join(frames))
            self.on_data = take
            try:
                take()
                await asyncio.wait_for(done, self.timeout_s)
            except TimeoutError:
                raise NoAck(f"no answer within {self.timeout_s} s") from None
            finally:
                self.on_data = None
            return time.perf_counter() - sent

    async def report(self, reading: Reading) -> float:
        """One location report and its ack."""
        return await self.report_many([reading])

    async def report_many(self, readings: Iterable[Reading]) -> float:
        """Several location reports in one write; the time until the last of their acks."""
        frames, expected = zip(*(self._report(r) for r in readings), strict=True)
        return await self._exchange(list(frames), list(expected))

    async def paced(self, at: list[float], reading: Callable[[], Reading]) -> list[float]:
        """A report at each of the times `at` (perf_counter), not waiting for acks in between;
        the latency of each, in the order sent. Reports unacknowledged `timeout_s` after the
        last one was sent raise `NoAck`."""
        [result] = await pace([(self, at)], reading)
        if isinstance(result, BaseException):
            raise result
        return result

    def send_report(self, reading: Reading, sent: dict[Key, float], order: list[Key]) -> None:
        """Write one report now without waiting (its key and time of sending recorded)."""
        frame, key = self._report(reading)
        order.append(key)
        sent[key] = time.perf_counter()
        self._send(frame)

    async def collect_acks(self, sent: dict[Key, float], expected: int) -> dict[Key, float]:
        """Wait until `expected` of the reports in `sent` (filled as they go out) are acked; the
        acks are read as they arrive, in the connection's callback, not by a task per read."""
        latencies: dict[Key, float] = {}
        done = asyncio.get_running_loop().create_future()

        def take() -> None:
            for key, _ in self._acks():
                if key in sent and key not in latencies:
                    latencies[key] = time.perf_counter() - sent[key]
            if done.done():
                return
            if len(latencies) >= expected:
                done.set_result(None)
            elif self._link is None or self._link.lost:
                done.set_exception(NoAck("the server closed the connection"))

        self.on_data = take
        try:
            take()
            while not done.done():
                size = len(latencies)
                await asyncio.wait([done], timeout=self.timeout_s)
                if not done.done() and len(latencies) == size:
                    raise NoAck(f"no answer within {self.timeout_s} s")
            done.result()
            return latencies
        finally:
            self.on_data = None


async def pace(
    schedules: Sequence[tuple[_Terminal, list[float]]], reading: Callable[[], Reading]
) -> list[list[float] | BaseException]:
    """Reports on many terminals' schedules (perf_counter times), sent whatever the acks, from one
    timer loop: a sleeping task per terminal cost the simulated terminals more CPU a report than
    the server spends on it. Returns each terminal's latencies in the order its reports were
    sent, or what went wrong with it (`NoAck`, a closed connection)."""
    due = sorted((when, n) for n, (_, times) in enumerate(schedules) for when in times)
    sent: list[dict[Key, float]] = [{} for _ in schedules]
    order: list[list[Key]] = [[] for _ in schedules]
    async with contextlib.AsyncExitStack() as held:
        for terminal, _ in schedules:
            await held.enter_async_context(terminal.lock)  # one exchange at a time per terminal
        readers = [
            asyncio.create_task(terminal.collect_acks(sent[n], len(times)))
            for n, (terminal, times) in enumerate(schedules)
        ]
        failed: dict[int, BaseException] = {}
        try:
            for when, n in due:
                if n in failed:
                    continue
                delay = when - time.perf_counter()
                if delay > 0.0005:  # reports due within half a millisecond go out together
                    await asyncio.sleep(delay)
                try:
                    schedules[n][0].send_report(reading(), sent[n], order[n])
                except ConnectionError as exc:
                    failed[n] = exc
                    readers[n].cancel()
            results = await asyncio.gather(*readers, return_exceptions=True)
        finally:
            for reader in readers:
                reader.cancel()
    out: list[list[float] | BaseException] = []
    for n, result in enumerate(results):
        if n in failed:
            out.append(failed[n])
        elif isinstance(result, BaseException):
            out.append(result)
        else:
            out.append([result[k] for k in order[n]])
    return out


class Gt06Terminal(_Terminal):
    """A GT06 locator: `login`, then `report`, `alarm`, `heartbeat` (each returns ack latency, s)."""

    def __init__(
        self,
        imei: str,
        host: str,
        port: int,
        *,
        utc_offset_minutes: int = 0,
        protocol: int = gt06.LOCATION,
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(host, port, timeout_s)
        self.imei = imei
        self.utc_offset_minutes = utc_offset_minutes
        self.protocol = protocol  # of its location reports: 0x12 or 0x22

    async def login(self) -> float:
        """Connect if need be and log in by IMEI; `Refused` if the server closes instead of acking."""
        if not self.connected:
            await self.connect()
        serial = self.next_serial()
        try:
            return await self._exchange([gt06.login(self.imei, serial)], [(gt06.LOGIN, serial)])
        except NoAck as exc:
            raise Refused(f"GT06 login of {self.imei} not acknowledged: {exc}") from exc

    async def alarm(self, reading: Reading, name: str, *, protocol: int = gt06.ALARM) -> float:
        """An alarm (`sos`, `low_battery`, `fall`, ... : gt06.ALARM_BYTES) at a fix, and its ack."""
        serial = self.next_serial()
        offset = self.utc_offset_minutes
        frame = gt06.alarm(reading, name, serial, protocol=protocol, utc_offset_minutes=offset)
        return await self._exchange([frame], [(protocol, serial)])

    async def heartbeat(self, *, battery_level: int = 6, signal: int = 4) -> float:
        """A status report 0x13 (battery level 0-6, GSM signal 0-4) and its ack."""
        serial = self.next_serial()
        frame = gt06.heartbeat(serial, battery_level=battery_level, signal=signal)
        return await self._exchange([frame], [(gt06.STATUS, serial)])

    def _report(self, reading: Reading) -> tuple[bytes, Key]:
        serial = self.next_serial()
        frame = gt06.location(
            reading, serial, protocol=self.protocol, utc_offset_minutes=self.utc_offset_minutes
        )
        return frame, (self.protocol, serial)

    def _acks(self) -> Iterator[tuple[Key, bool]]:
        # GT06 refuses with silence: every ack is an OK.
        for item in gt06_frame.split(self.buffer):
            if isinstance(item, bytes) and (ack := gt06.ack_of(item)) is not None:
                yield ack, True


class Jt808Terminal(_Terminal):
    """A JT/T 808 terminal: `login` (register if it has no code, then authenticate), `report`,
    `report_batch`, `alarm`, `heartbeat`; each returns the ack latency in seconds."""

    def __init__(
        self, phone: str, host: str, port: int, *, auth_code: str | None = None, timeout_s: float = 10.0
    ) -> None:
        if not (phone.isdigit() and len(phone) == 12):
            raise ValueError(f"a 2013-edition terminal phone number is 12 digits, not {phone!r}")
        super().__init__(host, port, timeout_s)
        self.phone = phone
        self.auth_code = auth_code

    async def register(self, vehicle: jt808.Vehicle | None = None) -> str:
        """0x0100 answered by 0x8100: the authentication code (kept for later connections)."""
        serial = self.next_serial()
        async with self.lock:
            await self.write(jt808.register(self.phone, serial, vehicle))
            answer = await self._next(lambda f: f.header.msg_id == jt808.REGISTER_RESPONSE)
        result = answer.body[2] if len(answer.body) > 2 else -1
        if result != 0:
            raise Refused(f"registration of {self.phone} refused with result {result}")
        self.auth_code = answer.body[3:].decode("gbk")
        return self.auth_code

    async def login(self) -> float:
        """Connect if need be, register if no code is held, then authenticate (0x0102)."""
        if not self.connected:
            await self.connect()
        if self.auth_code is None:
            await self.register()
        assert self.auth_code is not None
        serial = self.next_serial()
        frame = jt808.authenticate(self.phone, serial, self.auth_code)
        return await self._exchange([frame], [(serial, jt808.AUTHENTICATE)])

    async def alarm(self, reading: Reading, name: str) -> float:
        """A report raising one alarm (`sos`, `overspeed`, `low_battery`, ...: jt808.ALARM_FLAGS)."""
        return await self.report_alarms(reading, (name,))

    async def report_alarms(self, reading: Reading, alarms: tuple[str, ...]) -> float:
        """One 0x0200 with the named alarms raised, and its 0x8001."""
        serial = self.next_serial()
        frame = jt808.location(self.phone, serial, reading, alarms=alarms)
        return await self._exchange([frame], [(serial, jt808.LOCATION)])

    async def report_batch(self, readings: list[Reading], *, blind_area: bool = False) -> float:
        """One 0x0704 carrying every reading, and its 0x8001."""
        serial = self.next_serial()
        bodies = [jt808.location_body(r) for r in readings]
        frame = jt808.batch(self.phone, serial, bodies, blind_area=blind_area)
        return await self._exchange([frame], [(serial, jt808.BATCH_LOCATION)])

    async def heartbeat(self) -> float:
        """0x0002 and its 0x8001."""
        serial = self.next_serial()
        return await self._exchange([jt808.heartbeat(self.phone, serial)], [(serial, jt808.HEARTBEAT)])

    def _report(self, reading: Reading) -> tuple[bytes, Key]:
        serial = self.next_serial()
        return jt808.location(self.phone, serial, reading), (serial, jt808.LOCATION)

    def _frames(self) -> Iterator[Frame]:
        parsed: dict[bytes, Frame] = {}  # split checks each frame already: not parsed twice
        for item in split_frames(self.buffer, parsed):
            if isinstance(item, bytes):
                yield parsed[item]

    def _acks(self) -> Iterator[tuple[Key, bool]]:
        for frame in self._frames():
            if frame.header.msg_id == jt808.PLATFORM_RESPONSE and len(frame.body) == 5:
                body = frame.body
                yield (int.from_bytes(body[0:2], "big"), int.from_bytes(body[2:4], "big")), body[4] == 0

    async def _next(self, wanted: Callable[[Frame], bool]) -> Frame:
        """The next checked frame from the server that `wanted(frame)` accepts."""
        while True:
            for frame in self._frames():
                if wanted(frame):
                    return frame
            await self.read_more()


__all__ = ["Gt06Terminal", "Jt808Terminal", "NoAck", "Refused", "pace"]
