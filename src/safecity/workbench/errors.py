"""The workbench's refusals of a question it cannot answer as asked."""

from __future__ import annotations

from safecity.core.errors import DomainError


class QueryRefused(DomainError):
    """A question with bad windows, an impossible k, or one whose answer would be too large."""

    code = "query_refused"


class TooLarge(QueryRefused):
    """The answer would hold more than a person can read; the message says how to narrow it."""

    code = "result_too_large"


__all__ = ["QueryRefused", "TooLarge"]
