"""`safecity audit`: verify the hash chain and its seals, seal the head now."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from safecity.cli.common import build_platform, console, err, operator, settings

group = typer.Typer(help="Verify and seal the audit trail.", no_args_is_help=True)


@group.command("verify")
def verify(
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            help="Audit public key(s) (PEM) to check seals with; default: every .pub beside the key."
        ),
    ] = None,
    seal_journal: Annotated[
        Path | None,
        typer.Option(
            help="The seal journal kept outside the database; default: audit-seals.jsonl beside the key."
        ),
    ] = None,
) -> None:
    """Walk the chain, its subject index, head, seals and seal journal.

    Exit 1 on the first problem found, 2 when a key or the journal cannot be read.
    """
    from safecity.security import audit_review
    from safecity.security.settings import SecuritySettings

    cfg = settings()
    platform = build_platform(cfg)
    # The current key's public half, and retired ones kept beside it (audit-signing.<id>.pub).
    paths = public_key or sorted(cfg.resolved_audit_key_file.parent.glob("*.pub"))
    try:
        inputs = audit_review.verify_inputs(
            paths, seal_journal or cfg.resolved_seal_journal, journal_required=seal_journal is not None
        )
    except ValueError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    started = time.perf_counter()
    report = audit_review.verify_audit(
        platform.security,
        operator(),
        inputs,
        max_unsealed_s=cfg.section(SecuritySettings).audit_max_unsealed_s,
        resource="safecity audit verify",
    )
    seconds = time.perf_counter() - started
    if report.ok:
        journal = f", {report.journal_checked} in the seal journal" if inputs.journal is not None else ""
        console.print(
            f"[green]audit chain intact[/green]: {report.records:,} records to #{report.last_seq}, "
            f"{report.seals_checked} seal(s) verified{journal}, subject index complete in {seconds:.2f} s"
        )
        return
    err.print(f"[red]audit chain broken at record #{report.broken_seq}[/red]: {escape(report.reason or '')}")
    err.print(f"{report.records:,} records before it verified.")
    raise typer.Exit(1)


@group.command("seal")
def seal() -> None:
    """Sign the chain's head now (the server also does this every audit_seal_interval_s)."""
    from safecity.security.keys import KeyError_, load_audit_key

    cfg = settings()
    platform = build_platform(cfg)
    try:
        key = load_audit_key(cfg.resolved_audit_key_file, generate=cfg.auto_generate_keys)
    except KeyError_ as exc:
        err.print(f"[red]key problem:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    sealed = platform.security.audit.seal(key, at=platform.clock.now())
    if sealed is None:
        console.print("nothing new to seal")
    else:
        console.print(f"sealed record #{sealed.seq} ({sealed.hash[:16]}…) with key {sealed.key_id}")


def register(app: typer.Typer) -> None:
    """`safecity audit ...`."""
    app.add_typer(group, name="audit")
