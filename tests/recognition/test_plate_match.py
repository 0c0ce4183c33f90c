"""Fuzzy hot-list matching: within a list's distance always a hit, beyond never, as brute force says."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.recognition.plate_match import PlateMatcher, fold, plate_distance, substitution_cost

_CHARS = "浙沪京宁鄂豫ABCDGQSZ0125678"
_PLATES = st.text(alphabet=_CHARS, min_size=5, max_size=9)
_THRESHOLDS = {"wanted": 1.0, "stolen": 1.5, "forged": 0.5, "exact": 0.0}


def _reference(a: str, b: str) -> float:
    """The textbook full table, no shortcuts: what the matcher's answers are checked against."""
    table = [
        [float(i + j) if i == 0 or j == 0 else 0.0 for j in range(len(b) + 1)] for i in range(len(a) + 1)
    ]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(
                table[i - 1][j] + 1,
                table[i][j - 1] + 1,
                table[i - 1][j - 1] + substitution_cost(a[i - 1], b[j - 1]),
            )
    return table[-1][-1]


def test_the_ocrs_confusions_cost_half_and_other_slips_one() -> None:
    assert plate_distance("浙A12345", "浙A12345") == 0
    assert plate_distance("浙A12345", "浙A1Z345") == 0.5  # 2 read as Z
    assert plate_distance("浙A8D345", "浙AB0345") == 1.0  # two confusions
    assert plate_distance("浙A12345", "沪A12345") == 0.5  # water-radical provinces
    assert plate_distance("浙A12345", "京A12345") == 1.0
    assert plate_distance("浙A12345", "浙A1234") == 1.0  # a character missed
    assert plate_distance("浙A12345", "浙A12X45") == 1.0


def test_a_listed_plate_read_with_a_confusion_hits_its_list_only() -> None:
    matcher = PlateMatcher.build(
        [(1, "浙A12345", "wanted"), (2, "浙A12345", "exact"), (3, "苏E99999", "stolen")], _THRESHOLDS
    )
    hits = matcher.match("浙A1Z345")
    assert [(m.entry_id, m.list_kind, m.distance) for m in hits] == [(1, "wanted", 0.5)]
    assert [m.entry_id for m in matcher.match("浙A·12345")] == [1, 2]  # separators are ignored
    assert matcher.match("京B77777") == []


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(_PLATES, st.sampled_from(sorted(_THRESHOLDS))), min_size=1, max_size=40),
    _PLATES,
)
def test_matches_are_exactly_the_brute_force_ones(listed: list[tuple[str, str]], read: str) -> None:
    matcher = PlateMatcher.build([(i, p, k) for i, (p, k) in enumerate(listed)], _THRESHOLDS)
    expected = sorted(
        (_reference(read, p), i) for i, (p, k) in enumerate(listed) if _reference(read, p) <= _THRESHOLDS[k]
    )
    assert [(m.distance, m.entry_id) for m in matcher.match(read)] == expected


@settings(max_examples=150, deadline=None)
@given(_PLATES, st.lists(st.tuples(st.integers(0, 8), st.sampled_from(_CHARS)), max_size=3))
def test_a_read_within_the_threshold_always_hits_and_beyond_never(
    plate: str, edits: list[tuple[int, str]]
) -> None:
    read = list(plate)
    for position, char in edits:
        read[min(position, len(read) - 1)] = char
    seen = "".join(read)
    matcher = PlateMatcher.build([(7, plate, "wanted")], _THRESHOLDS)
    hit = bool(matcher.match(seen))
    assert hit == (_reference(seen, plate) <= _THRESHOLDS["wanted"])
    assert plate_distance(seen, plate) == _reference(seen, plate)


def test_folding_keeps_one_character_per_confusion_group() -> None:
    assert fold("浙AB0D1I") == fold("沪48OQT7")
    assert fold("8B") == "88" and fold("0DOQU") == "00000"


def test_lookups_against_100_000_listed_plates_take_well_under_a_millisecond() -> None:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    entries = [(i, f"浙{letters[i % 24]}{i % 100000:05d}", "wanted") for i in range(100_000)]
    matcher = PlateMatcher.build(entries, {"wanted": 1.0})
    reads = [f"浙{letters[i % 24]}{(i * 7919) % 100000:05d}" for i in range(500)]
    start = time.perf_counter()
    for read in reads:
        matcher.match(read)
    per_lookup_ms = (time.perf_counter() - start) * 1000 / len(reads)
    assert per_lookup_ms < 1.0
