"""The terminal of a long-running command (`serve`, `demo`): a short live status, logs in a file.

A person starting the demo must be able to read the accounts and the URL it prints, so the
logs (an info line per finding applied) go to `<data_dir>/log/safecity.log` unless `--verbose`
asks for them on the terminal; errors are shown on the terminal as well, so that a server that
cannot start says why. The status is one line redrawn in place on a terminal, and a plain line
every few seconds when stdout is not one (CI, a pipe, a log collector).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from rich.console import Console
from rich.live import Live
from rich.text import Text

from safecity.cli.common import configure_structlog, log_level
from safecity.core.filemode import make_private_dirs, private_file
from safecity.settings import Settings

REDRAW_S = 1.0  # how often the redrawn status line is refreshed on a terminal
TERMINAL_LEVELS = frozenset({"error", "critical"})  # still shown on the terminal when logs go to a file


def log_file(cfg: Settings) -> Path:
    """Where `serve` and `demo` write their logs unless asked to show them."""
    return cfg.data_dir / "log" / "safecity.log"


class _CurrentStderr(logging.Handler):
    """Errors of libraries (uvicorn: the port is taken) on whatever stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def _errors_also_on_stderr(renderer: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the file's renderer: an error line is also printed on the terminal."""

    def render(logger: Any, method: str, event: dict[str, Any]) -> Any:
        text = renderer(logger, method, event)
        if event.get("level") in TERMINAL_LEVELS:
            print(text, file=sys.stderr)
        return text

    return render


def log_to_file(cfg: Settings) -> Path:
    """Send the platform's and libraries' logs to the log file (errors to stderr too); its path."""
    path = log_file(cfg)
    make_private_dirs(path.parent)
    private_file(path)  # logs name devices, accounts and places: the owner's alone, whatever the umask
    stream = path.open("a", encoding="utf-8", buffering=1)  # line-buffered: `tail -f` shows each line
    to_file = logging.StreamHandler(stream)
    to_terminal = _CurrentStderr(logging.ERROR)
    logging.basicConfig(
        level=log_level(cfg), format="%(message)s", handlers=[to_file, to_terminal], force=True
    )
    renderer: Any = (
        structlog.processors.JSONRenderer() if cfg.log_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    configure_structlog(cfg, _errors_also_on_stderr(renderer), stream)
    return path


@contextmanager
def live_status(line: Callable[[], str], console: Console, *, every_s: float, redraw: bool) -> Iterator[None]:
    """Show `line()` while the block runs: redrawn in place (`redraw`), else printed every `every_s`."""
    stop = threading.Event()
    live = Live(Text(""), console=console, auto_refresh=False, transient=False) if redraw else None

    def safe_line() -> str:
        try:
            return line()
        except Exception as exc:  # a busy or restarting database must not end the server
            structlog.get_logger(__name__).warning("status.unavailable", error=str(exc))
            return f"status unavailable: {exc}"

    def run() -> None:
        while not stop.wait(REDRAW_S if live is not None else every_s):
            if live is not None:
                live.update(Text(safe_line(), no_wrap=True, overflow="ellipsis"), refresh=True)
            else:
                console.print(safe_line(), markup=False, highlight=False, soft_wrap=True)

    if live is not None:
        live.start()
    worker = threading.Thread(target=run, name="status", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(timeout=5)
        if live is not None:
            live.stop()


__all__ = ["live_status", "log_file", "log_to_file"]
