"""Pure alert decisions: allowed lifecycle steps, what counts as open, what leaves masked, precision."""

from __future__ import annotations

from typing import Any

from safecity.alerts.models import AlertStatus
from safecity.core.kinds import KIND_SPECS
from safecity.core.masking import mask_subject

OPEN_STATUSES: frozenset[AlertStatus] = frozenset(
    {AlertStatus.NEW, AlertStatus.ACKNOWLEDGED, AlertStatus.DISPATCHED}
)

# The lifecycle is a line; closing is allowed from any open status (a false alarm needs no dispatch).
_NEXT: dict[AlertStatus, frozenset[AlertStatus]] = {
    AlertStatus.NEW: frozenset({AlertStatus.ACKNOWLEDGED, AlertStatus.CLOSED}),
    AlertStatus.ACKNOWLEDGED: frozenset({AlertStatus.DISPATCHED, AlertStatus.CLOSED}),
    AlertStatus.DISPATCHED: frozenset({AlertStatus.CLOSED}),
    AlertStatus.CLOSED: frozenset(),
}

# Subject kinds that identify a person: shown masked outside the console (webhooks, CAP).
PERSONAL_SUBJECT_KINDS: frozenset[str] = frozenset(
    spec.subject_kind.value for spec in KIND_SPECS.values() if spec.personal
)


def is_open(status: str) -> bool:
    """Tell whether an alert in this status still awaits handling."""
    return status in OPEN_STATUSES


def is_transition_allowed(current: str, requested: str) -> bool:
    """Tell whether an alert may move from `current` to `requested` status."""
    try:
        return AlertStatus(requested) in _NEXT[AlertStatus(current)]
    except ValueError:
        return False


def allowed_next(current: str) -> list[str]:
    """The statuses an alert may move to next, in lifecycle order."""
    order = [s.value for s in AlertStatus]
    return sorted((s.value for s in _NEXT.get(AlertStatus(current), ())), key=lambda s: order.index(s))


def public_subject(subject_kind: str, subject: str) -> str:
    """The subject as it may leave the console: personal identifiers masked, tags and plates kept."""
    return mask_subject(subject) if subject_kind in PERSONAL_SUBJECT_KINDS else subject


def public_dedup_key(subject_kind: str, subject: str, dedup_key: str) -> str:
    """The dedup key with a personal subject masked wherever it appears in it."""
    if subject_kind in PERSONAL_SUBJECT_KINDS and subject:
        return dedup_key.replace(subject, mask_subject(subject))
    return dedup_key


def precision(confirmed: int, false_alarm: int) -> float | None:
    """Share of judged alerts that were real: confirmed / (confirmed + false_alarm); None if none."""
    judged = confirmed + false_alarm
    return None if judged == 0 else confirmed / judged


def matches_filter(flt: dict[str, Any] | None, *, rule: str, station_id: str | None) -> bool:
    """Tell whether a webhook filter ({"rules": [...], "stations": [...]}) lets a notice through."""
    if not flt:
        return True
    rules: list[str] = list(flt.get("rules") or ())
    stations: list[str] = list(flt.get("stations") or ())
    if rules and rule not in rules:
        return False
    return not stations or (station_id is not None and station_id in stations)
