"""`safecity vehicles`: import the city's vehicle registry (机动车登记) from the vehicle office's CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from safecity.cli.common import build_platform, console, err, fail, operator, settings

group = typer.Typer(help="The city's vehicle registry: import it from CSV.", no_args_is_help=True)


@group.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header: plate, plate_colour, vehicle_type, body_colour, registered_at, and "
            "optionally make_model, owner_id, status (docs/workbench.md)."
        ),
    ],
    replace: Annotated[
        bool, typer.Option(help="Replace the whole registry with the file (plates it lacks are removed).")
    ] = False,
    encoding: Annotated[str, typer.Option(help="The file's encoding (gb18030 for many office exports).")] = (
        "utf-8-sig"
    ),
) -> None:
    """Create or replace each plate's registration from FILE, all or nothing; every problem is named
    by line and column."""
    from safecity.workbench.vehicle_registry import RegistrationsRefused, VehicleRegistry

    try:
        text = file.read_text(encoding=encoding)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}", code=2)
    except (LookupError, UnicodeDecodeError) as exc:
        fail(f"{file} is not {encoding} text ({exc}); name its encoding with --encoding", code=2)
    platform = build_platform(settings())
    try:
        report = platform.service(VehicleRegistry).import_csv(
            operator(), text, replace=replace, resource=f"safecity vehicles import {file.name}"
        )
    except RegistrationsRefused as exc:
        err.print(f"[red]{escape(str(file))}: {len(exc.problems)} problem(s), nothing imported[/red]")
        for problem in exc.problems[:100]:
            err.print(f"  - {escape(str(problem))}")
        if len(exc.problems) > 100:
            err.print(f"  (and {len(exc.problems) - 100} more)")
        raise typer.Exit(1) from None
    removed = f", {report.removed} removed" if replace else ""
    console.print(
        f"[green]imported[/green] {escape(str(file))}: {report.created} new registration(s), "
        f"{report.updated} replaced{removed}"
    )


def register(app: typer.Typer) -> None:
    """`safecity vehicles ...`."""
    app.add_typer(group, name="vehicles")
