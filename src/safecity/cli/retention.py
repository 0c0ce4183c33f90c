"""`safecity retention`: show the policy in force and apply it (audited, safe to repeat)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safecity.cli.common import (
    configure_logging,
    console,
    database_problem,
    operator,
    parse_day,
    print_problems,
    settings,
)
from safecity.core.configfile import in_force
from safecity.ingest.settings import IngestSettings
from safecity.security.retention import DEFAULT_RETENTION_FILE
from safecity.security.settings import SecuritySettings
from safecity.settings import Settings

group = typer.Typer(help="Show and apply the retention policy.", no_args_is_help=True)


def retention_path(settings: Settings) -> Path:
    """The policy in force: configured, else <data_dir>/retention.yaml if present, else the packaged one."""
    configured = settings.section(SecuritySettings).retention_file
    return in_force(configured, settings.data_dir / "retention.yaml", DEFAULT_RETENTION_FILE)


def accepting_since(settings: Settings, now: datetime) -> date:
    """The oldest day ingest still accepts events for: partitions from it on may still grow."""
    return (now - timedelta(seconds=settings.section(IngestSettings).max_event_age_s)).date()


def _policy(path: Path) -> Any:
    from safecity.security.retention import RetentionError, load_policy

    try:
        return load_policy(path)
    except RetentionError as exc:
        print_problems(exc)
        raise typer.Exit(1) from exc


@group.command("show")
def show(
    as_of: Annotated[str | None, typer.Option(help="Show cut-offs as of this day (YYYY-MM-DD).")] = None,
) -> None:
    """Print the retention policy in force and what it keeps as of a day."""
    from safecity.security.retention import AUDIT_KEPT, registry_entries

    day = parse_day(as_of, "--as-of")
    path = retention_path(settings())
    policy = _policy(path)
    lake = Table(title=f"lake retention ({escape(str(path))})")
    for col in ("kind", "days", f"keeps days from (as of {day})"):
        lake.add_column(col)
    for kind, days in sorted(policy.lake.items()):
        lake.add_row(kind, str(days), str(policy.lake_cutoff(kind, day)))
    console.print(lake)
    registry = Table(
        title="registry retention (days after what the rows record ended; cut-offs at 00:00 UTC)"
    )
    # Names are what the policy file is written in: one table a line, and nothing cut short on
    # an 80-column terminal (a cut-off is always 00:00 UTC, so its day says it).
    for col in ("entry", "days", "deletes from", "ended before"):
        registry.add_column(col, no_wrap=True)
    for entry in registry_entries():
        cutoff = policy.registry_cutoff(entry.name, day).date().isoformat()
        registry.add_row(entry.name, str(policy.registry_days(entry.name)), "\n".join(entry.tables), cutoff)
    registry.add_row("audit_records", "kept", "nothing", "-")
    console.print(registry)
    console.print(f"audit records: {AUDIT_KEPT}")


@group.command("apply")
def apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go; delete nothing.")] = False,
    as_of: Annotated[
        str | None, typer.Option(help="Apply as of this day (YYYY-MM-DD, UTC; default today).")
    ] = None,
) -> None:
    """Delete lake partitions and registry rows past their retention, and audit it; safe to repeat."""
    cfg = settings()
    configure_logging(cfg)
    from sqlalchemy.exc import OperationalError

    from safecity.lake import Lake
    from safecity.security import actor_of
    from safecity.security import retention_run as maintenance
    from safecity.store import make_engine, make_session_factory, upgrade_to_head

    now = datetime.now(UTC)
    day = parse_day(as_of, "--as-of")
    if day > now.date() and not dry_run:
        raise typer.BadParameter(f"{day} is after today; only a dry run may look ahead", param_hint="--as-of")
    path = retention_path(cfg)
    policy = _policy(path)
    url = cfg.resolved_database_url
    try:
        upgrade_to_head(url)
    except OperationalError as exc:
        database_problem(url, exc.orig)
    engine = make_engine(url)
    lake = Lake(cfg.resolved_lake_dir)
    factory = make_session_factory(engine)
    since = accepting_since(cfg, now)
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
                actor=actor_of(operator()),
                accepting_since=since,
                source=str(path),
            )
    finally:
        lake.close()
        engine.dispose()
    _print_report(report)


def _print_report(report: Any) -> None:
    verb = "would go" if report.dry_run else "deleted"
    table = Table(title=f"retention as of {report.as_of}: {verb}")
    for col in ("store", "kind or table", "dates", "partitions", "rows"):
        table.add_column(col, justify="right" if col in ("partitions", "rows") else "left")
    for kind, group_ in report.lake_by_kind().items():
        first, last = group_["first"], group_["last"]
        dates = first if first == last else f"{first} .. {last}"
        table.add_row("lake", kind, dates, str(group_["partitions"]), str(group_["rows"]))
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


def register(app: typer.Typer) -> None:
    """`safecity retention ...`."""
    app.add_typer(group, name="retention")
