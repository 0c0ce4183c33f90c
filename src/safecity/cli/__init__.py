"""The `safecity` command: one Typer app, one module per command group.

A capability that brings commands adds a module here with a `register(app)` function and
names it in `GROUPS`; the modules stay thin: they parse options, call the capability's use
cases and print, so that the web API and the command line cannot drift apart.
"""

from __future__ import annotations

import typer

from safecity.cli import audit, data, keys, retention, rules, run, users
from safecity.cli.common import build_platform, configure_logging

GROUPS = (run, rules, data, retention, keys, users, audit)

app = typer.Typer(
    help="safecity: city public-safety platform.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
for _group in GROUPS:
    _group.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "build_platform", "configure_logging", "main"]
