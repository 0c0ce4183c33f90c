"""The `safecity` command: serve, demo, generate, simulate, replay, rules, lake, reconcile, retention."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from safecity.settings import Settings

app = typer.Typer(
    help="safecity: city public-safety platform.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
rules_app = typer.Typer(help="Check and backtest rules.", no_args_is_help=True)
lake_app = typer.Typer(help="Operate the Parquet lake.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(lake_app, name="lake")
keys_app = typer.Typer(help="Create and rotate the key files: token, pseudonym, audit.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
retention_app = typer.Typer(help="Show and apply the retention policy.", no_args_is_help=True)
app.add_typer(retention_app, name="retention")
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable and the problem
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


def build_platform(settings: Settings, clock: Any = None, wall_clock: Any = None) -> Any:
    """Build the platform, turning configuration and connection problems into clear messages."""
    from sqlalchemy.exc import OperationalError

    from safecity.platform import Platform
    from safecity.rules import RulesError
    from safecity.security.keys import KeyError_

    try:
        return Platform.build(settings, clock=clock, wall_clock=wall_clock)
    except KeyError_ as exc:
        err.print(f"[red]key problem:[/red] {escape(str(exc))}")
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
    from safecity.core.clock import AcceleratedClock, SystemClock
    from safecity.driver import city_summary, ensure_loaded, print_demo_accounts, seed_demo_accounts

    # The platform runs on the simulated clock, so that accelerated readings count as current.
    # People sign in on real time, whatever the city's clock says.
    real = SystemClock()
    platform = build_platform(settings, clock=AcceleratedClock(datetime.now(UTC), speedup), wall_clock=real)
    city = ensure_loaded(platform, seed=seed, scale=scale, console=err)
    if platform.bbox is None:
        platform = build_platform(settings, clock=platform.clock, wall_clock=real)  # the new city's bounds
    console.print(f"[bold green]safecity demo[/bold green]: {city_summary(city)}; simulated at {speedup:g}x")
    print_demo_accounts(seed_demo_accounts(platform), console)
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
    purged = " (+ deleted by retention)" if result.purged_lake or result.purged_dead_letters else ""
    console.print(
        f"[green]OK: accepted = stored + dead-lettered{purged}[/green]"
        if result.ok
        else "[red]MISMATCH: see the figures above[/red]"
    )
    if result.purges_in_doubt:
        err.print("a retention run was interrupted: `safecity retention apply` settles its purges")
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


# --- retention ----------------------------------------------------------------------------------


def _retention_policy(path: Path) -> Any:
    from safecity.security.retention import RetentionError, load_policy

    try:
        return load_policy(path)
    except RetentionError as exc:
        err.print(f"[red]retention policy {escape(exc.source)}: {len(exc.problems)} problem(s)[/red]")
        for problem in exc.problems:
            err.print(f"  - {escape(problem)}")
        raise typer.Exit(1) from exc


def _parse_day(value: str | None, name: str) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a day (YYYY-MM-DD)", param_hint=name) from exc


def _os_actor() -> Any:
    """The operator running the command, as the audit trail names them."""
    import getpass

    from safecity.security.audit import SYSTEM, Actor

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name, e.g. a container user without a passwd entry
        return SYSTEM
    return Actor(f"os:{user}", "system", "command line", "cli")


@retention_app.command("show")
def retention_show(
    as_of: Annotated[str | None, typer.Option(help="Show cut-offs as of this day (YYYY-MM-DD).")] = None,
) -> None:
    """Print the retention policy in force and what it keeps as of a day."""
    from safecity.maintenance import POLICY_TABLES, retention_path
    from safecity.security.retention import AUDIT_KEPT

    day = _parse_day(as_of, "--as-of")
    path = retention_path(_settings())
    policy = _retention_policy(path)
    lake = Table(title=f"lake retention ({escape(str(path))})")
    for col in ("kind", "days", f"keeps days from (as of {day})"):
        lake.add_column(col)
    for kind, days in sorted(policy.lake.items()):
        lake.add_row(kind, str(days), str(policy.lake_cutoff(kind, day)))
    console.print(lake)
    registry = Table(title="registry retention (days after what the rows record ended)")
    for col in ("entry", "days", "deletes from", "ended before"):
        registry.add_column(col)
    for entry, tables in POLICY_TABLES.items():
        cutoff = policy.registry_cutoff(entry, day)
        registry.add_row(entry, str(getattr(policy.registry, entry)), ", ".join(tables), cutoff.isoformat())
    registry.add_row("audit_records", "kept", "nothing", "-")
    console.print(registry)
    console.print(f"audit records: {AUDIT_KEPT}")


@retention_app.command("apply")
def retention_apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go; delete nothing.")] = False,
    as_of: Annotated[
        str | None, typer.Option(help="Apply as of this day (YYYY-MM-DD, UTC; default today).")
    ] = None,
) -> None:
    """Delete lake partitions and registry rows past their retention, and audit it; safe to repeat."""
    settings = _settings()
    configure_logging(settings)
    from sqlalchemy.exc import OperationalError

    from safecity import maintenance
    from safecity.lake import Lake
    from safecity.store import make_engine, make_session_factory, upgrade_to_head

    now = datetime.now(UTC)
    day = _parse_day(as_of, "--as-of")
    if day > now.date() and not dry_run:
        raise typer.BadParameter(f"{day} is after today; only a dry run may look ahead", param_hint="--as-of")
    path = maintenance.retention_path(settings)
    policy = _retention_policy(path)
    url = settings.resolved_database_url
    try:
        upgrade_to_head(url)
    except OperationalError as exc:
        err.print(f"[red]cannot use the database {escape(repr(url))}:[/red] {escape(str(exc.orig))}")
        raise typer.Exit(2) from exc
    engine = make_engine(url)
    lake = Lake(settings.resolved_lake_dir)
    factory = make_session_factory(engine)
    since = maintenance.accepting_since(settings, now)
    try:
        if dry_run:
            report = maintenance.plan_retention(factory, lake, policy, as_of=day, accepting_since=since)
        else:
            report = maintenance.apply_retention(
                factory,
                lake,
                policy,
                as_of=day,
                now=now,
                actor=_os_actor(),
                accepting_since=since,
                source=str(path),
            )
    finally:
        lake.close()
        engine.dispose()
    _print_retention(report)


def _print_retention(report: Any) -> None:
    verb = "would go" if report.dry_run else "deleted"
    table = Table(title=f"retention as of {report.as_of}: {verb}")
    for col in ("store", "kind or table", "dates", "partitions", "rows"):
        table.add_column(col, justify="right" if col in ("partitions", "rows") else "left")
    for kind, group in report.lake_by_kind().items():
        dates = group["first"] if group["first"] == group["last"] else f"{group['first']} .. {group['last']}"
        table.add_row("lake", kind, dates, str(group["partitions"]), str(group["rows"]))
    for name, rows in sorted(report.registry.items()):
        table.add_row("registry", name, "", "", str(rows))
    if table.row_count:
        console.print(table)
    for case_id, partitions in report.held_by_case().items():
        console.print(f"kept past retention by case {escape(case_id)}: {partitions} lake partition(s)")
    if report.dry_run:
        console.print(f"dry run: {report.total_rows} rows would be deleted; nothing was")
        if report.pending:
            console.print(f"{report.pending} lake purge(s) of an interrupted run would be settled first")
    else:
        console.print(f"deleted {report.total_rows} rows; audit record {report.audit_seq}")


@app.command("db-upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest schema."""
    from safecity.store import upgrade_to_head

    settings = _settings()
    upgrade_to_head(settings.resolved_database_url)
    console.print("database is at the newest schema")


# --- keys -----------------------------------------------------------------------------------------


@keys_app.command("init")
def keys_init() -> None:
    """Create whichever key files are missing (token, pseudonym, audit signing); never overwrite one."""
    from safecity.security.keys import KeyError_, init_key_files

    settings = _settings()
    try:
        files = init_key_files(
            token=settings.resolved_token_key_file,
            pseudonym=settings.resolved_pseudonym_key_file,
            audit=settings.resolved_audit_key_file,
        )
    except (KeyError_, OSError) as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from exc
    table = Table(title="key files")
    for col in ("key", "file", "state"):
        table.add_column(col)
    for f in files:
        state = "created" if f.created else "exists, kept"
        if not f.is_private and f.what != "audit public":
            state += f" [red](mode {f.mode:o}: others can read it; chmod 600)[/red]"
        table.add_row(f.what, escape(str(f.path)), state)
    console.print(table)
    console.print(
        "Back these files up now, to a place other than this machine and its backups: a lost pseudonym "
        "key cannot be recovered (docs/keys.md)."
    )


@keys_app.command("rotate-pseudonym")
def keys_rotate_pseudonym(
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Make no new key; re-key the people not yet under the current one "
            "(finishes an interrupted rotation, fills people registered before pseudonyms existed).",
        ),
    ] = False,
) -> None:
    """Make a new pseudonym key version current (old ones kept) and re-key the registry to it."""
    from sqlalchemy.exc import SQLAlchemyError

    from safecity.security.audit import AuditEntry, AuditTrail
    from safecity.security.keys import KeyError_
    from safecity.security.linkage import rotate_pseudonym_key
    from safecity.store import make_engine, make_session_factory

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    progress = _progress()
    task: list[TaskID] = []

    def start(total: int) -> None:  # only once the key file and the database have been read
        progress.start()
        task.append(progress.add_task("re-keying people", total=total))

    factory = make_session_factory(engine)
    try:
        rotation = rotate_pseudonym_key(
            settings.resolved_pseudonym_key_file,
            factory,
            new_key=not resume,
            on_start=start,
            progress=lambda done: progress.advance(task[0], done),
        )
        detail = {"previous": rotation.previous, "current": rotation.current, "resume": resume}
        AuditTrail(factory).record(
            _os_actor(),
            AuditEntry(
                "keys.rotate_pseudonym",
                str(settings.resolved_pseudonym_key_file),
                result_count=rotation.people,
                detail={**detail, "versions": rotation.versions},
            ),
            at=datetime.now(UTC),
        )
    except KeyError_ as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from exc
    except SQLAlchemyError as exc:
        reason = escape(str(getattr(exc, "orig", None) or exc).splitlines()[0])
        url = escape(repr(settings.resolved_database_url))
        err.print(f"[red]cannot use the database {url}:[/red] {reason} (`safecity db-upgrade` first?)")
        raise typer.Exit(2) from exc
    finally:
        progress.stop()
        engine.dispose()
    versions = ", ".join(str(v) for v in rotation.versions)
    if resume:
        console.print(
            f"pseudonym key version {rotation.current} is current; {rotation.people} people re-keyed"
        )
    else:
        console.print(
            f"pseudonym key version {rotation.current} is now current (was {rotation.previous}); "
            f"versions held: {versions}; {rotation.people} people re-keyed"
        )
        console.print(
            "Restart every platform process so that ingest writes under the new version, and back up "
            f"{escape(str(settings.resolved_pseudonym_key_file))} now. Old versions stay until retention has "
            "removed the data written under them (docs/keys.md)."
        )


users_app = typer.Typer(
    help="Create and manage accounts (the first administrator starts here).", no_args_is_help=True
)
app.add_typer(users_app, name="users")
audit_app = typer.Typer(help="Verify and seal the audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _read_password(password_file: Path | None, username: str) -> str:
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {password_file}: {exc.strerror}", param_hint="--password-file"
            ) from exc
    return str(typer.prompt(f"Password for {username}", hide_input=True, confirmation_prompt=True))


def _account_command(username: str, change: Any) -> None:
    """Run `change(session, account, now)` on one account, audited, with clear errors."""
    from safecity.security import accounts
    from safecity.security.audit import AuditEntry, subject
    from safecity.security.errors import AccountError
    from safecity.store import transaction

    settings = _settings()
    platform = build_platform(settings)
    now = platform.clock.now()
    try:
        with transaction(platform.session_factory) as session:
            account = accounts.find_account(session, username)
            action, shown = change(session, account, now)
    except AccountError as exc:
        err.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(1) from exc
    platform.security.record(_os_actor(), AuditEntry(action, "cli", subjects=[subject("account", username)]))
    console.print(shown)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="3-64 of a-z 0-9 . _ -")],
    role: Annotated[
        str,
        typer.Option(
            help="patrol_officer, community_officer, dispatcher, investigator, "
            "commander, auditor, administrator, landlord, guard, committee_worker, "
            "liaison or citizen."
        ),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    unit: Annotated[
        str, typer.Option(help="Station, company or office shown to data subjects.")
    ] = "safecity",
    area: Annotated[list[str] | None, typer.Option(help="Area id the account reaches (repeatable).")] = None,
    city_wide: Annotated[
        bool | None, typer.Option("--city-wide/--area-only", help="Reach the whole city.")
    ] = None,
    person_id: Annotated[int | None, typer.Option(help="Registry person of a citizen account.")] = None,
    totp: Annotated[
        bool | None,
        typer.Option(
            "--totp/--no-totp", help="Second factor (always on for investigator, commander, administrator)."
        ),
    ] = None,
    password_file: Annotated[
        Path | None, typer.Option(help="Read the password from this file, not a prompt.")
    ] = None,
) -> None:
    """Create an account; prints its one-time-code secret once when it has one."""
    from safecity.security import accounts
    from safecity.security.audit import AuditEntry, subject
    from safecity.security.errors import AccountError
    from safecity.security.passwords import totp_uri
    from safecity.security.roles import Role
    from safecity.store import transaction

    try:
        role_value = Role(role)
    except ValueError:
        err.print(f"[red]unknown role {escape(role)!r}[/red]; roles: {', '.join(r.value for r in Role)}")
        raise typer.Exit(2) from None
    password = _read_password(password_file, username)
    settings = _settings()
    platform = build_platform(settings)
    new = accounts.NewAccount(
        username=username,
        display_name=name or username,
        role=role_value,
        unit=unit,
        password=password,
        areas=tuple(area or ()),
        city_wide=city_wide,
        person_id=person_id,
        with_totp=totp,
    )
    try:
        with transaction(platform.session_factory) as session:
            account, secret = accounts.create_account(
                session, new, by=_os_actor().name, now=platform.clock.now()
            )
            created = account.username
    except AccountError as exc:
        err.print(f"[red]{escape(exc.message)}[/red]" + (f" ({exc.field})" if exc.field else ""))
        raise typer.Exit(1) from exc
    platform.security.record(
        _os_actor(),
        AuditEntry(
            "users.create", "cli", subjects=[subject("account", created)], detail={"role": role_value.value}
        ),
    )
    console.print(f"created [bold]{escape(created)}[/bold] ({role_value.value})")
    if secret:
        console.print(
            f"one-time-code secret (shown once; add it to an authenticator app): [bold]{secret}[/bold]"
        )
        console.print(f"  {escape(totp_uri(secret, created))}")


@users_app.command("list")
def users_list() -> None:
    """Every account: role, areas, state."""
    from sqlalchemy import select

    from safecity.security.models import Account

    platform = build_platform(_settings())
    table = Table("username", "role", "unit", "areas", "second factor", "state")
    with platform.session_factory() as session:
        for a in session.scalars(select(Account).order_by(Account.username)):
            state = "disabled" if a.disabled else ("locked" if a.locked_until else "active")
            areas = "city-wide" if a.city_wide else ", ".join(a.areas or []) or "-"
            table.add_row(a.username, a.role, a.unit, areas, "yes" if a.totp_secret else "no", state)
    console.print(table)


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Disable an account; its sessions end at once."""
    from safecity.security import accounts

    def change(session: Any, account: Any, now: datetime) -> tuple[str, str]:
        accounts.set_disabled(session, account, True, now=now)
        return "users.disable", f"{account.username} disabled; its sessions are ended"

    _account_command(username, change)


@users_app.command("enable")
def users_enable(username: str) -> None:
    """Let a disabled account sign in again."""
    from safecity.security import accounts

    def change(session: Any, account: Any, now: datetime) -> tuple[str, str]:
        accounts.set_disabled(session, account, False, now=now)
        return "users.enable", f"{account.username} enabled"

    _account_command(username, change)


@users_app.command("unlock")
def users_unlock(username: str) -> None:
    """Clear failed sign-ins and any lockout."""
    from safecity.security import accounts

    def change(session: Any, account: Any, now: datetime) -> tuple[str, str]:
        accounts.unlock(account)
        return "users.unlock", f"{account.username} unlocked"

    _account_command(username, change)


@users_app.command("reset-password")
def users_reset_password(
    username: str,
    password_file: Annotated[
        Path | None, typer.Option(help="Read the password from this file, not a prompt.")
    ] = None,
) -> None:
    """Set a new password; every session of the account ends."""
    from safecity.security import accounts

    password = _read_password(password_file, username)

    def change(session: Any, account: Any, now: datetime) -> tuple[str, str]:
        accounts.set_password(session, account, password, now=now)
        return "users.password", f"{account.username}: password replaced, sessions ended"

    _account_command(username, change)


@users_app.command("reset-totp")
def users_reset_totp(username: str) -> None:
    """Issue a new one-time-code secret (printed once)."""
    from safecity.security import accounts

    def change(session: Any, account: Any, now: datetime) -> tuple[str, str]:
        secret = accounts.reset_totp(account)
        return "users.totp", f"{account.username}: new one-time-code secret (shown once): {secret}"

    _account_command(username, change)


@audit_app.command("verify")
def audit_verify(
    public_key: Annotated[
        Path | None,
        typer.Option(help="Audit public key (PEM) to check seals with; default: beside the key file."),
    ] = None,
) -> None:
    """Walk the hash chain; report the first broken link, a cut-off end, or a bad seal. Exit 1 if any."""
    import time

    from safecity.security.keys import KeyError_, load_public_key

    settings = _settings()
    platform = build_platform(settings)
    # The current key's public half, and retired ones kept beside it (audit-signing.<id>.pub).
    paths = [public_key] if public_key else sorted(settings.resolved_audit_key_file.parent.glob("*.pub"))
    try:
        keys = [load_public_key(p) for p in paths if p.exists()]
    except (ValueError, KeyError_) as exc:
        err.print(f"[red]cannot read the audit public key:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    started = time.perf_counter()
    report = platform.security.audit.verify(public_key=keys or None)
    seconds = time.perf_counter() - started
    if report.ok:
        console.print(
            f"[green]audit chain intact[/green]: {report.records:,} records to #{report.last_seq}, "
            f"{report.seals_checked} seal(s) verified"
            + (f", {report.seals_unverified} not checked (no public key)" if report.seals_unverified else "")
            + f" in {seconds:.2f} s"
        )
        return
    err.print(f"[red]audit chain broken at record #{report.broken_seq}[/red]: {escape(report.reason or '')}")
    err.print(f"{report.records:,} records before it verified.")
    raise typer.Exit(1)


@audit_app.command("seal")
def audit_seal() -> None:
    """Sign the chain's head now (the server also does this every audit_seal_interval_s)."""
    from safecity.security.keys import KeyError_, load_audit_key

    settings = _settings()
    platform = build_platform(settings)
    try:
        key = load_audit_key(settings.resolved_audit_key_file, generate=settings.auto_generate_keys)
    except KeyError_ as exc:
        err.print(f"[red]key problem:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    seal = platform.security.audit.seal(key, at=platform.clock.now())
    if seal is None:
        console.print("nothing new to seal")
    else:
        console.print(f"sealed record #{seal.seq} ({seal.hash[:16]}…) with key {seal.key_id}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
