"""The `safecity` command: serve, demo, generate, simulate, replay, rules, lake and reconcile."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from safecity.settings import Settings

app = typer.Typer(
    help="safecity: city public-safety platform.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
rules_app = typer.Typer(help="Check and backtest rules.", no_args_is_help=True)
lake_app = typer.Typer(help="Operate the Parquet lake.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(lake_app, name="lake")
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable and the problem
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


def build_platform(settings: Settings, clock: Any = None) -> Any:
    """Build the platform, turning configuration and connection problems into clear messages."""
    from sqlalchemy.exc import OperationalError

    from safecity.platform import Platform
    from safecity.rules import RulesError

    try:
        return Platform.build(settings, clock=clock)
    except RulesError as exc:
        err.print(f"[red]rules file {escape(exc.source)} is invalid ({len(exc.problems)} problem(s)):[/red]")
        for problem in exc.problems:
            err.print(f"  - {escape(problem)}")
    except OperationalError as exc:
        url = escape(repr(settings.resolved_database_url))
        err.print(f"[red]cannot use the database {url}:[/red] {escape(str(exc.orig))}")
    raise typer.Exit(2)


def configure_logging(settings: Settings) -> None:
    """Structured logs: console text by default, JSON lines with SAFECITY_LOG_JSON=true."""
    import logging

    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    # Libraries that log every request or migration step at INFO would drown the platform's own logs.
    for noisy in ("httpx", "httpcore", "alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    renderer: Any = (
        structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Logs go to stderr like the progress bars: stdout carries only results (replay's JSON totals).
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def _parse_time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=name) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- serving ------------------------------------------------------------------------------------


@app.command()
def serve() -> None:
    """Run the platform and its web console (settings from SAFECITY_* variables)."""
    settings = _settings()
    configure_logging(settings)
    _serve(settings)


def _serve(settings: Settings, platform: Any = None, simulation: dict[str, Any] | None = None) -> None:
    import uvicorn

    from safecity.web.app import create_app

    platform = platform or build_platform(settings)
    fastapi_app = create_app(
        platform, background=_simulation_task(platform, simulation) if simulation else None
    )
    uvicorn.run(fastapi_app, host=settings.host, port=settings.port, log_level="warning", proxy_headers=False)


def _simulation_task(platform: Any, simulation: dict[str, Any]) -> Any:
    from safecity.driver import run_in_process

    def start() -> Any:
        return run_in_process(platform, **simulation)

    return start


@app.command()
def demo(
    scale: Annotated[str, typer.Option(help="City size: tiny, demo or wenzhou.")] = "demo",
    seed: Annotated[int, typer.Option(help="Seed of the generated city.")] = 7,
    speedup: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 30.0,
    thefts_per_hour: Annotated[float, typer.Option(help="Planted thefts per simulated hour.")] = 6.0,
) -> None:
    """Generate the city if missing, then serve the console with the city simulated live."""
    settings = _settings()
    configure_logging(settings)
    from safecity.core.clock import AcceleratedClock
    from safecity.driver import city_summary, ensure_loaded

    # The platform runs on the simulated clock, so that accelerated readings count as current.
    platform = build_platform(settings, clock=AcceleratedClock(datetime.now(UTC), speedup))
    city = ensure_loaded(platform, seed=seed, scale=scale, console=err)
    if platform.bbox is None:
        platform = build_platform(settings, clock=platform.clock)  # pick up the new city's bounds
    console.print(f"[bold green]safecity demo[/bold green]: {city_summary(city)}; simulated at {speedup:g}x")
    console.print(f"Open the console at [bold]http://{settings.host}:{settings.port}[/bold] (Ctrl-C stops).")
    _serve(
        settings,
        platform,
        simulation={"city": city, "speedup": speedup, "thefts_per_hour": thefts_per_hour, "seed": seed},
    )


@app.command()
def generate(
    scale: Annotated[str, typer.Option(help="City size: tiny, demo or wenzhou.")] = "demo",
    seed: Annotated[int, typer.Option(help="Seed (same seed, same city).")] = 7,
    replace: Annotated[bool, typer.Option(help="Replace a city already in the registry.")] = False,
) -> None:
    """Generate a synthetic city and load it into the registry."""
    settings = _settings()
    configure_logging(settings)
    from safecity.driver import city_summary, ensure_loaded

    platform = build_platform(settings)
    city = ensure_loaded(platform, seed=seed, scale=scale, console=err, replace=replace)
    console.print(city_summary(city))


@app.command()
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
    settings = _settings()
    configure_logging(settings)
    from safecity.driver import run_remote

    asyncio.run(
        run_remote(
            settings.city_dir,
            url=url,
            mqtt_url=mqtt,
            speedup=speedup,
            thefts_per_hour=thefts_per_hour,
            seed=seed,
            duration_s=duration_s,
        )
    )


@app.command()
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
    settings = _settings()
    configure_logging(settings)
    from safecity.ingest import Part

    platform = build_platform(settings)
    platform.warm_dedup()
    totals = {"received": 0, "stored": 0, "dead_lettered": 0, "duplicates": 0}
    size = file.stat().st_size
    with _progress() as progress, file.open("rb") as fh:
        task = progress.add_task(f"replay {file.name}", total=size)
        while chunk := fh.readlines(max(1, batch_events) * 200):
            results, _ = platform.ingest.process(
                [Part(body=b"".join(chunk), device_id=None, source="replay")]
            )
            for key in totals:
                totals[key] += getattr(results[0], key)
            if results[0].error:
                err.print(f"[red]refused batch:[/red] {escape(results[0].error)}")
            progress.update(task, advance=sum(len(line) for line in chunk))
    console.print(json.dumps(totals))
    platform.engine.dispose()


# --- rules --------------------------------------------------------------------------------------


@rules_app.command("check")
def rules_check(
    file: Annotated[Path | None, typer.Argument(help="Rules YAML (default: the one in force).")] = None,
) -> None:
    """Validate a rules file; list every problem with where it is."""
    from safecity.platform import rules_path
    from safecity.rules import RulesError, load_rules

    path = file or rules_path(_settings())
    try:
        parsed = load_rules(path)
    except RulesError as exc:
        # Problems quote the file (names, regex patterns): print them verbatim, never as markup.
        err.print(f"[red]{escape(exc.source)}: {len(exc.problems)} problem(s)[/red]")
        for problem in exc.problems:
            err.print(f"  - {escape(problem)}")
        raise typer.Exit(1) from exc
    table = Table(title=f"{escape(str(path))}: OK")
    for col in ("name", "kind", "enabled", "severity", "params"):
        table.add_column(col)
    for rule in parsed.rules:
        table.add_row(
            rule.name,
            rule.kind,
            str(rule.enabled),
            rule.severity,
            escape(json.dumps(rule.typed_params().model_dump(), ensure_ascii=False)),
        )
    console.print(table)


@rules_app.command("backtest")
def rules_backtest(
    rule: Annotated[str, typer.Option(help="Name of the rule to test.")],
    start: Annotated[str, typer.Option(help="Period start, ISO 8601 (UTC if no offset).")],
    end: Annotated[str, typer.Option(help="Period end, ISO 8601.")],
    file: Annotated[
        Path | None, typer.Option(help="Rules YAML holding the rule (default: in force).")
    ] = None,
    step_s: Annotated[int, typer.Option(help="Replay step in seconds.")] = 60,
) -> None:
    """Run a rule over a past period of the lake; report the warnings it would have raised (none are)."""
    settings = _settings()
    configure_logging(settings)
    from safecity.platform import rules_path
    from safecity.rules import PeriodFacts, RulesError, build_rules, load_rules
    from safecity.rules.backtest import backtest

    t0, t1 = _parse_time(start, "--start"), _parse_time(end, "--end")
    if t1 <= t0:
        raise typer.BadParameter("the end must be after the start", param_hint="--end")
    try:
        config = load_rules(file or rules_path(settings))
    except RulesError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from exc
    chosen = [r for r in config.rules if r.name == rule]
    if not chosen:
        known = ", ".join(r.name for r in config.rules)
        err.print(f"[red]no rule named {escape(repr(rule))}; known: {known}[/red]")
        raise typer.Exit(1)
    platform = build_platform(settings)
    evaluator = build_rules(type(config)(version=1, rules=[chosen[0].model_copy(update={"enabled": True})]))[
        0
    ]
    facts = PeriodFacts(platform.session_factory, lambda: platform.devices.frame, start=t0, end=t1)
    days = max(1, (t1.date() - t0.date()).days + 1)
    with _progress() as progress:
        task = progress.add_task(f"backtest {rule}", total=days)
        report = backtest(
            evaluator,
            scan=lambda a, b: platform.lake.scan(start=a, end=b),
            facts=facts,
            start=t0,
            end=t1,
            step=timedelta(seconds=step_s),
            progress=lambda _rows: progress.advance(task),
        )
    console.print_json(
        json.dumps(
            {
                "rule": report.rule,
                "start": t0.isoformat(),
                "end": t1.isoformat(),
                "records": report.records,
                "findings": report.findings,
                "warnings_it_would_raise": report.warnings,
                "by_day": report.by_day,
                "examples": report.examples,
            }
        )
    )
    platform.engine.dispose()


# --- lake and ingest operations -----------------------------------------------------------------


@lake_app.command("compact")
def lake_compact() -> None:
    """Merge small files into sorted ones (safe to run at any time, and repeatedly)."""
    from safecity.lake import Lake

    report = Lake(_settings().resolved_lake_dir).compact(min_files=2)
    console.print(
        f"compacted {report.partitions} partitions: {report.files_in} files -> "
        f"{report.files_out}, {report.rows} rows"
    )


@lake_app.command("partitions")
def lake_partitions() -> None:
    """List the lake's partitions with file and row counts."""
    from safecity.lake import Lake

    table = Table(title="lake partitions")
    for col in ("date", "kind", "files", "rows", "bytes"):
        table.add_column(col, justify="right")
    for p in Lake(_settings().resolved_lake_dir).partitions():
        table.add_row(str(p.date), p.kind, str(p.files), str(p.rows), str(p.bytes))
    console.print(table)


@app.command()
def reconcile() -> None:
    """Check that accepted = stored + dead-lettered and that the lake and dead-letter store agree."""
    settings = _settings()
    from safecity.ingest.reconcile import reconcile as run
    from safecity.lake import Lake
    from safecity.store import make_engine, make_session_factory

    engine = make_engine(settings.resolved_database_url)
    result = run(make_session_factory(engine), Lake(settings.resolved_lake_dir))
    table = Table(title="ingest reconciliation")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.as_dict().items():
        table.add_row(key, str(value))
    console.print(table)
    console.print(
        "[green]OK: accepted = stored + dead-lettered[/green]"
        if result.ok
        else "[red]MISMATCH: see the figures above[/red]"
    )
    engine.dispose()
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def deadletters(limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """Show the newest dead letters with their reasons."""
    from sqlalchemy import select

    from safecity.ingest.models import DeadLetter
    from safecity.store import make_engine, make_session_factory

    engine = make_engine(_settings().resolved_database_url)
    table = Table(title="dead letters")
    for col in ("received", "device", "index", "event id", "field", "reason"):
        table.add_column(col)
    with make_session_factory(engine)() as session:
        for d in session.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)):
            table.add_row(
                d.received_at.isoformat(timespec="seconds"),
                escape(d.device_id or ""),  # dead letters hold what senders wrote: never markup
                str(d.idx),
                escape(d.event_id or ""),
                escape(d.field or ""),
                escape(d.reason),
            )
    console.print(table)
    engine.dispose()


@app.command("db-upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest schema."""
    from safecity.store import upgrade_to_head

    settings = _settings()
    upgrade_to_head(settings.resolved_database_url)
    console.print("database is at the newest schema")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
