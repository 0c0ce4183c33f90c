"""`safecity devices`: bind a tracker's own terminal id (GT06 IMEI, JT/T 808 phone number) to it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from safecity.cli.common import build_platform, console, fail, operator, settings

group = typer.Typer(help="Field devices: bind trackers' terminal ids.", no_args_is_help=True)


@group.command("bind-terminal")
def bind_terminal(
    device_id: Annotated[str, typer.Argument(help="The registered tracker device.")],
    protocol: Annotated[str, typer.Option(help="`gt06` or `jt808`.")],
    terminal: Annotated[
        str,
        typer.Option(help="GT06: the 15-digit IMEI; JT/T 808: the phone number as sent, 12 or 20 digits."),
    ],
    utc_offset_minutes: Annotated[
        int, typer.Option(help="For terminals sending local time: its offset from UTC (480: Beijing).")
    ] = 0,
) -> None:
    """Bind TERMINAL to the tracker DEVICE_ID so that its logins are accepted (audited)."""
    from pydantic import ValidationError

    from safecity.registry import InvalidInput, RegistryError
    from safecity.registry.schemas import TerminalIn

    try:
        given = TerminalIn.model_validate(
            {"protocol": protocol, "terminal": terminal, "utc_offset_minutes": utc_offset_minutes}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "input"
        fail(f"--{field.replace('_', '-')}: {first['msg']}", code=2)
    platform = build_platform(settings())
    try:
        bound = platform.registry.bind_terminal(
            operator(),
            device_id,
            protocol=given.protocol.value,
            terminal=given.terminal,
            utc_offset_minutes=given.utc_offset_minutes,
            resource=f"safecity devices bind-terminal {device_id}",
        )
    except InvalidInput as exc:
        fail(f"{exc.message} ({exc.field})", code=2)
    except RegistryError as exc:
        fail(f"{exc.message} ({exc.field})")
    console.print(
        f"[green]bound[/green] {escape(bound.protocol)} terminal {escape(bound.terminal)} to "
        f"{escape(bound.device_id)} (UTC offset {bound.utc_offset_minutes} min)"
    )


def register(app: typer.Typer) -> None:
    """`safecity devices ...`."""
    app.add_typer(group, name="devices")
