"""The `safecity` command: one Typer app, one module per command group.

A capability that brings commands adds a module here with a `register(app)` function;
`groups()` finds every such module (`run` first, then by name), so nothing central lists them.
The modules stay thin: they parse options, call the capability's use cases and print, so that
the web API and the command line cannot drift apart.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from types import ModuleType

import typer
from rich.markup import escape

from safecity.cli.common import build_platform, configure_logging, err
from safecity.core.errors import AccessDenied, DomainError
from safecity.core.filemode import PRIVATE_UMASK


def groups() -> list[ModuleType]:
    """Every module of this package with a `register(app)`: `run` first, the rest by name."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: (i.name != "run", i.name)):
        if info.name.startswith("_"):
            continue  # __main__ runs the app; importing it here would import this module again
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "register", None)):
            found.append(module)
    return found


GROUPS = tuple(groups())

app = typer.Typer(
    help="safecity: city public-safety platform.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
for _group in GROUPS:
    _group.register(app)


def main() -> None:
    """Console-script entry point; a use case's refusal is one clear line, never a traceback."""
    # Whatever any library writes for us (SQLite journals, Parquet, the demo city) is ours alone.
    os.umask(PRIVATE_UMASK)
    try:
        app()
    except (DomainError, AccessDenied) as exc:
        where = f" ({exc.field})" if exc.field else ""
        err.print(f"[red]{escape(exc.message)}{where}[/red]")
        sys.exit(1)


__all__ = ["app", "build_platform", "configure_logging", "main"]
