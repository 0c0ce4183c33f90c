"""The NumPy hash set behind idempotency agrees with a Python set, through growth and deletions."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity.ingest.dedup import Deduplicator, U64Set, id_hashes
from tests.conftest import T0

u64 = st.integers(0, 2**64 - 1)


def folded(value: int) -> int:
    """0 and 1 mark empty and deleted slots, so the set stores them as 2 and 3."""
    return value | 2 if value < 2 else value


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.lists(u64 | st.sampled_from([0, 1, 2, 3, 2**64 - 1]), max_size=300), max_size=12),
    removed=st.lists(u64, max_size=50),
)
def test_u64set_agrees_with_a_python_set(batches: list[list[int]], removed: list[int]) -> None:
    table, reference = U64Set(capacity=16), set()
    for batch in batches:
        keys = np.array(batch, dtype=np.uint64)
        expected = np.array([folded(k) in reference for k in batch], dtype=bool)
        assert (table.contains(keys) == expected).all()
        table.add(keys)
        reference.update(folded(k) for k in batch)
        assert len(table) == len(reference)
    gone = np.array(removed + [k for b in batches for k in b][:20], dtype=np.uint64)
    table.remove(gone)
    reference.difference_update(folded(int(k)) for k in gone)
    assert len(table) == len(reference)
    everything = np.array([k for b in batches for k in b] + removed, dtype=np.uint64)
    assert (table.contains(everything) == np.array([folded(int(k)) in reference for k in everything])).all()


def test_a_million_ids_grow_the_table_and_stay_found() -> None:
    rng = np.random.default_rng(3)
    table = U64Set()
    chunks = [rng.integers(0, 2**63, 50_000, dtype=np.uint64) for _ in range(20)]
    for chunk in chunks:
        table.add(chunk, distinct=True)
    assert len(table) == 1_000_000
    assert table.contains(np.concatenate(chunks)).all()
    assert not table.contains(rng.integers(2**63, 2**64 - 1, 10_000, dtype=np.uint64)).any()


def test_deduplicator_remembers_across_one_rotation_and_forgets_after_two() -> None:
    dedup = Deduplicator(window_s=60)
    ids = id_hashes(pl.Series(["a", "b", "c"]))
    assert dedup.first_seen_mask(ids, T0).all()
    dedup.remember(ids, T0)
    again = id_hashes(pl.Series(["a", "d", "d"]))
    assert dedup.first_seen_mask(again, T0 + timedelta(seconds=70)).tolist() == [False, True, False]
    assert dedup.first_seen_mask(again, T0 + timedelta(seconds=140)).tolist() == [True, True, False]
    dedup.forget(ids)
    assert len(dedup) == 0
