"""Alert policy: the lifecycle line, what leaves masked, and precision."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from safecity.alerts.models import AlertStatus
from safecity.alerts.policy import (
    allowed_next,
    is_open,
    is_transition_allowed,
    matches_filter,
    precision,
    public_dedup_key,
    public_subject,
)

STATUSES = [s.value for s in AlertStatus]
ORDER = {s: i for i, s in enumerate(STATUSES)}


def test_lifecycle_allows_exactly_the_documented_steps() -> None:
    allowed = {(a, b) for a in STATUSES for b in STATUSES if is_transition_allowed(a, b)}
    assert allowed == {
        ("new", "acknowledged"),
        ("new", "closed"),
        ("acknowledged", "dispatched"),
        ("acknowledged", "closed"),
        ("dispatched", "closed"),
    }
    assert allowed_next("new") == ["acknowledged", "closed"]
    assert allowed_next("closed") == []


@given(st.lists(st.sampled_from(STATUSES), max_size=12))
def test_any_sequence_of_requests_only_moves_forward_and_closed_is_final(requests: list[str]) -> None:
    status = "new"
    for requested in requests:
        if is_transition_allowed(status, requested):
            assert ORDER[requested] > ORDER[status]
            status = requested
    assert is_open(status) == (status != "closed")
    assert not any(is_transition_allowed("closed", s) for s in STATUSES)


def test_unknown_statuses_are_never_allowed() -> None:
    assert not is_transition_allowed("new", "archived")
    assert not is_transition_allowed("limbo", "closed")


def test_personal_subjects_are_masked_and_tags_are_not() -> None:
    id_number = "110101199003074477"
    assert public_subject("id_card", id_number) == "11**************77"
    assert public_subject("tag", "A1B2C3D4") == "A1B2C3D4"
    assert public_dedup_key("id_card", id_number, f"tenant:{id_number}") == "tenant:11**************77"


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_precision_is_a_share_or_undefined(confirmed: int, false_alarm: int) -> None:
    value = precision(confirmed, false_alarm)
    if confirmed + false_alarm == 0:
        assert value is None
    else:
        assert value is not None
        assert 0.0 <= value <= 1.0
        assert value == confirmed / (confirmed + false_alarm)


def test_webhook_filter_matches_rules_and_stations() -> None:
    assert matches_filter(None, rule="stolen_bike", station_id="S1")
    assert matches_filter({"rules": ["stolen_bike"]}, rule="stolen_bike", station_id=None)
    assert not matches_filter({"rules": ["tag_tamper"]}, rule="stolen_bike", station_id="S1")
    assert matches_filter({"rules": None, "stations": ["S1", "S2"]}, rule="x", station_id="S2")
    assert not matches_filter({"stations": ["S1"]}, rule="x", station_id="S2")
    assert not matches_filter({"stations": ["S1"]}, rule="x", station_id=None)
