"""What a rule found, and what other packages may do when it becomes an alert.

A `Finding` flows from rule evaluators to the alert service. Its `refs` name the registry
entities it is about (an e-bike, a person, later a flat or a vehicle) as typed references, so
that a package following alerts about one kind of entity (the bike registry telling owners,
say) registers an `AlertFollower` for that entity instead of the alert package knowing it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, order=True)
class Ref:
    """A typed reference to one registry entity: `Ref("ebike", "12")`, `Ref("person", "7")`."""

    entity: str
    id: str

    def as_json(self) -> list[str]:
        """The stored form: `["ebike", "12"]`."""
        return [self.entity, self.id]

    @classmethod
    def from_json(cls, value: Sequence[Any]) -> Ref:
        """A reference from its stored form."""
        entity, id_ = value
        return cls(str(entity), str(id_))


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    """What the registry says about a matched subject: facts for people to read, refs for code."""

    values: dict[str, Any] = field(default_factory=dict)
    refs: tuple[Ref, ...] = ()


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
    refs: tuple[Ref, ...] = ()  # the registry entities the finding is about

    def ref(self, entity: str) -> str | None:
        """The id of the first referenced entity of this kind, if any."""
        return next((r.id for r in self.refs if r.entity == entity), None)


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """A new alert as followers see it: the finding that raised it, where it went, when."""

    alert_id: str
    finding: Finding
    first: Evidence | None  # the earliest sighting
    last: Evidence | None  # the latest sighting: where and when the subject was last seen
    station_name: str  # the unit handling it
    at: datetime


@dataclass(frozen=True, slots=True)
class PersonNotice:
    """A message a follower asks to have sent to a person about an alert (queued in an outbox)."""

    alert_id: str
    recipient_person_id: int
    channel: str  # "sms"
    address: str  # where the channel delivers: a phone number
    body: str


@dataclass(frozen=True, slots=True)
class AlertFollower:
    """An extension: told of every new alert that references `entity`, in bulk, inside its transaction.

    `notices(session, alerts)` looks up what it needs (one query per chunk, not per alert) and
    returns the notices to queue; it must not write anything else.
    """

    name: str
    entity: str
    notices: Callable[[Any, Sequence[RaisedAlert]], list[PersonNotice]]
