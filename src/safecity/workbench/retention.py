"""How case workspaces age out: with their case."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_

from safecity.security.retention import all_case_ids, closed_case_ids
from safecity.store.retention import Cutoff, Purgeable, RetentionEntry
from safecity.workbench.models import CaseNote, CasePin, CaseQuery


def _closed_workspaces(cut: Cutoff) -> Sequence[Purgeable]:
    closed = closed_case_ids(cut("case_workspaces"))
    # The case's own purge (closed_cases) may already have run in this pass: its rows are then
    # the ones whose case is gone.
    return [
        Purgeable(table, model, or_(model.case_id.in_(closed), model.case_id.not_in(all_case_ids())))
        for table, model in (("case_pins", CasePin), ("case_notes", CaseNote), ("case_queries", CaseQuery))
    ]


CASE_WORKSPACES = RetentionEntry(
    name="case_workspaces",
    description="A closed case's saved questions and answers, pins and notes, counted from closing.",
    tables=("case_queries", "case_pins", "case_notes"),
    due=_closed_workspaces,
    at_least=(("closed_cases", "the workspace is the case's file and goes with the case"),),
)

__all__ = ["CASE_WORKSPACES"]
