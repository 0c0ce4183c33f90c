"""Running the platform: serve, demo, generate a city, simulate devices, replay a recording."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from safecity.cli.common import build_platform, configure_logging, console, err, progress, settings
from safecity.cli.terminal import live_status, log_to_file
from safecity.settings import Settings

Verbose = Annotated[
    bool, typer.Option("--verbose", help="Show the logs here instead of in <data_dir>/log/safecity.log.")
]
StatusEvery = Annotated[
    float,
    typer.Option(
        min=0.1,
        help="Seconds between status lines when stdout is not a terminal (redrawn each second on one).",
    ),
]


def serve(verbose: Verbose = False, status_every: StatusEvery = 10.0) -> None:
    """Run the platform and its web console (settings from SAFECITY_* variables)."""
    cfg = settings()
    logs = _terminal_logging(cfg, verbose)
    platform = build_platform(cfg)
    _serve(cfg, platform, logs=logs, status_every=status_every)


def _terminal_logging(cfg: Settings, verbose: bool) -> Path | None:
    """Logs on the terminal (`--verbose`), else in the log file, whose path is returned."""
    if verbose:
        configure_logging(cfg)
        return None
    return log_to_file(cfg)


def _serve(
    cfg: Settings,
    platform: Any,
    *,
    logs: Path | None,
    status_every: float,
    simulation: dict[str, Any] | None = None,
) -> None:
    import uvicorn

    from safecity.status import StatusMonitor
    from safecity.web.app import create_app

    fastapi_app = create_app(
        platform, background=_simulation_task(platform, simulation) if simulation else None
    )
    console.print(
        f"Open the console at [bold]http://{cfg.host}:{cfg.port}[/bold] (Ctrl-C stops).", soft_wrap=True
    )
    if logs is not None:
        console.print(f"Logs: {escape(str(logs))} (--verbose shows them here).", soft_wrap=True)
    monitor = StatusMonitor(platform)
    # With the logs on the terminal a redrawn line would fight them: plain lines then.
    redraw = console.is_terminal and logs is not None
    with live_status(lambda: monitor.sample().line(), console, every_s=status_every, redraw=redraw):
        uvicorn.run(fastapi_app, host=cfg.host, port=cfg.port, log_level="warning", proxy_headers=False)


def _simulation_task(platform: Any, simulation: dict[str, Any]) -> Any:
    from safecity.driver import run_in_process

    def start() -> Any:
        return run_in_process(platform, **simulation)

    return start


def demo(
    scale: Annotated[str, typer.Option(help="City size: tiny, demo or wenzhou.")] = "demo",
    seed: Annotated[int, typer.Option(help="Seed of the generated city.")] = 7,
    speedup: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 30.0,
    thefts_per_hour: Annotated[float, typer.Option(help="Planted thefts per simulated hour.")] = 6.0,
    verbose: Verbose = False,
    status_every: StatusEvery = 10.0,
) -> None:
    """Generate the city if missing, then serve the console with the city simulated live."""
    _enable_tracker_servers()
    # A face hit expires after so many minutes of city time: at the demo's 30x an hour is two real
    # minutes, too short for a person trying the review desk; a day of city time is 48.
    import os

    os.environ.setdefault("SAFECITY_RECOGNITION_REVIEW_EXPIRY_MINUTES", str(24 * 60))
    cfg = settings()
    logs = _terminal_logging(cfg, verbose)
    from safecity.core.clock import AcceleratedClock, SystemClock
    from safecity.driver import (
        city_summary,
        ensure_loaded,
        print_demo_accounts,
        seed_demo_accounts,
        sms_file,
    )

    # The platform runs on the simulated clock, so that accelerated readings count as current.
    # People sign in on real time, whatever the city's clock says.
    real = SystemClock()
    platform = build_platform(cfg, clock=AcceleratedClock(datetime.now(UTC), speedup), wall_clock=real)
    city = ensure_loaded(platform, seed=seed, scale=scale, console=err)
    if platform.bbox is None:
        platform = build_platform(cfg, clock=platform.clock, wall_clock=real)  # the new city's bounds
    console.print(f"[bold green]safecity demo[/bold green]: {city_summary(city)}; simulated at {speedup:g}x")
    from safecity.driver.trackdemo import prepare_tracking

    tracking = prepare_tracking(platform, city, seed=seed)
    console.print(
        f"{len(tracking.wearers)} elderly wearers (GT06) and {len(tracking.sites)} tankers (JT/T 808) "
        "report over TCP to the platform's own device servers.",
        soft_wrap=True,
    )
    from safecity.driver.dispatchdemo import register_units

    register_units(platform, city)
    print_demo_accounts(seed_demo_accounts(platform), console)
    console.print(
        f"Text messages to people (confirmation codes) go to {escape(str(sms_file(platform)))}: "
        "the demo's stand-in for an SMS gateway.",
        soft_wrap=True,
    )
    _serve(
        cfg,
        platform,
        logs=logs,
        status_every=status_every,
        simulation={
            "city": city,
            "speedup": speedup,
            "thefts_per_hour": thefts_per_hour,
            "seed": seed,
            "tracking": tracking,
        },
    )


def _enable_tracker_servers() -> None:
    """The demo's wearers and tankers speak GT06 and JT/T 808 to the platform's own servers: turn
    them on unless configured, each on its usual port, or on a free one if that is taken (another
    demo on this machine) rather than failing to start."""
    import os
    import socket

    # Some 40 reports a second arrive one by one: batched over 250 ms they cost a tenth of the CPU
    # (a pipeline call, a ledger commit and a lake file each) for acks a quarter second later.
    os.environ.setdefault("SAFECITY_TRACKER_BATCH_LINGER_MS", "250")
    for protocol, usual in (("GT06", 5023), ("JT808", 5015)):
        os.environ.setdefault(f"SAFECITY_{protocol}_ENABLED", "true")
        if f"SAFECITY_{protocol}_PORT" in os.environ:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", usual))
            except OSError:
                probe.bind(("127.0.0.1", 0))
                os.environ[f"SAFECITY_{protocol}_PORT"] = str(probe.getsockname()[1])


def generate(
    scale: Annotated[str, typer.Option(help="City size: tiny, demo or wenzhou.")] = "demo",
    seed: Annotated[int, typer.Option(help="Seed (same seed, same city).")] = 7,
    replace: Annotated[bool, typer.Option(help="Replace a city already in the registry.")] = False,
) -> None:
    """Generate a synthetic city and load it into the registry."""
    cfg = settings()
    configure_logging(cfg)
    from safecity.driver import city_summary, ensure_loaded

    platform = build_platform(cfg)
    city = ensure_loaded(platform, seed=seed, scale=scale, console=err, replace=replace)
    console.print(city_summary(city))


def simulate(
    url: Annotated[
        str, typer.Option(help="Base URL of a running safecity to post to.")
    ] = "http://127.0.0.1:8000",
    mqtt: Annotated[str, typer.Option(help="Publish over MQTT instead, e.g. mqtt://127.0.0.1:1883.")] = "",
    speedup: Annotated[
        float,
        typer.Option(
            help="Simulated seconds per real second. Above 1, event times run ahead of the server's clock: "
            "raise SAFECITY_MAX_FUTURE_SKEW_S on the server to match."
        ),
    ] = 1.0,
    thefts_per_hour: Annotated[float, typer.Option(help="Planted thefts per simulated hour.")] = 6.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 7,
    duration_s: Annotated[float, typer.Option(help="Stop after this many real seconds (0 = never).")] = 0.0,
) -> None:
    """Drive a running platform with simulated devices over HTTP (or MQTT), as real devices would."""
    cfg = settings()
    configure_logging(cfg)
    from safecity.driver import run_remote

    asyncio.run(
        run_remote(
            cfg.city_dir,
            url=url,
            mqtt_url=mqtt,
            speedup=speedup,
            thefts_per_hour=thefts_per_hour,
            seed=seed,
            duration_s=duration_s,
        )
    )


def replay(
    file: Annotated[
        Path,
        typer.Argument(
            help="NDJSON file of v1 events, each naming its device.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    batch_events: Annotated[int, typer.Option(help="Events per batch.")] = 50_000,
) -> None:
    """Feed a recorded NDJSON file through ingest (validation, lake, dead letters, ledger)."""
    cfg = settings()
    configure_logging(cfg)
    from safecity.ingest.adapters.replay import ReplayTotals, replay

    platform = build_platform(cfg)
    platform.recover_ingest()
    platform.warm_dedup()
    totals = ReplayTotals()
    with progress() as bar, file.open("rb") as fh:
        task = bar.add_task(f"replay {file.name}", total=file.stat().st_size)
        for batch in replay(platform.ingest, fh, batch_events=batch_events):
            totals.add(batch.result)
            if batch.result.error:
                err.print(f"[red]refused batch:[/red] {escape(batch.result.error)}")
            bar.update(task, advance=batch.bytes_read)
    console.print(json.dumps(asdict(totals)))
    platform.engine.dispose()


def register(app: typer.Typer) -> None:
    """The top-level commands that run the platform or feed it."""
    for command in (serve, demo, generate, simulate, replay):
        app.command()(command)
