"""`safecity audit`: verify the hash chain and its seals, seal the head now."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from safecity.cli.common import build_platform, console, err, settings

group = typer.Typer(help="Verify and seal the audit trail.", no_args_is_help=True)


@group.command("verify")
def verify(
    public_key: Annotated[
        Path | None,
        typer.Option(help="Audit public key (PEM) to check seals with; default: beside the key file."),
    ] = None,
) -> None:
    """Walk the hash chain; report the first broken link, a cut-off end, or a bad seal. Exit 1 if any."""
    from safecity.security.keys import KeyError_, load_public_key

    cfg = settings()
    platform = build_platform(cfg)
    # The current key's public half, and retired ones kept beside it (audit-signing.<id>.pub).
    paths = [public_key] if public_key else sorted(cfg.resolved_audit_key_file.parent.glob("*.pub"))
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
