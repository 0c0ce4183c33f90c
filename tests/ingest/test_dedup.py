"""The NumPy hash set behind idempotency agrees with a Python set, through growth and deletions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

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


def days_of(*offsets: int) -> pl.Series:
    """Event days, as offsets from T0's day."""
    return pl.Series([T0.date() + timedelta(days=d) for d in offsets], dtype=pl.Date)


def lake_of(stored: dict[date, list[str]]) -> Callable[[date], pl.Series]:
    """A loader answering what a lake holds per day, counting the days it was asked for."""

    def load(day: date) -> pl.Series:
        loaded.append(day)
        return pl.Series(stored.get(day, []), dtype=pl.String)

    loaded: list[date] = []
    load.loaded = loaded  # type: ignore[attr-defined]
    return load


def test_ids_are_remembered_by_event_day_until_the_day_leaves_the_acceptance_window() -> None:
    dedup = Deduplicator(load=lake_of({}), max_age_s=7 * 86400, future_skew_s=300)
    ids = id_hashes(pl.Series(["a", "b", "c"]))
    assert dedup.admit(ids, days_of(-2, -2, 0), T0).fresh.all()
    again = id_hashes(pl.Series(["a", "d", "d"]))
    later = T0 + timedelta(days=4, hours=12)
    assert dedup.admit(again, days_of(-2, 0, 0), later).fresh.tolist() == [False, True, False]
    # Day -2 has left the 7-day window a week later; day 0 (d) has not.
    week = T0 + timedelta(days=6, hours=12)
    assert dedup.admit(again, days_of(-2, 0, 0), week).fresh.tolist() == [True, False, False]


def test_admit_reserves_so_a_second_batch_with_the_same_ids_is_refused_until_forgotten() -> None:
    dedup = Deduplicator(load=lake_of({}), max_age_s=7 * 86400, future_skew_s=300)
    ids = id_hashes(pl.Series(["x1", "x2", "x1"]))
    first = dedup.admit(ids, days_of(0, 0, 0), T0)
    assert first.fresh.tolist() == [True, True, False]
    assert not dedup.admit(ids, days_of(0, 0, 0), T0).fresh.any()
    dedup.forget(first)
    assert dedup.admit(ids, days_of(0, 0, 0), T0).fresh.tolist() == [True, True, False]


def test_a_day_is_read_from_the_lake_once_when_a_late_event_first_needs_it() -> None:
    load = lake_of({T0.date() - timedelta(days=3): ["old-1", "old-2"]})
    dedup = Deduplicator(load=load, max_age_s=7 * 86400, future_skew_s=300)
    assert dedup.warm(T0) == 0 and load.loaded == [T0.date()]  # type: ignore[attr-defined]

    late = id_hashes(pl.Series(["old-1", "old-3"]))
    assert dedup.admit(late, days_of(-3, -3), T0).fresh.tolist() == [False, True]
    assert dedup.admit(late, days_of(-3, -3), T0).fresh.tolist() == [False, False]
    assert load.loaded == [T0.date(), T0.date() - timedelta(days=3)]  # type: ignore[attr-defined]


def test_quiet_days_beyond_the_memory_budget_are_dropped_and_reloaded_when_needed() -> None:
    stored = {T0.date() - timedelta(days=d): [f"d{d}-{i}" for i in range(1000)] for d in range(1, 6)}
    load = lake_of(stored)
    dedup = Deduplicator(load=load, max_age_s=7 * 86400, future_skew_s=300, cold_bytes=2 * 8000)
    for d in range(1, 6):  # a backlog, day by day; each day's ids are all known already
        resent = id_hashes(pl.Series(stored[T0.date() - timedelta(days=d)]))
        release = dedup.admit(resent, days_of(*[-d] * 1000), T0)
        assert not release.fresh.any()
        dedup.release(release)
    assert dedup.nbytes <= 2 * 8000 + dedup._days[T0.date() - timedelta(days=5)].nbytes

    again = id_hashes(pl.Series(stored[T0.date() - timedelta(days=1)]))
    assert not dedup.admit(again, days_of(*[-1] * 1000), T0).fresh.any()  # reloaded, still known
    assert load.loaded.count(T0.date() - timedelta(days=1)) == 2  # type: ignore[attr-defined]


def test_a_day_with_a_batch_in_flight_is_never_dropped() -> None:
    load = lake_of({})
    dedup = Deduplicator(load=load, max_age_s=7 * 86400, future_skew_s=300, cold_bytes=0)
    inflight = dedup.admit(id_hashes(pl.Series(["late-1"])), days_of(-3), T0)  # not stored yet
    dedup.admit(id_hashes(pl.Series(["late-2"])), days_of(-4), T0)  # another quiet day, over budget

    assert not dedup.admit(id_hashes(pl.Series(["late-1"])), days_of(-3), T0).fresh.any()
    dedup.release(inflight)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(4, 2**64 - 1), min_size=1, max_size=3000, unique=True), st.integers(4, 12))
def test_a_grown_table_finds_every_key_where_probing_would(keys: list[int], bits: int) -> None:
    table = U64Set(capacity=1 << bits)
    values = np.array(keys, dtype=np.uint64)
    table.add(values, distinct=True)  # grows (bulk placement) when the keys do not fit
    assert table.contains(values).all()
    assert len(table) == len(keys)
    table.remove(values[::2])
    assert table.contains(values[1::2]).all()
