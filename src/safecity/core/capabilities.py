"""Capabilities and their extension points: how a package adds to the platform without editing it.

A capability is a package of `safecity` with a `capability.py` module that defines `CAPABILITY`:
its name, what it requires, and the extensions it contributes (rule kinds, retention targets,
settings sections, workers, alert followers, ingest adapters...). Each extension type is defined
by the package that consumes it; this module only finds the capabilities, orders them by what
they require, and hands each consumer the extensions of its type. Nothing central lists them:
a new capability is a new folder.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")
PACKAGE = "safecity"


@dataclass(frozen=True, slots=True)
class Capability:
    """What one package contributes: its name, what it needs first, and its extensions."""

    name: str
    summary: str
    requires: tuple[str, ...] = ()
    extensions: tuple[Any, ...] = ()
    # Extensions that need the running platform (workers, say): called by the composition root
    # with it once every part exists; returns more extensions.
    build: Callable[[Any], Iterable[Any]] | None = field(default=None)

    def of(self, kind: type[T]) -> list[T]:
        """This capability's extensions of one type."""
        return [e for e in self.extensions if isinstance(e, kind)]


@dataclass(frozen=True, slots=True)
class Service:
    """An extension: a capability's use-case object, built once with the platform's parts.

    `build(platform)` runs when the composition root has built everything else; the edges reach
    the result as `platform.service(kind)`, so a capability's routes and commands need no new
    attribute on the platform.
    """

    kind: type[Any]
    build: Callable[[Any], Any]


class CapabilityError(RuntimeError):
    """Capabilities that cannot be put in order: a missing or circular requirement."""


def ordered(capabilities: Iterable[Capability]) -> list[Capability]:
    """Capabilities with each after the ones it requires; ties keep their name order."""
    by_name = {c.name: c for c in capabilities}
    done: list[Capability] = []
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise CapabilityError(f"capabilities require each other: {' -> '.join((*path, name))}")
        cap = by_name.get(name)
        if cap is None:
            raise CapabilityError(f"capability {path[-1]!r} requires {name!r}, which is not installed")
        state[name] = "visiting"
        for req in cap.requires:
            visit(req, (*path, name))
        state[name] = "done"
        done.append(cap)

    for name in sorted(by_name):
        visit(name, ())
    return done


@cache
def installed() -> tuple[Capability, ...]:
    """Every capability of the installed safecity packages, in requirement order (found once)."""
    root = importlib.import_module(PACKAGE)
    found: list[Capability] = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        try:
            module = importlib.import_module(f"{PACKAGE}.{info.name}.capability")
        except ModuleNotFoundError as exc:
            if exc.name != f"{PACKAGE}.{info.name}.capability":
                raise  # the module exists but imports something missing: a real error
            continue
        found.append(module.CAPABILITY)
    return tuple(ordered(found))


def extensions(kind: type[T], capabilities: Iterable[Capability] | None = None) -> list[T]:
    """Every installed extension of one type, in capability order."""
    return [e for c in (installed() if capabilities is None else capabilities) for e in c.of(kind)]
