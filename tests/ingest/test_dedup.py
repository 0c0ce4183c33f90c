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


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.lists(u64 | st.sampled_from([0, 1, 2, 3, 2**64 - 1]), max_size=300), max_size=12),
    removed=st.lists(u64, max_size=50),
)
def test_add_missing_inserts_exactly_the_eligible_absent_hashes(
    batches: list[list[int]], removed: list[int]
) -> None:
    table, reference = U64Set(capacity=16), set()
    for n, batch in enumerate(batches):
        keys = np.array(batch, dtype=np.uint64)
        first = pl.Series(keys).is_first_distinct().to_numpy()
        eligible = first & (np.arange(keys.size) % 3 != 0)  # some withheld, as a caller may
        expected = []
        for k, e in zip(batch, eligible, strict=True):
            expected.append(bool(e) and folded(k) not in reference)
            if e:
                reference.add(folded(k))
        assert table.add_missing(keys, eligible).tolist() == expected
        assert len(table) == len(reference)
        if n == len(batches) // 2:  # tombstones in the probe chains for the later batches
            gone = np.array(removed, dtype=np.uint64)
            table.remove(gone)
            reference.difference_update(folded(int(k)) for k in gone)
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
    assert dedup.admit(ids, T0).all()
    again = id_hashes(pl.Series(["a", "d", "d"]))
    assert dedup.admit(again, T0 + timedelta(seconds=70)).tolist() == [False, True, False]
    # "a" was last admitted two rotations ago; "d" one rotation ago, so it is still known.
    assert dedup.admit(again, T0 + timedelta(seconds=140)).tolist() == [True, False, False]
    dedup.forget(id_hashes(pl.Series(["a", "d"])))
    assert len(dedup) == 0


def test_admit_reserves_so_a_second_batch_with_the_same_ids_is_refused_until_forgotten() -> None:
    dedup = Deduplicator(window_s=60)
    ids = id_hashes(pl.Series(["x1", "x2", "x1"]))
    assert dedup.admit(ids, T0).tolist() == [True, True, False]
    assert not dedup.admit(ids, T0).any()
    dedup.forget(id_hashes(pl.Series(["x2"])))
    assert dedup.admit(ids, T0).tolist() == [False, True, False]
