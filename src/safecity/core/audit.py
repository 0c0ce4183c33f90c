"""What any use case says about an action for the audit trail, and who it tells.

The trail itself (the hash chain, seals, verification) belongs to `safecity.security`; these
types sit in the core so that every domain, including the registry below security in the
layers, can describe what it did and hand the entry to a `Recorder` it was given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from safecity.core.context import Context


class Outcome:
    """How an audited request ended."""

    ALLOWED = "allowed"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(slots=True)
class AuditEntry:
    """What is recorded about one action."""

    action: str
    resource: str
    outcome: str = Outcome.ALLOWED
    status: int = 200
    case_id: str | None = None
    purpose: str | None = None
    subjects: Sequence[str] = ()
    result_count: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def subject(kind: str, value: object) -> str:
    """The audit name of a subject: "person:42", "tag:E0A1B2C3", "id_card:1.9f86…"."""
    return f"{kind}:{value}"


class Recorder(Protocol):
    """Appends to the audit trail in the name of a use case's context (security.Security is one)."""

    def record(self, who: Context, entry: AuditEntry) -> int:
        """Append one record and return its sequence number."""
        ...
