"""Pure decisions of the visit list: which warnings are visits, their priority, the walking round, precision.

No database and no clock here, so each rule is easy to state and to property-test: a warning is
a housing warning by its rule kind and its compound; a task's priority follows the severity of
the warning; the suggested round visits every stop once, always walking to the nearest stop not
yet visited (a greedy round: good enough for a dozen doors, and predictable for the officer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from safecity.core.finding import Ref
from safecity.core.geo import distance_m
from safecity.places.models import COMPOUND
from safecity.places.warnings import REGISTRATION

HOUSING_PREFIX = "housing_"  # rule kinds of the housing rules (the shared contract of issue 10)
SEVERITY_PRIORITY = {"critical": 1, "high": 2, "medium": 3, "low": 4}
LOWEST_PRIORITY = 5


def is_housing_kind(rule_kind: str | None) -> bool:
    """Whether warnings of this rule kind are for the community officer to visit.

    The housing rules' kinds, and the warnings a tenant registration raises itself (a flat over
    its capacity, a tenant registered twice): both are about a flat the officer can knock on.
    """
    return bool(rule_kind) and (str(rule_kind).startswith(HOUSING_PREFIX) or rule_kind == REGISTRATION)


def is_housing_warning(rule_kind: str | None, refs: Sequence[Ref]) -> bool:
    """A housing warning about a compound: what becomes a visit task."""
    return is_housing_kind(rule_kind) and any(r.entity == COMPOUND for r in refs)


def priority_of(severity: str | None) -> int:
    """1 (critical) to 4 (low); an unknown severity comes last."""
    return SEVERITY_PRIORITY.get(str(severity), LOWEST_PRIORITY)


# What a settled visit closes its alert as: the alert's own precision report (confirmed over confirmed
# and false alarms) then agrees with the visits'. An explained warning was true and innocent: the
# alerts have no such outcome, and "unverified" is the one that counts in neither term.
ALERT_OUTCOME = {"confirmed": "confirmed", "false_alarm": "false_alarm", "explained": "unverified"}


def alert_outcome_of(visit_outcome: str | None) -> str | None:
    """The outcome to close the warning's alert with; None while the visit settled nothing (no one home)."""
    return ALERT_OUTCOME.get(str(visit_outcome))


def precision(confirmed: int, false_alarm: int) -> float | None:
    """confirmed / (confirmed + false alarm); None before either was recorded.

    Explained and no-one-home outcomes say nothing about whether the rule was right, so they
    count in neither term.
    """
    judged = confirmed + false_alarm
    return None if judged == 0 else round(confirmed / judged, 4)


@dataclass(frozen=True, slots=True)
class Stop:
    """A place to walk to: a building (or a compound without one), where it is if known."""

    key: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class Leg:
    """One stop of a round, in walking order, with the distance from the previous point."""

    key: str
    order: int
    distance_m: float | None  # None for a stop without a position (or without a start to walk from)


def walking_round(start: tuple[float, float] | None, stops: Sequence[Stop]) -> list[Leg]:
    """Every stop once, each the nearest unvisited one to where the officer stands (nearest neighbour).

    From `start` (the officer's position, or the community's centre) if given, else from the first
    located stop. Stops without a position come last in their given order: the officer still
    sees them, the map cannot place them. Ties go to the stop given first, so the round is stable.
    """
    located = [(s.key, s.lat, s.lon) for s in stops if s.lat is not None and s.lon is not None]
    unlocated = [s for s in stops if s.lat is None or s.lon is None]
    legs: list[Leg] = []
    here = start
    while located:
        index, step = 0, None
        if here is not None:
            step, index = min(
                (distance_m(here[0], here[1], lat, lon), i) for i, (_, lat, lon) in enumerate(located)
            )
        key, lat, lon = located.pop(index)
        legs.append(Leg(key, len(legs) + 1, None if step is None else round(step, 1)))
        here = (lat, lon)
    placed = len(legs)
    legs += [Leg(s.key, placed + i, None) for i, s in enumerate(unlocated, start=1)]
    return legs


__all__ = [
    "ALERT_OUTCOME",
    "HOUSING_PREFIX",
    "Leg",
    "Stop",
    "alert_outcome_of",
    "is_housing_kind",
    "is_housing_warning",
    "precision",
    "priority_of",
    "walking_round",
]
