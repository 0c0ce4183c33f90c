"""Operator-edited YAML files (rules, retention, ...): one loader and one error that names every problem.

Each file format keeps its own model and its own checks; what is shared is how a file is read,
how YAML mistakes and pydantic errors become "where: what" lines, and the error that carries them,
so that `safecity rules check` and `safecity retention check` report problems the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigFileError(ValueError):
    """A configuration file is wrong; `problems` lists each problem with where it is."""

    what = "configuration file"  # how messages name the file: "rules file", "retention policy"

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


def parse_mapping(text: str, *, source: str, error: type[ConfigFileError], shape: str) -> dict[Any, Any]:
    """The document as a mapping; raise `error` if it is not YAML or not a mapping.

    `shape` completes "the file must be a mapping with ..." for the format at hand.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise error(source, [f"the file must be a mapping with {shape}"])
    return raw


def load_file(path: Path, parse: Callable[..., T], *, error: type[ConfigFileError]) -> T:
    """Read a UTF-8 file and hand its text to `parse(text, source=path)`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(path), [f"cannot read: {exc.strerror}"]) from exc
    return parse(text, source=str(path))


def where(error: Any, *, messages: dict[str, str] | None = None) -> str:
    """One pydantic error as "loc.path: message"; `messages` replaces messages by error type."""
    loc = ".".join(str(p) for p in error["loc"])
    message = (messages or {}).get(error["type"], str(error["msg"]))
    return f"{loc}: {message}" if loc else message


def in_force(configured: Path | None, local: Path, packaged: Path) -> Path:
    """The configuration file in force: the configured one, else a local one if present, else the packaged."""
    if configured is not None:
        return configured
    return local if local.exists() else packaged
