"""`safecity users`: accounts from the server's command line (where the first administrator starts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safecity.cli.common import build_platform, console, fail, operator, settings
from safecity.security.admin import AccountChange, AccountResult

group = typer.Typer(
    help="Create and manage accounts (the first administrator starts here).", no_args_is_help=True
)

PasswordFile = Annotated[Path | None, typer.Option(help="Read the password from this file, not a prompt.")]
RESOURCE = "cli"  # what the audit trail names as the resource of a command-line change


def _read_password(password_file: Path | None, username: str) -> str:
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {password_file}: {exc.strerror}", param_hint="--password-file"
            ) from exc
    return str(typer.prompt(f"Password for {username}", hide_input=True, confirmation_prompt=True))


@group.command("create")
def create(
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
            "--totp/--no-totp",
            help="Second factor (always on for investigator, commander, administrator); "
            "the user sets it up at the first sign-in.",
        ),
    ] = None,
    password_file: PasswordFile = None,
) -> None:
    """Create an account; one with a second factor sets up its one-time code at its first sign-in."""
    from safecity.security import AccountError, Role, accounts, admin

    try:
        role_value = Role(role)
    except ValueError:
        fail(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}", 2)
    password = _read_password(password_file, username)
    platform = build_platform(settings())
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
        result = admin.create_user(platform.security, operator(), new, resource=RESOURCE)
    except AccountError as exc:
        fail(exc.message + (f" ({exc.field})" if exc.field else ""))
    created = result.user.username
    console.print(f"created [bold]{escape(created)}[/bold] ({role_value.value})")
    if result.user.totp_enrolment_due:
        console.print(
            "it sets up its one-time code at its first sign-in (the key is shown to its user alone)"
        )


@group.command("list")
def list_() -> None:
    """Every account: role, areas, state."""
    from safecity.security import admin

    platform = build_platform(settings())
    now = platform.security.now()
    table = Table("username", "role", "unit", "areas", "second factor", "state")
    for u in admin.list_users(platform.security):
        slowed = u.locked_until is not None and u.locked_until > now
        state = "disabled" if u.disabled else ("slowed down" if slowed else "active")
        areas = "city-wide" if u.city_wide else ", ".join(u.areas) or "-"
        factor = "yes" if u.has_totp else ("at next sign-in" if u.totp_enrolment_due else "no")
        table.add_row(u.username, u.role, u.unit, areas, factor, state)
    console.print(table)


def _change(username: str, change: AccountChange, password: str | None = None) -> AccountResult:
    """Apply one change to an account, audited; the account after it (and any new secret)."""
    from safecity.security import AccountError, admin

    platform = build_platform(settings())
    try:
        result = admin.change_user(
            platform.security, operator(), username, change, resource=RESOURCE, password=password
        )
    except AccountError as exc:
        fail(exc.message)
    return result


@group.command("disable")
def disable(username: str) -> None:
    """Disable an account; its sessions end at once."""
    name = _change(username, AccountChange.DISABLE).user.username
    console.print(f"{escape(name)} disabled; its sessions are ended")


@group.command("enable")
def enable(username: str) -> None:
    """Let a disabled account sign in again."""
    name = _change(username, AccountChange.ENABLE).user.username
    console.print(f"{escape(name)} enabled")


@group.command("unlock")
def unlock(username: str) -> None:
    """Clear failed sign-ins, the lockout of every address and the account's slow path."""
    name = _change(username, AccountChange.UNLOCK).user.username
    console.print(f"{escape(name)} unlocked")


@group.command("reset-password")
def reset_password(username: str, password_file: PasswordFile = None) -> None:
    """Set a new password; every session of the account ends."""
    name = _change(username, AccountChange.PASSWORD, _read_password(password_file, username)).user.username
    console.print(f"{escape(name)}: password replaced, sessions ended")


@group.command("reset-totp")
def reset_totp(username: str) -> None:
    """Forget the one-time-code key (a lost phone): the user sets up a new one at the next sign-in."""
    name = _change(username, AccountChange.TOTP).user.username
    console.print(f"{escape(name)}: one-time code cleared; it is set up again at the next sign-in")


def register(app: typer.Typer) -> None:
    """`safecity users ...`."""
    app.add_typer(group, name="users")
