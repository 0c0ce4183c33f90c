"""What every `safecity` command shares: the consoles, settings, the platform, logs, parsing.

Results go to stdout (`console`), progress bars, logs and errors to stderr (`err`), so that a
command's output can be piped. Errors a person can act on are printed as one line that says
what is wrong and where, and exit non-zero; never a traceback.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, date, datetime
from typing import Any, NoReturn

import structlog
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from safecity.core.configfile import ConfigFileError
from safecity.core.context import Context, operator_context
from safecity.settings import Settings

console = Console()
err = Console(stderr=True)


def settings() -> Settings:
    """The settings from SAFECITY_* variables, or a clear configuration error (exit 2)."""
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable and the problem
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line (the message is never read as markup) and exit."""
    err.print(f"[red]{escape(message)}[/red]")
    raise typer.Exit(code)


def print_problems(exc: ConfigFileError) -> None:
    """Every problem of a configuration file, each with where it is; verbatim, never as markup."""
    err.print(f"[red]{exc.what} {escape(exc.source)}: {len(exc.problems)} problem(s)[/red]")
    for problem in exc.problems:
        err.print(f"  - {escape(problem)}")


def database_problem(url: str, reason: object, hint: str = "") -> NoReturn:
    """The database cannot be used: say which (its URL, password hidden) and why; exit 2."""
    err.print(f"[red]cannot use the database {escape(repr(url))}:[/red] {escape(str(reason))}{hint}")
    raise typer.Exit(2)


def build_platform(cfg: Settings, clock: Any = None, wall_clock: Any = None) -> Any:
    """Build the platform, turning configuration and connection problems into clear messages."""
    from sqlalchemy.exc import OperationalError

    from safecity.platform import Platform
    from safecity.security.keys import KeyError_

    try:
        return Platform.build(cfg, clock=clock, wall_clock=wall_clock)
    except KeyError_ as exc:
        err.print(f"[red]key problem:[/red] {escape(str(exc))}")
    except ConfigFileError as exc:
        print_problems(exc)
    except OperationalError as exc:
        database_problem(cfg.resolved_database_url, exc.orig)
    raise typer.Exit(2)


def configure_logging(cfg: Settings) -> None:
    """Structured logs: console text by default, JSON lines with SAFECITY_LOG_JSON=true."""
    import logging

    logging.basicConfig(level=log_level(cfg), format="%(message)s", stream=sys.stderr)
    renderer: Any = structlog.processors.JSONRenderer() if cfg.log_json else structlog.dev.ConsoleRenderer()
    # Logs go to stderr like the progress bars: stdout carries only results (replay's JSON totals).
    configure_structlog(cfg, renderer, sys.stderr)


def log_level(cfg: Settings) -> int:
    """The configured level; libraries that log every request or migration step are held at WARNING."""
    import logging

    level: int = getattr(logging, cfg.log_level.upper(), logging.INFO)
    for noisy in ("httpx", "httpcore", "alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    return level


def configure_structlog(cfg: Settings, renderer: Any, stream: Any) -> None:
    """The platform's structured log lines, rendered by `renderer` into `stream`."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(log_level(cfg)),
        logger_factory=structlog.PrintLoggerFactory(stream),
    )


def progress() -> Progress:
    """A progress bar on stderr: what, how far, how long still."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def parse_time(value: str, name: str) -> datetime:
    """An ISO 8601 time from an option (UTC if it has no offset)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=name) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_day(value: str | None, name: str) -> date:
    """A day (YYYY-MM-DD) from an option; today (UTC) when it is not given."""
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a day (YYYY-MM-DD)", param_hint=name) from exc


def operator() -> Context:
    """The person running the command, as the audit trail names them (their OS login)."""
    try:
        login: str | None = getpass.getuser()
    except (OSError, KeyError):  # no login name, e.g. a container user without a passwd entry
        login = None
    return operator_context(login)
