"""`safecity serve` and `safecity demo` keep the terminal for people: the accounts, the URL and a
short status; the logs go to a file under the data folder unless `--verbose` asks for them.

These run the real command in a child process, as a person or CI would, with its output piped (plain
status lines) or on a pseudo-terminal (one redrawn status line).
"""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

STATUS = "events/s"
LOG_EVENT = "platform.started"  # logged once the platform runs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SAFECITY_DATA_DIR=str(data_dir), SAFECITY_PORT=str(_free_port()))
    env.pop("SAFECITY_DATABASE_URL", None)
    return env


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class Piped:
    """A running `safecity` command with stdout and stderr collected as they come."""

    process: subprocess.Popen[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for stream, sink in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(
                target=lambda s=stream, k=sink: k.extend(iter(s.readline, "")), daemon=True
            ).start()

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def stop(self) -> int:
        """Ctrl-C, as a person stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def piped(tmp_path: Path) -> Iterator[Callable[..., Piped]]:
    started: list[Piped] = []

    def start(*args: str) -> Piped:
        process = subprocess.Popen(
            [sys.executable, "-m", "safecity.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path),
        )
        started.append(Piped(process))
        return started[-1]

    yield start
    for run in started:
        run.stop()


def _log_file(data_dir: Path) -> Path:
    return data_dir / "log" / "safecity.log"


def _logged(data_dir: Path, text: str) -> bool:
    path = _log_file(data_dir)
    return path.exists() and text in path.read_text(encoding="utf-8")


def test_serve_prints_status_lines_and_keeps_its_logs_in_a_file(
    piped: Callable[..., Piped], tmp_path: Path
) -> None:
    run = piped("serve", "--status-every", "0.3")
    _wait(lambda: _logged(tmp_path, LOG_EVENT), 60, "the platform's start in the log file")
    _wait(lambda: run.stdout.count(STATUS) >= 2, 30, "two status lines")
    assert run.stop() == 0
    assert LOG_EVENT not in run.stdout + run.stderr, "logs belong in the file, not on the terminal"
    assert str(_log_file(tmp_path)) in run.stdout, "the terminal says where the logs are"
    status_lines = [line for line in run.out if STATUS in line]
    assert all("0 open alerts" in line for line in status_lines), status_lines
    assert "\x1b[" not in run.stdout, "piped output is plain text, no terminal codes"


def test_verbose_brings_the_logs_back_to_the_terminal(piped: Callable[..., Piped]) -> None:
    run = piped("serve", "--verbose", "--status-every", "0.3")
    _wait(lambda: LOG_EVENT in run.stderr, 60, "the platform's start on stderr")
    _wait(lambda: STATUS in run.stdout, 30, "a status line")


def test_a_server_that_cannot_start_says_so_on_the_terminal(
    piped: Callable[..., Piped], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env_port = str(taken.getsockname()[1])
        process = subprocess.Popen(
            [sys.executable, "-m", "safecity.cli", "serve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**_env(tmp_path), "SAFECITY_PORT": env_port},
        )
        out, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "address already in use" in err.lower(), (out, err)


def test_demo_keeps_the_accounts_and_the_url_on_screen(piped: Callable[..., Piped], tmp_path: Path) -> None:
    run = piped("demo", "--scale", "tiny", "--status-every", "0.5")
    # The simulator replays a backlog at start: findings are applied within seconds.
    _wait(lambda: _logged(tmp_path, "findings applied"), 120, "the first alarms in the log file")
    # On a loaded machine the first status lines may all predate the first alert: wait for the
    # line the test is about, not for a count of lines.
    _wait(lambda: _alert_line(_after_url(run.stdout)), 60, "a status line with open alerts")
    _wait(lambda: run.stdout.count(STATUS) >= 3, 30, "three status lines")
    assert run.stop() == 0
    out = run.stdout
    assert "password" in out and "Open the console at http://127.0.0.1:" in out
    after_url = _after_url(out)
    others = [
        line for line in after_url if line.strip() and STATUS not in line and not line.startswith("Logs: ")
    ]
    assert not others, f"only status lines follow the URL: {others}"
    assert "findings applied" not in out + run.stderr
    assert _alert_line(after_url), after_url


def _after_url(out: str) -> list[str]:
    """The lines printed after the console's URL (none before it is printed)."""
    return out.split("Open the console at", 1)[1].splitlines()[1:] if "Open the console at" in out else []


def _alert_line(lines: list[str]) -> bool:
    """Whether one of these status lines shows open alerts."""
    return any(STATUS in line and "open alert" in line and "0 open alerts" not in line for line in lines)


def test_on_a_terminal_the_status_is_one_line_redrawn(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "safecity.cli", "serve"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**_env(tmp_path), "TERM": "xterm", "COLUMNS": "160"},
        close_fds=True,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and seen.count(STATUS.encode()) < 4:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        os.close(leader)
    text = seen.decode(errors="replace")
    assert text.count(STATUS) >= 4, text
    tail = text.split("Open the console at", 1)[1]
    # Redrawn in place (cursor moved back up / line erased), not a new line per second.
    assert tail.count("\n") < text.count(STATUS), tail
    assert LOG_EVENT not in text
