"""Operating the stores: the lake's files, the ingest reconciliation, dead letters, migrations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safecity.cli.common import console, err, settings

lake_group = typer.Typer(help="Operate the Parquet lake.", no_args_is_help=True)


@lake_group.command("compact")
def lake_compact() -> None:
    """Merge small files into sorted ones (safe to run at any time, and repeatedly)."""
    from safecity.lake import Lake

    report = Lake(settings().resolved_lake_dir).compact(min_files=2)
    console.print(
        f"compacted {report.partitions} partitions: {report.files_in} files -> "
        f"{report.files_out}, {report.rows} rows"
    )


@lake_group.command("partitions")
def lake_partitions() -> None:
    """List the lake's partitions with file and row counts."""
    from safecity.lake import Lake

    table = Table(title="lake partitions")
    for col in ("date", "kind", "files", "rows", "bytes"):
        table.add_column(col, justify="right")
    for p in Lake(settings().resolved_lake_dir).partitions():
        table.add_row(str(p.date), p.kind, str(p.files), str(p.rows), str(p.bytes))
    console.print(table)


def reconcile() -> None:
    """Check that accepted = stored + dead-lettered and that the lake and dead-letter store agree."""
    cfg = settings()
    from safecity.ingest.reconcile import reconcile as run
    from safecity.lake import Lake
    from safecity.store import make_engine, make_session_factory

    engine = make_engine(cfg.resolved_database_url)
    result = run(make_session_factory(engine), Lake(cfg.resolved_lake_dir))
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


def deadletters(limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """Show the newest dead letters with their reasons."""
    from safecity.ingest import dead_letters
    from safecity.store import make_engine, make_session_factory

    engine = make_engine(settings().resolved_database_url)
    table = Table(title="dead letters")
    for col in ("received", "device", "index", "event id", "field", "reason"):
        table.add_column(col)
    for d in dead_letters.newest(make_session_factory(engine), limit=limit):
        table.add_row(
            d.received_at.isoformat(timespec="seconds"),
            escape(d.device_id or ""),  # dead letters hold what senders wrote: never markup
            str(d.index),
            escape(d.event_id or ""),
            escape(d.field or ""),
            escape(d.reason),
        )
    console.print(table)
    engine.dispose()


def db_upgrade() -> None:
    """Apply database migrations up to the newest schema."""
    from safecity.store import upgrade_to_head

    upgrade_to_head(settings().resolved_database_url)
    console.print("database is at the newest schema")


def register(app: typer.Typer) -> None:
    """`safecity lake ...`, `reconcile`, `deadletters`, `db-upgrade`."""
    app.add_typer(lake_group, name="lake")
    app.command()(reconcile)
    app.command()(deadletters)
    app.command("db-upgrade")(db_upgrade)
