"""The simulated wanderers' and tankers' terminals live over TCP: each an asyncio client speaking GT06
or JT/T 808 (sim.terminals) to the platform's device servers, sending its reports at their
simulated times, reconnecting whenever the server goes away.

`run_terminals` runs one coroutine per terminal over its own reports (`Emission`s, in time
order): it waits until the report is due (`wait_until`, the demo's accelerated clock or a test's
faster one), sends it, and waits for the acknowledgement. A refused login (the terminal not bound
yet), a closed connection or a missing acknowledgement (a server restarted, bad input that made it
drop the connection) closes the connection, waits a little (doubling up to `MAX_RETRY_S`) and
logs in again; the report is sent again (the server stores a resent report once, by its event id,
where the serial number is the same, and the rules are indifferent to a repeated fix).
`run_actions` performs the shipments' departures and deliveries at their times likewise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import structlog

from safecity.sim.tankers import Action
from safecity.sim.terminals import Gt06Terminal, Jt808Terminal, NoAck, Reading, Refused
from safecity.sim.terminals import gt06 as gt06_frames
from safecity.sim.tracked import ALARM, STATUS, Emission

log = structlog.get_logger(__name__)

WaitUntil = Callable[[datetime], Awaitable[bool]]  # sleep until a simulated time; False: stopped
RETRY_S, MAX_RETRY_S = 0.5, 5.0
GT06_IMEI_DIGITS = 15


@dataclass(slots=True)
class NetStats:
    """What the terminals did: reports acknowledged, reconnections, reports given up at the stop."""

    acked: int = 0
    reconnects: int = 0
    pending: int = 0


class Wearable(Gt06Terminal):
    """A GT06 locator whose alarms carry its battery level (a dying battery's alarm says so)."""

    async def alarm_with_battery(self, reading: Reading, name: str, battery_level: int) -> float:
        """An alarm 0x16 at a fix with the terminal's battery level, and its ack."""
        serial = self.next_serial()
        frame = gt06_frames.alarm(
            reading, name, serial, utc_offset_minutes=self.utc_offset_minutes, battery_level=battery_level
        )
        return await self._exchange([frame], [(gt06_frames.ALARM, serial)])


def pace(now: Callable[[], datetime], speedup: float, stop: asyncio.Event) -> WaitUntil:
    """Wait until a simulated time on an accelerated clock (`speedup` simulated s per real s)."""

    async def wait_until(ts: datetime) -> bool:
        while not stop.is_set():
            ahead = (ts - now()).total_seconds() / speedup
            if ahead <= 0:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(ahead, 5.0))
        return False

    return wait_until


async def _send(terminal: Gt06Terminal | Jt808Terminal, e: Emission, battery: int) -> None:
    if isinstance(terminal, Wearable):
        if e.kind == STATUS:
            await terminal.heartbeat(battery_level=e.battery_level)
        elif e.kind == ALARM and e.alarm:
            await terminal.alarm_with_battery(e.reading, e.alarm, battery)
        else:
            await terminal.report(e.reading)
    elif isinstance(terminal, Jt808Terminal):
        if e.kind == STATUS:
            await terminal.heartbeat()
        elif e.alarms or (e.kind == ALARM and e.alarm):
            await terminal.report_alarms(e.reading, e.alarms or (e.alarm or "other",))
        else:
            await terminal.report(e.reading)


async def run_terminal(
    terminal: Gt06Terminal | Jt808Terminal,
    reports: Iterable[Emission],
    wait_until: WaitUntil,
    stop: asyncio.Event,
    stats: NetStats,
) -> None:
    """One terminal over its reports: log in, send each when due, reconnect on any failure."""
    battery, retry = 6, RETRY_S
    try:
        for e in reports:
            if not await wait_until(e.ts):
                return
            if e.kind == STATUS:
                battery = e.battery_level
            while not stop.is_set():
                try:
                    if not terminal.connected:
                        await terminal.login()
                    await _send(terminal, e, battery)
                    stats.acked += 1
                    retry = RETRY_S
                    break
                except (NoAck, Refused, OSError) as exc:  # ConnectionError is an OSError
                    stats.reconnects += 1
                    log.debug("sim.terminal_reconnect", terminal=e.terminal, error=str(exc))
                    await terminal.close()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=retry)
                    retry = min(retry * 2, MAX_RETRY_S)
            else:
                return
    finally:
        await terminal.close()


def terminal_for(
    terminal_id: str,
    host: str,
    gt06_port: int,
    jt808_port: int,
    *,
    utc_offset_minutes: int,
    timeout_s: float = 10.0,
) -> Gt06Terminal | Jt808Terminal:
    """A GT06 client for a 15-digit IMEI, a JT/T 808 one for a 12-digit phone number."""
    if len(terminal_id) == GT06_IMEI_DIGITS:
        return Wearable(
            terminal_id, host, gt06_port, utc_offset_minutes=utc_offset_minutes, timeout_s=timeout_s
        )
    return Jt808Terminal(terminal_id, host, jt808_port, timeout_s=timeout_s)


async def run_terminals(
    emissions: Iterable[Emission],
    *,
    host: str,
    gt06_port: int,
    jt808_port: int,
    wait_until: WaitUntil,
    stop: asyncio.Event,
    utc_offset_minutes: int = 0,
    stats: NetStats | None = None,
) -> NetStats:
    """Every terminal of these reports at once, until their reports are sent or `stop` is set."""
    stats = stats or NetStats()
    by_terminal: dict[str, list[Emission]] = {}
    for e in emissions:
        by_terminal.setdefault(e.terminal, []).append(e)
    tasks = [
        asyncio.create_task(
            run_terminal(
                terminal_for(t, host, gt06_port, jt808_port, utc_offset_minutes=utc_offset_minutes),
                reports,
                wait_until,
                stop,
                stats,
            ),
            name=f"sim-terminal-{t}",
        )
        for t, reports in by_terminal.items()
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return stats


async def run_actions(
    actions: Iterable[Action], perform: Callable[[Action], None], wait_until: WaitUntil
) -> None:
    """Each shipment action at its time (performed in a worker thread: use cases are blocking)."""
    for action in actions:
        if not await wait_until(action.at):
            return
        try:
            await asyncio.to_thread(perform, action)
        except Exception:  # one failed use case must not stop the other shipments
            log.exception("sim.shipment_action_failed", n=action.n, action=action.what)


__all__ = [
    "NetStats",
    "Wearable",
    "WaitUntil",
    "pace",
    "run_actions",
    "run_terminal",
    "run_terminals",
    "terminal_for",
]
