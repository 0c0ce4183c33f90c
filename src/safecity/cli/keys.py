"""`safecity keys`: create the key files, rotate the pseudonym key and re-key the registry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import TaskID
from rich.table import Table

from safecity.cli.common import console, database_problem, fail, operator, progress, settings

group = typer.Typer(help="Create and rotate the key files: token, pseudonym, audit.", no_args_is_help=True)


@group.command("init")
def init() -> None:
    """Create whichever key files are missing (token, pseudonym, audit signing); never overwrite one."""
    from safecity.security.keys import KeyError_, init_key_files, refuse_keys_inside

    cfg = settings()
    try:
        if not cfg.auto_generate_keys:
            refuse_keys_inside(cfg.data_dir, cfg.key_files)
        files = init_key_files(
            token=cfg.resolved_token_key_file,
            pseudonym=cfg.resolved_pseudonym_key_file,
            audit=cfg.resolved_audit_key_file,
        )
    except (KeyError_, OSError) as exc:
        fail(str(exc))
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


@group.command("rotate-pseudonym")
def rotate_pseudonym(
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

    from safecity.security import admin
    from safecity.security.keys import KeyError_
    from safecity.store import make_engine, make_session_factory

    cfg = settings()
    engine = make_engine(cfg.resolved_database_url)
    bar = progress()
    task: list[TaskID] = []

    def start(total: int) -> None:  # only once the key file and the database have been read
        bar.start()
        task.append(bar.add_task("re-keying people", total=total))

    try:
        rotation = admin.rotate_pseudonym(
            make_session_factory(engine),
            cfg.resolved_pseudonym_key_file,
            operator(),
            resume=resume,
            now=datetime.now(UTC),
            on_start=start,
            progress=lambda done: bar.advance(task[0], done),
        )
    except KeyError_ as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        database_problem(cfg.resolved_database_url, reason, " (`safecity db-upgrade` first?)")
    finally:
        bar.stop()
        engine.dispose()
    if resume:
        console.print(
            f"pseudonym key version {rotation.current} is current; {rotation.people} people re-keyed"
        )
        return
    versions = ", ".join(str(v) for v in rotation.versions)
    console.print(
        f"pseudonym key version {rotation.current} is now current (was {rotation.previous}); "
        f"versions held: {versions}; {rotation.people} people re-keyed"
    )
    console.print(
        "Restart every platform process so that ingest writes under the new version, and back up "
        f"{escape(str(cfg.resolved_pseudonym_key_file))} now. Old versions stay until retention has "
        "removed the data written under them (docs/keys.md)."
    )


def register(app: typer.Typer) -> None:
    """`safecity keys ...`."""
    app.add_typer(group, name="keys")
