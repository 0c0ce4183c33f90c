"""Retention entries: what each package deletes when its rows have been kept long enough.

The retention policy's `registry:` section has one entry per `RetentionEntry` the installed
capabilities contribute (closed alerts, ended sign-in sessions, and each new capability's own
rows), so that a new table with personal data never lives for ever because nobody listed it
centrally: the package that owns the table states how its rows age out, and the policy file
must then give that entry a period. `safecity.security.retention_run` plans and applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

Cutoff = Callable[[str], datetime]  # entry name -> rows that ended before this instant are due


@dataclass(frozen=True, slots=True)
class Purgeable:
    """The rows of one table an entry deletes now."""

    table: str
    model: Any  # the mapped class
    where: ColumnElement[bool]
    # Totals of the rows about to go that the purge ledger keeps (an ingest ledger's counts, so
    # that reconciliation still adds up after they are deleted): read just before deleting.
    carried: Callable[[Session], Mapping[str, int]] | None = None


@dataclass(frozen=True, slots=True)
class RetentionEntry:
    """An extension: one entry of the policy's `registry:` section.

    `due(cut)` returns the rows due, children before parents; `cut(name)` gives the cutoff of any
    entry (its own, or another's it must stay consistent with). `at_least` names entries this one
    must be kept at least as long as, each with the reason.
    """

    name: str
    description: str
    tables: tuple[str, ...]  # what it deletes, parent table first (as `retention show` lists it)
    due: Callable[[Cutoff], Sequence[Purgeable]]
    at_least: tuple[tuple[str, str], ...] = ()


__all__ = ["Cutoff", "Purgeable", "RetentionEntry"]
