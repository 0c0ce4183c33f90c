"""The rule-kind extension point: a kind is its name, its parameter model and its evaluator.

A capability contributes rule kinds by listing `RuleKind`s among its extensions (in its
`capability.py`); the rules file may then name them, `safecity rules check` validates their
parameters against the model, and the engine builds them. Nothing in this package lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from safecity.core.capabilities import extensions

if TYPE_CHECKING:
    from safecity.rules.base import Rule
    from safecity.rules.config import RuleConfig


@dataclass(frozen=True, slots=True)
class RuleKind:
    """One kind of rule the rules file may use."""

    name: str
    params: type[BaseModel]  # a RuleParams subclass; its docstring and field descriptions document it
    evaluator: Callable[[RuleConfig], Rule]


def rule_kinds() -> dict[str, RuleKind]:
    """Every installed rule kind by name."""
    kinds: dict[str, RuleKind] = {}
    for kind in extensions(RuleKind):
        if kind.name in kinds:
            raise ValueError(f"rule kind {kind.name!r} is registered twice")
        kinds[kind.name] = kind
    return kinds
