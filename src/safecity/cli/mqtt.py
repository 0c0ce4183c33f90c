"""`safecity mqtt`: the MQTT broker's side of device authentication."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from safecity.cli.common import build_platform, configure_logging, console, err, settings
from safecity.ingest.broker import PLATFORM_PASSWORD_FILE, PLATFORM_USER, write_broker_config
from safecity.ingest.settings import IngestSettings

WRITTEN = "password_file, acl_file and mosquitto.conf"

group = typer.Typer(help="MQTT broker set-up: each device signs in as itself.", no_args_is_help=True)


@group.command("broker-config")
def broker_config(
    out: Annotated[Path, typer.Option(help="Folder to write password_file, acl_file and mosquitto.conf to.")],
    listen: Annotated[
        str, typer.Option(help="The broker's listener for the snippet: PORT or HOST:PORT.")
    ] = "1883",
    platform_user: Annotated[
        str, typer.Option(help="User name of the platform's own ingest client.")
    ] = PLATFORM_USER,
) -> None:
    """Write a Mosquitto password file and ACL pinning each active device to its own topics."""
    cfg = settings()
    configure_logging(cfg)
    platform = build_platform(cfg)
    written = write_broker_config(
        platform.session_factory,
        out,
        prefix=cfg.section(IngestSettings).mqtt_topic_prefix,
        listen=listen,
        platform_user=platform_user,
    )
    platform.engine.dispose()
    folder = escape(str(written.out_dir))
    console.print(
        f"wrote {WRITTEN} for {written.devices:,} devices and the platform's account "
        f"'{escape(written.platform_user)}' to {folder}",
        soft_wrap=True,
    )
    if written.missing:
        shown = ", ".join(written.missing[:10]) + (" ..." if len(written.missing) > 10 else "")
        err.print(
            f"[yellow]{len(written.missing):,} active devices have no broker password yet (their secret "
            f"was issued before broker hashes); rotate their secrets and run this again:[/yellow] "
            f"{escape(shown)}",
            soft_wrap=True,
        )
    password_file = written.out_dir / PLATFORM_PASSWORD_FILE
    host = written.listen_host or "127.0.0.1"
    console.print(
        f"Include {folder}/mosquitto.conf in the broker's configuration, then run the platform with\n"
        f'  SAFECITY_MQTT_URL="mqtt://{escape(written.platform_user)}:$(cat {escape(str(password_file))})'
        f'@{host}:{written.listen_port}"\n'
        "Run this again after registering, rotating or revoking a device, then reload the broker "
        "(kill -HUP its process, or systemctl reload mosquitto).",
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """The `safecity mqtt` group."""
    app.add_typer(group, name="mqtt")
