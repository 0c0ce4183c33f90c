"""Recall and precision of the housing warnings against a simulated city's ground truth.

The generator plants incidents (a group-rented flat, a tenant gone without checking out, a card
casing compounds...) and writes what it planted; the rules raise alerts. An incident is **found**
when an alert of its rule kind names the same situation and was seen within the incident's time
window (give or take `slack`); an alert is **right** when it found some incident. Per rule kind:
recall = incidents found / incidents planted, precision = alerts right / alerts raised.

"Names the same situation" is a shared reference: an incident lists the entities it is about
(`Ref("flat", "12")`, `Ref("door", "D7")`, the card as `Ref("id_card", <pseudonym>)`), an alert
its finding's refs and its subject; one shared entity is a match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from safecity.core.finding import Finding, Ref


@dataclass(frozen=True, slots=True)
class Incident:
    """One planted incident of the ground truth."""

    rule_kind: str  # the rule kind that should find it: housing_group_renting, ...
    refs: frozenset[Ref]  # what it is about
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Raised:
    """One alert as the scoring needs it (from an alert's finding, or a finding itself)."""

    rule_kind: str
    refs: frozenset[Ref]
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def of(cls, finding: Finding) -> Raised:
        """A finding as a raised alert: its refs and subject, over the span of its evidence."""
        times = [e.ts for e in finding.evidence] or [finding.at]
        refs = frozenset({*finding.refs, Ref(finding.subject_kind, finding.subject)})
        return cls(finding.rule_kind, refs, min(times), max(times))


@dataclass(frozen=True, slots=True)
class Score:
    """Recall and precision of one rule kind (None where nothing was planted or raised)."""

    rule_kind: str
    planted: int
    found: int
    raised: int
    right: int
    recall: float | None = field(init=False)
    precision: float | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "recall", self.found / self.planted if self.planted else None)
        object.__setattr__(self, "precision", self.right / self.raised if self.raised else None)


def is_match(incident: Incident, alert: Raised, slack: timedelta) -> bool:
    """The alert names the incident's situation, of its kind, within its window."""
    return (
        alert.rule_kind == incident.rule_kind
        and not incident.refs.isdisjoint(alert.refs)
        and alert.first_seen <= incident.end + slack
        and alert.last_seen >= incident.start - slack
    )


def score(
    incidents: Iterable[Incident], alerts: Iterable[Raised], *, slack: timedelta = timedelta(hours=1)
) -> list[Score]:
    """Recall and precision per rule kind, by kind name."""
    truth: dict[str, list[Incident]] = {}
    for incident in incidents:
        truth.setdefault(incident.rule_kind, []).append(incident)
    raised: dict[str, list[Raised]] = {}
    for alert in alerts:
        raised.setdefault(alert.rule_kind, []).append(alert)
    out = []
    for kind in sorted({*truth, *raised}):
        planted, made = truth.get(kind, []), raised.get(kind, [])
        found = sum(any(is_match(i, a, slack) for a in made) for i in planted)
        right = sum(any(is_match(i, a, slack) for i in planted) for a in made)
        out.append(Score(kind, len(planted), found, len(made), right))
    return out


def table(scores: Sequence[Score]) -> str:
    """The scores as a Markdown table (the closing note's recall and precision table)."""
    lines = [
        "| rule kind | planted | found | recall | raised | right | precision |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        recall = "-" if s.recall is None else f"{s.recall:.2f}"
        precision = "-" if s.precision is None else f"{s.precision:.2f}"
        lines.append(
            f"| {s.rule_kind} | {s.planted} | {s.found} | {recall} | {s.raised} | {s.right} | {precision} |"
        )
    return "\n".join(lines)


__all__ = ["Incident", "Raised", "Score", "is_match", "score", "table"]
