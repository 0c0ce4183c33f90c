"""A passing vehicle's noisy readings at one camera become one voted read; one bad frame is outvoted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from safecity.recognition.plate_votes import PlateObservation, PlateVoter, vote

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _obs(plate: str, s: float, conf: float = 0.9, camera: str = "cam-1") -> PlateObservation:
    return PlateObservation(camera, T0 + timedelta(seconds=s), plate, conf)


def test_one_bad_frame_is_outvoted_and_the_car_read_once() -> None:
    voter = PlateVoter(gap_s=2.0)
    closed = []
    for i, plate in enumerate(["浙A12345", "浙A1Z345", "浙A12345", "浙A12845"]):
        closed += voter.feed(_obs(plate, i * 0.2))
    assert closed == []
    (read,) = voter.due(T0 + timedelta(seconds=5))
    assert read.plate == "浙A12345" and read.agreed == 2 and len(read.readings) == 4
    assert read.first_at == T0 and 0 < read.confidence <= 1


def test_per_character_confidence_outweighs_a_count() -> None:
    sure = PlateObservation("c", T0, "浙A12345", 0.9, (0.9,) * 7)
    blurred = PlateObservation("c", T0, "浙A1Z345", 0.5, (0.9, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9))
    assert vote([sure, blurred, blurred])[0] == "浙A12345"


def test_two_cars_and_two_cameras_stay_apart() -> None:
    voter = PlateVoter(gap_s=2.0)
    for i in range(3):
        voter.feed(_obs("浙A12345", i * 0.3))
        voter.feed(_obs("苏E88888", i * 0.3 + 0.1))
        voter.feed(_obs("浙A12345", i * 0.3, camera="cam-2"))
    assert voter.open_groups == 3
    reads = voter.flush()
    assert sorted((r.camera, r.plate, len(r.readings)) for r in reads) == [
        ("cam-1", "浙A12345", 3),
        ("cam-1", "苏E88888", 3),
        ("cam-2", "浙A12345", 3),
    ]
    assert voter.open_groups == 0


def test_a_quiet_gap_closes_the_group_and_the_same_plate_later_is_a_new_pass() -> None:
    voter = PlateVoter(gap_s=2.0)
    voter.feed(_obs("浙A12345", 0))
    closed = voter.feed(_obs("浙A12345", 10))
    assert [r.plate for r in closed] == ["浙A12345"]
    assert [len(r.readings) for r in voter.flush()] == [1]


def test_a_parked_car_yields_a_read_per_span() -> None:
    voter = PlateVoter(gap_s=2.0, max_span_s=30.0)
    closed = []
    for s in range(0, 70):
        closed += voter.feed(_obs("浙A12345", s))
    assert len(closed) == 2


@given(st.lists(st.sampled_from(["浙A12345", "浙A1Z345", "浙A12B45", "浙A12345D"]), min_size=1, max_size=12))
def test_the_vote_is_one_of_the_lengths_read_and_each_character_was_read_there(plates: list[str]) -> None:
    readings = [_obs(p, i * 0.1) for i, p in enumerate(plates)]
    plate, confidence = vote(readings)
    same = [p for p in plates if len(p) == len(plate)]
    assert same and 0 <= confidence <= 1
    assert all(any(p[i] == c for p in same) for i, c in enumerate(plate))
    if plates.count("浙A12345") * 2 > len(plates):
        assert plate == "浙A12345"
