"""Benchmark `protocols`: GT06 and JT/T 808 location reports over real TCP, through the whole pipeline.

The platform runs on its embedded defaults in a temporary folder (SQLite registry, local Parquet
lake, in-process bus) with a GT06 and a JT/T 808 server in this process. The terminals are the
simulator's (`sim.terminals`), half of them GT06 locators and half JT/T 808 vehicle terminals,
5,000 connections (BENCH_SIZE=small: 500), in two client processes of their own, so that load
generation does not share the server's event loop. Every connection logs in (GT06 by IMEI, JT/T
808 by authentication with a code issued beforehand) and then:

* `kib_per_connection`: the server process's resident memory (VmRSS) with every connection
  logged in and idle, less before they connected, per connection;
* `reports_per_s`: each connection sends its reports ten to a write and waits for their acks,
  as fast as the acks come, for a while; acked reports per second (an ack means stored in the
  lake). Target 50,000. Baseline: the same with cross-connection batching off
  (`batch_max_events=0`: one pipeline call per connection's read, as before batching);
* `server_cpu_us_per_report`: the server process's CPU time (all threads) over the flood per
  acked report: the cost of a report whatever else shares the machine (its inverse bounds the
  rate one core can take);
* `ack_p99_ms`: reports paced at 10,000 a second in all, spread over the connections; the 99th
  percentile of report written to ack read (sent on schedule, not after the previous ack).
  Target under 200 ms. With batching off the servers cannot take that rate, so no baseline.

* `servers_reports_per_s`: the flood again with an intake that stores nothing and answers at
  once: what the servers and terminals alone carry, so that the pipeline's share of the cost
  shows (decision 0011).

Prints JSON lines (one per figure); progress on stderr. `make bench NAME=protocols`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import REGISTRY

from safecity import registry
from safecity.ingest.adapters.base import Intake
from safecity.ingest.adapters.tcp.batch import ReportBatcher
from safecity.ingest.adapters.tcp.gt06 import Gt06Protocol
from safecity.ingest.adapters.tcp.jt808 import Jt808Protocol
from safecity.ingest.adapters.tcp.server import TrackerServer
from safecity.ingest.pipeline import IngestResult, Submission
from safecity.platform import Platform, freeze_long_lived
from safecity.settings import Settings
from safecity.sim.terminals import Gt06Terminal, Jt808Terminal, Reading, pace

SMALL = os.environ.get("BENCH_SIZE") == "small"
CONNECTIONS = 500 if SMALL else 5_000
FLOOD_S = 8.0 if SMALL else 20.0
BASELINE_S = 5.0 if SMALL else 10.0
PACED_S = 8.0 if SMALL else 20.0
PACED_RATE = int(os.environ.get("BENCH_PACED_RATE", "10000"))  # reports a second, all connections
BURST = 10  # reports per write in the flood
CONNECT_AT_ONCE = 64  # connections opening at the same time (the listen backlog is 100)
TARGETS = {"reports_per_s": 50_000, "ack_p99_ms": 200, "kib_per_connection": None}
CENTRE = (27.99, 120.69)  # Wenzhou
# The servers' batching (the settings' defaults unless set, to try others).
BATCH_MAX_EVENTS = int(os.environ.get("BENCH_BATCH_MAX_EVENTS", "2000"))
BATCH_LINGER_MS = float(os.environ.get("BENCH_BATCH_LINGER_MS", "5"))


def emit(metric: str, value: float, unit: str, *, baseline: float | None = None, **extra: Any) -> None:
    """One JSON line of the result."""
    record = {
        "bench": "protocols",
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": round(value / baseline, 2) if baseline else None,
        "target": TARGETS.get(metric),
        "connections": CONNECTIONS,
    }
    print(json.dumps(record | extra), flush=True)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# The client side: one process per protocol, driven over stdin/stdout by the server side.


def reading(rng: random.Random) -> Reading:
    return Reading(
        ts=datetime.now(UTC).replace(microsecond=0),
        lat=CENTRE[0] + rng.uniform(-0.1, 0.1),
        lon=CENTRE[1] + rng.uniform(-0.1, 0.1),
        speed_kmh=rng.uniform(0, 60),
        course=rng.uniform(0, 359),
    )


async def open_terminals(config: dict[str, Any]) -> list[Gt06Terminal | Jt808Terminal]:
    """Connect and log in every terminal of the config, a few at a time."""
    host, port = "127.0.0.1", config["port"]
    terminals: list[Gt06Terminal | Jt808Terminal] = (
        [Gt06Terminal(t, host, port, timeout_s=60) for t in config["ids"]]
        if config["protocol"] == "gt06"
        else [
            Jt808Terminal(t, host, port, auth_code=c, timeout_s=60)
            for t, c in zip(config["ids"], config["codes"], strict=True)
        ]
    )
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def one(t: Gt06Terminal | Jt808Terminal) -> None:
        async with gate:
            await t.login()

    await asyncio.gather(*(one(t) for t in terminals))
    return terminals


async def flood(terminals: list[Any], seconds: float) -> dict[str, Any]:
    """Every terminal sends BURST reports a write, and again once they are acked, until time is up.
    The readings come from a pool made beforehand, as in `paced` (each report still has its own
    serial number, so none is a duplicate of another)."""
    deadline = time.perf_counter() + seconds
    acked = errors = 0
    pool = [reading(random.Random(n)) for n in range(1024)]

    async def loop(t: Any, rng: random.Random) -> None:
        nonlocal acked, errors
        while time.perf_counter() < deadline:
            try:
                await t.report_many([pool[rng.randrange(len(pool))] for _ in range(BURST)])
                acked += BURST
            except ConnectionError:
                errors += 1
                return

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(loop(t, random.Random(i)) for i, t in enumerate(terminals)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"acked": acked, "errors": errors, "seconds": seconds, "cpu_s": cpu}


async def paced(terminals: list[Any], seconds: float, rate: float) -> dict[str, Any]:
    """Each terminal reports on its own schedule, whatever the acks, so that together they send
    `rate` a second (an open loop: a slow server shows as latency, not as fewer reports). One
    timer loop sends for every terminal (`sim.terminals.pace`), and the readings come from a
    pool made beforehand: the load generator's CPU is taken from the server it measures."""
    period = len(terminals) / rate
    start = time.perf_counter() + 0.5
    rng = random.Random(0)
    pool = [reading(rng) for _ in range(1024)]
    schedules = []
    for t in terminals:
        first = start + rng.uniform(0, period)
        count = int((start + seconds - first) / period) + 1
        schedules.append((t, [first + k * period for k in range(count)]))
    cpu = time.process_time()
    results = await pace(schedules, lambda: pool[rng.randrange(len(pool))])
    latencies = [round(s * 1000, 2) for r in results if isinstance(r, list) for s in r]
    errors = sum(1 for r in results if isinstance(r, BaseException))
    return {"latencies_ms": latencies, "errors": errors, "cpu_s": time.process_time() - cpu}


async def client_main(config: dict[str, Any]) -> None:
    """Log in, say ready, then run each command read on stdin; answer each with a JSON line."""
    terminals = await open_terminals(config)
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": len(terminals)}), flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        command = json.loads(line) if line.strip() else {"do": "close"}
        if command["do"] == "flood":
            result = await flood(terminals, command["seconds"])
        elif command["do"] == "paced":
            result = await paced(terminals, command["seconds"], command["rate"])
        else:
            await asyncio.gather(*(t.close() for t in terminals))
            print(json.dumps({"closed": len(terminals)}), flush=True)
            return
        print(json.dumps(result), flush=True)


# The server side.


class Clients:
    """The client processes, one per protocol, driven together."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, configs: list[dict[str, Any]], folder: Path) -> None:
        for n, config in enumerate(configs):
            path = folder / f"client-{n}.json"  # terminal ids and codes: a file, not the command line
            path.write_text(json.dumps(config))
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--client",
                str(path),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=64 * 1024 * 1024,
            )
            self.procs.append(proc)
        ready = await self._answers()
        say(f"  {sum(r['ready'] for r in ready):,} connections logged in")

    async def run(self, command: dict[str, Any]) -> list[dict[str, Any]]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write((json.dumps(command) + "\n").encode())
            await proc.stdin.drain()
        return await self._answers()

    async def close(self) -> None:
        await self.run({"do": "close"})
        for proc in self.procs:
            await proc.wait()
        self.procs = []

    async def _answers(self) -> list[dict[str, Any]]:
        answers = []
        for proc in self.procs:
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            if not line:
                raise RuntimeError(f"client process {proc.pid} ended early")
            answers.append(json.loads(line))
        return answers


def rss_kib() -> int:
    """This process's resident memory (VmRSS), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def register_terminals(platform: Platform, n: int) -> tuple[list[str], list[str], list[str]]:
    """n/2 GT06 IMEIs and n/2 JT/T 808 phone numbers bound to trackers; the JT/T 808 codes issued."""
    now = platform.clock.now()
    imeis = [f"86{i:013d}" for i in range(n // 2)]
    phones = [f"013{i:09d}" for i in range(n - n // 2)]
    codes = []
    with platform.session_factory() as s, s.begin():
        for protocol, ids in (("gt06", imeis), ("jt808", phones)):
            for terminal in ids:
                device = f"TRK-{protocol}-{terminal}"
                registry.create_device(
                    s,
                    device_id=device,
                    kind="tracker",
                    name=device,
                    lat=None,
                    lon=None,
                    area_id=None,
                    now=now,
                )
                registry.register_terminal(s, device_id=device, protocol=protocol, terminal=terminal, now=now)
                if protocol == "jt808":
                    codes.append(registry.issue_auth_code(s, protocol, terminal, now=now))
    return imeis, phones, codes


class NullIntake:
    """An intake that stores nothing and answers at once (the servers' own ceiling)."""

    async def submit_parts(self, parts: Sequence[Submission]) -> list[IngestResult]:
        return [IngestResult(batch_id="none") for _ in parts]

    async def refuse_parts(self, parts: Sequence[Submission], reason: str) -> list[IngestResult]:
        return [IngestResult(batch_id="none") for _ in parts]


async def servers(
    platform: Platform, *, batch_max_events: int, intake: Intake | None = None
) -> list[TrackerServer]:
    """Both servers, sharing one batcher as `ingest.capability.tracker_servers` makes them."""
    started = []
    intake = intake or platform.ingest
    batcher = (
        ReportBatcher(
            intake, protocol="tracker", max_events=batch_max_events, linger_s=BATCH_LINGER_MS / 1000
        )
        if batch_max_events
        else None
    )
    for codec in (Gt06Protocol(), Jt808Protocol()):
        server = TrackerServer(
            codec,
            intake,
            platform.session_factory,
            now=platform.clock.now,
            batch_max_events=batch_max_events,
            batch_linger_ms=BATCH_LINGER_MS,
            batcher=batcher,
        )
        await server.start()
        started.append(server)
    return started


def configs(started: list[TrackerServer], imeis: list[str], phones: list[str], codes: list[str]) -> list[Any]:
    return [
        {"protocol": "gt06", "port": started[0].port, "ids": imeis},
        {"protocol": "jt808", "port": started[1].port, "ids": phones, "codes": codes},
    ]


def events_per_batch() -> float:
    """Mean events per cross-connection batch so far (both servers)."""
    count = total = 0.0
    for protocol in ("gt06", "jt808", "tracker"):
        labels = {"protocol": protocol}
        count += REGISTRY.get_sample_value("safecity_tracker_batch_events_count", labels) or 0.0
        total += REGISTRY.get_sample_value("safecity_tracker_batch_events_sum", labels) or 0.0
    return total / count if count else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def measure(
    platform: Platform, batch_max_events: int, ids: tuple[Any, ...], intake: Intake | None = None
) -> dict[str, float]:
    """Memory of idle connections, flood throughput and paced latency on fresh servers."""
    out: dict[str, float] = {}
    started = await servers(platform, batch_max_events=batch_max_events, intake=intake)
    freeze_long_lived()  # as `Platform.start` does once its workers run
    clients = Clients()
    try:
        gc.collect()
        before = rss_kib()
        await clients.start(configs(started, *ids), Path(platform.settings.data_dir))
        await asyncio.sleep(1.0)
        gc.collect()
        out["kib_per_connection"] = (rss_kib() - before) / CONNECTIONS
        flood_s = FLOOD_S if batch_max_events else BASELINE_S
        say(f"  flood for {flood_s:.0f} s ...")
        cpu = time.process_time()
        results = await clients.run({"do": "flood", "seconds": flood_s})
        cpu = time.process_time() - cpu  # the server process's CPU (every thread), load-independent
        acked = sum(r["acked"] for r in results)
        out["server_cpu_us_per_report"] = cpu / max(acked, 1) * 1e6
        out["client_cpu_us_per_report"] = sum(r["cpu_s"] for r in results) / max(acked, 1) * 1e6
        out["reports"] = acked
        out["reports_per_s"] = acked / max(r["seconds"] for r in results)
        out["errors"] = sum(r["errors"] for r in results)
        if not batch_max_events or intake is not None:
            # The unbatched path cannot take 10,000 a second: paced, it would only queue for minutes;
            # without the pipeline only the flood is asked (the servers' ceiling).
            await clients.close()
            return out
        say(f"  paced at {PACED_RATE:,}/s for {PACED_S:.0f} s ...")
        share = PACED_RATE / len(clients.procs)
        cpu = time.process_time()
        results = await clients.run({"do": "paced", "seconds": PACED_S, "rate": share})
        cpu = time.process_time() - cpu
        latencies = [ms for r in results for ms in r["latencies_ms"]]
        out["ack_p50_ms"] = percentile(latencies, 0.50)
        out["ack_p99_ms"] = percentile(latencies, 0.99)
        out["paced_per_s"] = len(latencies) / PACED_S
        out["server_cpu_us_per_paced_report"] = cpu / max(len(latencies), 1) * 1e6
        client_cpu = sum(r["cpu_s"] for r in results)
        out["client_cpu_us_per_paced_report"] = client_cpu / max(len(latencies), 1) * 1e6
        out["events_per_batch"] = events_per_batch()
        out["errors"] += sum(r["errors"] for r in results)
        await clients.close()
    finally:
        for server in started:
            await server.stop()
    say(f"  {json.dumps({k: round(v, 2) for k, v in out.items()})}")
    return out


async def run(platform: Platform, ids: tuple[Any, ...]) -> None:
    say(f"batched servers ({BATCH_MAX_EVENTS=}, {BATCH_LINGER_MS=}), {CONNECTIONS:,} connections:")
    batched = await measure(platform, BATCH_MAX_EVENTS, ids)
    say("baseline: one pipeline call per connection's read (batch_max_events=0):")
    plain = await measure(platform, 0, ids)
    say("the servers alone: an intake that stores nothing:")
    alone = await measure(platform, BATCH_MAX_EVENTS, ids, intake=NullIntake())
    day = datetime.now(UTC) - timedelta(days=1)
    stored = platform.lake.scan(start=day, end=day + timedelta(days=2)).select("event_id").collect().height
    # Baseline timeouts: terminals whose burst waited past 60 s for its acks on the unbatched path.
    emit(
        "reports_per_s",
        batched["reports_per_s"],
        "reports/s",
        baseline=plain["reports_per_s"],
        stored=stored,
        baseline_timeouts=plain["errors"],
    )
    emit(
        "ack_p99_ms",
        batched["ack_p99_ms"],
        "ms",
        p50=batched["ack_p50_ms"],
        rate=PACED_RATE,
        linger_ms=BATCH_LINGER_MS,
    )
    emit("kib_per_connection", batched["kib_per_connection"], "KiB")
    # What a report costs the server in CPU whatever else runs on the machine (all its threads).
    emit(
        "server_cpu_us_per_report",
        batched["server_cpu_us_per_report"],
        "us",
        baseline=plain["server_cpu_us_per_report"],
        paced=batched["server_cpu_us_per_paced_report"],
    )
    # The simulated terminals' share of the same machine (both client processes, every thread).
    emit(
        "client_cpu_us_per_report",
        batched["client_cpu_us_per_report"],
        "us",
        baseline=plain["client_cpu_us_per_report"],
        paced=batched["client_cpu_us_per_paced_report"],
    )
    emit("paced_reports_per_s", batched["paced_per_s"], "reports/s", errors=batched["errors"])
    emit(
        "servers_reports_per_s",
        alone["reports_per_s"],
        "reports/s",
        server_cpu_us_per_report=round(alone["server_cpu_us_per_report"], 2),
    )


def event_loop_policy() -> None:
    """uvloop, as `safecity serve` runs under uvicorn (loop "auto"); BENCH_LOOP=asyncio for the stdlib's."""
    if os.environ.get("BENCH_LOOP", "uvloop") == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main() -> None:
    event_loop_policy()
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        asyncio.run(client_main(json.loads(Path(sys.argv[2]).read_text())))
        return
    # JSON lines own stdout; the platform's logs go to stderr, warnings only.
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(30),
    )
    with tempfile.TemporaryDirectory(prefix="safecity-bench-protocols-") as tmp:
        platform = Platform.build(Settings(data_dir=Path(tmp)))
        say(f"registering {CONNECTIONS:,} terminals ...")
        ids = register_terminals(platform, CONNECTIONS)
        asyncio.run(run(platform, ids))
        platform.engine.dispose()


if __name__ == "__main__":
    main()
