"""Recall and precision of housing warnings against planted incidents (places/rules/accuracy.py)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from safecity.core.finding import Evidence, Finding, Ref
from safecity.places.rules.accuracy import Incident, Raised, score, table
from tests.conftest import T0

FLAT_12 = Ref("flat", "12")


def _finding(kind: str, refs: tuple[Ref, ...], hours: float, subject: str = "x") -> Finding:
    at = T0 + timedelta(hours=hours)
    item = Evidence("e", "e", "door_swipe", subject, "D1", at, None, None, "C1")
    return Finding("r", kind, "low", "t", "id_card", subject, "k", at, (item,), refs=refs)


def test_an_alert_on_the_planted_flat_in_its_window_is_a_hit_and_others_are_not() -> None:
    planted = [
        Incident("housing_group_renting", frozenset({FLAT_12}), T0, T0 + timedelta(days=7)),
        Incident("housing_group_renting", frozenset({Ref("flat", "13")}), T0, T0 + timedelta(days=7)),
        Incident("housing_unknown_card", frozenset({Ref("id_card", "1.ab")}), T0, T0 + timedelta(hours=1)),
    ]
    alerts = [
        Raised.of(_finding("housing_group_renting", (FLAT_12, Ref("compound", "CP1")), 30)),
        Raised.of(_finding("housing_group_renting", (Ref("flat", "99"),), 30)),  # a false alarm
        Raised.of(_finding("housing_unknown_card", (), 0.5, subject="1.ab")),  # matched by its subject
        Raised.of(_finding("housing_unknown_card", (), 48, subject="1.ab")),  # same card, days later
    ]

    scores = {s.rule_kind: s for s in score(planted, alerts)}

    renting, unknown = scores["housing_group_renting"], scores["housing_unknown_card"]
    assert (renting.planted, renting.found, renting.raised, renting.right) == (2, 1, 2, 1)
    assert renting.recall == 0.5 and renting.precision == 0.5
    assert (unknown.recall, unknown.precision) == (1.0, 0.5)
    assert "| housing_group_renting | 2 | 1 | 0.50 | 2 | 1 | 0.50 |" in table(list(scores.values()))


def test_a_kind_with_nothing_planted_or_nothing_raised_has_no_figure() -> None:
    only_raised = score([], [Raised.of(_finding("housing_unusual_hours", (), 1))])
    only_planted = score([Incident("housing_dormant_tenant", frozenset({Ref("tenancy", "1")}), T0, T0)], [])
    assert only_raised[0].recall is None and only_raised[0].precision == 0.0
    assert only_planted[0].recall == 0.0 and only_planted[0].precision is None


@given(
    st.lists(st.integers(min_value=0, max_value=20), max_size=15), st.lists(st.integers(0, 20), max_size=15)
)
def test_recall_and_precision_stay_between_zero_and_one(
    planted_flats: list[int], alert_flats: list[int]
) -> None:
    incidents = [
        Incident("housing_group_renting", frozenset({Ref("flat", str(f))}), T0, T0) for f in planted_flats
    ]
    alerts = [Raised("housing_group_renting", frozenset({Ref("flat", str(f))}), T0, T0) for f in alert_flats]
    for s in score(incidents, alerts):
        assert s.found <= s.planted and s.right <= s.raised
        assert s.found == len([f for f in planted_flats if f in alert_flats])
