"""What a rule found: the value that flows from rule evaluators to the alert service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record that caused or extended a finding."""

    event_id: str
    corr_id: str
    kind: str
    subject: str | None
    device: str
    ts: datetime
    lat: float | None
    lon: float | None
    area: str | None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's conclusion about one subject, with everything needed to explain it.

    `dedup_key` identifies the situation: findings with the same rule and key update one open
    alert (a stolen bike passing several stations extends one alarm's path).
    """

    rule: str
    rule_kind: str
    severity: str
    title: str
    subject_kind: str
    subject: str
    dedup_key: str
    at: datetime
    evidence: tuple[Evidence, ...]
    facts: dict[str, Any] = field(default_factory=dict)  # registry facts the rule relied on
    params: dict[str, Any] = field(default_factory=dict)  # the rule's parameters when it fired
