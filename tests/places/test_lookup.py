"""Finding cards among millions: the bucketed search agrees with a plain dictionary, whatever the keys."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.places.lookup import SortedKeys, card_hashes

keys_64 = st.lists(st.integers(0, 2**64 - 1), max_size=300)


def _expected(built: list[int], wanted: list[int]) -> list[int]:
    rows: dict[int, int] = {}
    for i, k in enumerate(built):
        rows.setdefault(k, i)  # a key given twice is found at one of its rows; see the check below
    return [rows.get(k, -1) for k in wanted]


def _check(built: list[int], wanted: list[int]) -> None:
    keys = np.array(built, dtype=np.uint64)
    found = SortedKeys(keys).find(np.array(wanted, dtype=np.uint64))
    for want, row, expected in zip(wanted, found.tolist(), _expected(built, wanted), strict=True):
        if expected < 0:
            assert row == -1
        else:
            assert row >= 0 and built[row] == want


@settings(max_examples=200)
@given(keys_64, keys_64)
def test_any_keys_are_found_at_their_row_and_absent_ones_are_not(built: list[int], extra: list[int]) -> None:
    _check(built, built[::2] + extra)


@settings(max_examples=50)
@given(st.lists(st.integers(0, 40), max_size=200), st.lists(st.integers(0, 60), max_size=50))
def test_small_keys_that_share_one_bucket_are_found_by_the_binary_search(
    built: list[int], extra: list[int]
) -> None:
    _check(built, built + extra)


def test_a_million_card_hashes_are_each_found_at_their_row() -> None:
    cards = pl.Series([f"1.{i:032x}" for i in range(1_000_000)])
    hashes = card_hashes(cards)
    index = SortedKeys(hashes)
    probe = np.random.default_rng(7).integers(0, hashes.size, 50_000)
    assert np.array_equal(index.find(hashes[probe]), probe)
    strangers = card_hashes(pl.Series([f"2.{i:032x}" for i in range(1_000)]))
    assert (index.find(strangers) == -1).all()
