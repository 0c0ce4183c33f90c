"""Reconciliation still adds up after retention deletes lake partitions, dead letters and ledger entries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import ManualClock
from safecity.ingest import IngestPipeline, Part
from safecity.ingest.reconcile import Reconciliation, reconcile
from safecity.lake import Lake
from safecity.security.models import Purge, PurgeStatus
from safecity.security.purge import LAKE
from safecity.security.retention import DEFAULT_RETENTION_FILE, RetentionPolicy, load_policy
from safecity.security.retention_run import apply_retention
from safecity.store import transaction
from tests.conftest import T0
from tests.ingest.conftest import ndjson, read

POLICY = load_policy(DEFAULT_RETENTION_FILE)


@pytest.fixture
def sink(lake: Lake) -> Lake:
    """The ingest pipeline (tests/ingest/conftest.py) writes to a real lake, for retention to delete from."""
    return lake


def ingest(pipeline: IngestPipeline, body: bytes) -> None:
    pipeline.process([Part(body=body, device_id="BS-000001", source="http")])


def readings(first: int, at: datetime, n: int, bad: int = 0) -> bytes:
    events = [read(first + i, ts=(at + timedelta(minutes=i)).isoformat()) for i in range(n)]
    events += [read(first + n + i, kind="teleport") for i in range(bad)]
    return ndjson(events)


def retain(session_factory: sessionmaker[Session], lake: Lake, clock: ManualClock, days: int) -> None:
    clock.set(T0 + timedelta(days=days))
    apply_retention(session_factory, lake, POLICY, as_of=clock.now().date(), now=clock.now())


def check(session_factory: sessionmaker[Session], lake: Lake) -> Reconciliation:
    result = reconcile(session_factory, lake)
    assert result.ok, result.as_dict()
    return result


def test_reconciliation_adds_up_as_retention_deletes_lake_dead_letters_and_ledger(
    session_factory: sessionmaker[Session], pipeline: IngestPipeline, lake: Lake, clock: ManualClock
) -> None:
    ingest(pipeline, readings(0, T0 - timedelta(days=6), 5, bad=2))
    ingest(pipeline, readings(100, T0 - timedelta(days=3), 3, bad=1))
    ingest(pipeline, readings(0, T0 - timedelta(days=6), 2))  # duplicates
    ingest(pipeline, b"{not json")  # refused whole, kept as one dead letter
    before = check(session_factory, lake)
    assert (before.stored_lake, before.dead_letters_stored, before.batches) == (8, 4, 4)

    retain(session_factory, lake, clock, 40)  # sightings past 30 days: the lake empties
    after_lake = check(session_factory, lake)
    assert (after_lake.stored_lake, after_lake.purged_lake, after_lake.dead_letters_stored) == (0, 8, 4)

    retain(session_factory, lake, clock, 100)  # dead letters past 90 days
    after_letters = check(session_factory, lake)
    assert (after_letters.dead_letters_stored, after_letters.purged_dead_letters) == (0, 4)

    retain(session_factory, lake, clock, 500)  # ledger entries past 400 days: totals carried forward
    after_ledger = check(session_factory, lake)
    assert (after_ledger.batches, after_ledger.batches_purged) == (0, 4)
    for figure in (
        "received",
        "duplicates",
        "accepted",
        "stored_ledger",
        "dead_lettered_ledger",
        "bodies_refused",
    ):
        assert getattr(after_ledger, figure) == getattr(before, figure), figure

    ingest(pipeline, readings(500, clock.now() - timedelta(hours=1), 2, bad=1))
    assert check(session_factory, lake).stored_lake == 2


def test_an_interrupted_lake_purge_is_in_doubt_until_the_next_run_settles_it(
    session_factory: sessionmaker[Session], pipeline: IngestPipeline, lake: Lake, clock: ManualClock
) -> None:
    ingest(pipeline, readings(0, T0 - timedelta(days=6), 4))
    day = (T0 - timedelta(days=6)).date()
    with transaction(session_factory) as s:
        s.add(
            Purge(
                run_id="R1",
                at=T0,
                status=PurgeStatus.PENDING,
                target=LAKE,
                kind="rfid_read",
                day=day.isoformat(),
                rows=4,
            )
        )
    lake.drop([(day, "rfid_read")])  # ...and the run died here

    doubtful = reconcile(session_factory, lake)
    assert not doubtful.ok and doubtful.purges_in_doubt == 1

    retain(session_factory, lake, clock, 0)
    settled = check(session_factory, lake)
    assert (settled.purges_in_doubt, settled.purged_lake, settled.stored_lake) == (0, 4, 0)


steps = st.lists(
    st.one_of(
        st.tuples(st.just("ingest"), st.integers(0, 6), st.integers(0, 4), st.integers(0, 2)),
        st.tuples(st.just("advance"), st.integers(1, 200), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_counts_reconcile_whatever_retention_deletes(
    session_factory: sessionmaker[Session],
    pipeline: IngestPipeline,
    lake: Lake,
    clock: ManualClock,
    plan: list[tuple[str, int, int, int]],
) -> None:
    # Examples share the database and lake: the invariant must hold over all of them.
    policy: RetentionPolicy = POLICY.model_copy(update={"lake": dict.fromkeys(POLICY.lake, 1)})
    for i, (action, amount, good, bad) in enumerate(plan):
        if action == "ingest":
            ingest(pipeline, readings(i * 10, clock.now() - timedelta(days=amount), good, bad=bad))
        else:
            clock.advance(timedelta(days=amount))
            now = clock.now()
            apply_retention(session_factory, lake, policy, as_of=now.date(), now=now)
        check(session_factory, lake)
