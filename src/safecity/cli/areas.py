"""`safecity areas`: load a city's own districts, police station areas and communities from GeoJSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from safecity.cli.common import build_platform, console, fail, operator, settings

group = typer.Typer(help="The city's areas: import them from GeoJSON.", no_args_is_help=True)


@group.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="GeoJSON FeatureCollection, a Feature per area.")],
    place_devices: Annotated[
        bool, typer.Option(help="Give devices without an area the area that holds their position.")
    ] = True,
) -> None:
    """Create or update the areas of FILE by id, all or nothing; every problem is named with where it is."""
    from safecity.registry import RegistryError

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}", code=2)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{file} is not JSON: {exc}", code=2)
    platform = build_platform(settings())
    try:
        report = platform.registry.import_areas(
            operator(), doc, place_devices=place_devices, resource=f"safecity areas import {file.name}"
        )
    except RegistryError as exc:
        fail(f"{file}: {exc.message}")
    console.print(
        f"[green]imported[/green] {escape(str(file))}: {report.created} new area(s), "
        f"{report.updated} updated, {report.devices_placed} device(s) placed in the area that holds them"
    )


def register(app: typer.Typer) -> None:
    """`safecity areas ...`."""
    app.add_typer(group, name="areas")
