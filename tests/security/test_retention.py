"""Retention: the policy file, and runs that delete lake partitions and registry rows past their time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.alerts.models import Alert, AlertEvidence, AlertStep, OutboxNotice, Webhook, WebhookDelivery
from safecity.core.capabilities import extensions
from safecity.core.kinds import ALL_KINDS
from safecity.ingest.models import DeadLetter, IngestBatch
from safecity.lake import Lake
from safecity.registry.models import Area, WatchlistEntry
from safecity.security import retention
from safecity.security.audit import Actor, AuditTrail
from safecity.security.models import (
    Account,
    AuditRecord,
    AuthSession,
    Case,
    CaseHold,
    CaseMember,
    Purge,
    PurgeStatus,
)
from safecity.security.purge import LAKE
from safecity.security.retention import (
    DEFAULT_RETENTION_FILE,
    RetentionError,
    RetentionPolicy,
    load_policy,
    parse_policy,
)
from safecity.security.retention_run import APPLIED, apply_retention, plan_retention
from safecity.store import transaction
from safecity.store.retention import Purgeable, RetentionEntry
from tests.conftest import T0
from tests.lake.conftest import make_records

AS_OF = T0.date()  # 2026-11-22
OPERATOR = Actor("os:ops", "system", "command line", "cli")


def utc(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


# --- the policy file ------------------------------------------------------------------------------


def test_the_packaged_policy_states_every_record_kind() -> None:
    policy = load_policy(DEFAULT_RETENTION_FILE)
    assert set(policy.lake) == ALL_KINDS
    assert policy.lake["rfid_read"] == 30
    assert policy.lake["heartbeat"] < policy.lake["rfid_read"]
    assert policy.registry.ingest_batches >= policy.registry.dead_letters


BROKEN = """\
version: 2
lake:
  rfid_read: 30
  heartbeat: -1
  plate_read: "thirty"
  teleport: 5
registry:
  closed_alerts: 365
  dead_letters: 90
  ingest_batches: 30
  audit_records: 3650
  forever: 1
"""


def test_every_installed_retention_entry_needs_a_period_and_the_packaged_policy_states_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = load_policy(DEFAULT_RETENTION_FILE)
    names = [e.name for e in retention.registry_entries()]
    assert {"closed_alerts", "closed_watchlist_entries", "closed_cases", "ingest_batches"} <= set(names)
    assert all(policy.registry_days(n) >= 1 for n in names)
    # A new capability's entry: a policy that does not state it is refused, naming it.
    tenancies = RetentionEntry(
        name="ended_guardianships",
        description="A wearer's guardians replaced, counted from then (a capability to come).",
        tables=("watchlist_entries",),
        due=lambda cut: [Purgeable("watchlist_entries", WatchlistEntry, WatchlistEntry.closed_at < cut("x"))],
    )
    monkeypatch.setattr(retention, "registry_entries", lambda: (*names_of(), tenancies))
    retention._registry_model.cache_clear()
    try:
        with pytest.raises(RetentionError) as refused:
            load_policy(DEFAULT_RETENTION_FILE)
        assert refused.value.problems == [
            "registry.ended_guardianships: missing; every retention must be stated"
        ]
    finally:
        retention._registry_model.cache_clear()


def names_of() -> tuple[RetentionEntry, ...]:
    """The entries installed before the test added one."""
    return tuple(extensions(RetentionEntry))


def test_a_broken_policy_lists_every_problem_and_where() -> None:
    with pytest.raises(RetentionError) as caught:
        parse_policy(BROKEN, source="retention.yaml")
    problems = caught.value.problems
    text = "\n".join(problems)
    assert caught.value.source == "retention.yaml"
    assert any(p.startswith("registry.audit_records: audit records are never deleted") for p in problems)
    assert any(p.startswith("lake.teleport: unknown record kind") for p in problems)
    assert "lake: no retention stated for alarm, count, door_swipe" in text
    assert "version:" in text
    assert any(p.startswith("lake.heartbeat:") and "greater than or equal to 1" in p for p in problems)
    assert any(p.startswith("lake.plate_read:") for p in problems)
    assert "registry.forever: extra key not allowed" in text
    assert "registry.closed_watchlist_entries: missing; every retention must be stated" in text
    assert "registry.closed_cases: missing" in text
    assert len([p for p in problems if p.startswith("lake.teleport")]) == 1


def test_ledger_entries_may_not_go_before_their_dead_letters() -> None:
    text = DEFAULT_RETENTION_FILE.read_text().replace("ingest_batches: 400", "ingest_batches: 30")
    with pytest.raises(RetentionError, match="registry.ingest_batches: 30 days is shorter than"):
        parse_policy(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("lake: [unclosed", "not valid YAML"),
        ("- a list", "the file must be a mapping"),
        ("version: 1\nlake: {}\n", "registry: missing"),
    ],
)
def test_unreadable_policies_say_why(text: str, problem: str) -> None:
    with pytest.raises(RetentionError, match=problem):
        parse_policy(text)


def test_a_missing_policy_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(RetentionError, match="cannot read"):
        load_policy(tmp_path / "nope.yaml")


# --- a registry and lake with something of everything ---------------------------------------------


@pytest.fixture
def policy() -> RetentionPolicy:
    return load_policy(DEFAULT_RETENTION_FILE)


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    store = Lake(tmp_path / "lake")
    # kind, day, rows. As of 2026-11-22 raw sightings keep from 10-23, heartbeats from 11-15.
    layout = [
        ("rfid_read", utc(2026, 10, 1), 3),  # due
        ("rfid_read", utc(2026, 10, 10), 2),  # held by an open case
        ("rfid_read", utc(2026, 10, 15), 2),  # held by a closed case still kept
        ("rfid_read", utc(2026, 10, 20), 1),  # held only by a case that is itself due: goes
        ("rfid_read", utc(2026, 11, 20), 4),  # recent
        ("heartbeat", utc(2026, 11, 10), 5),  # due
        ("heartbeat", utc(2026, 11, 20), 1),  # recent
        ("count", utc(2026, 1, 1), 2),  # counts are kept 400 days
    ]
    for kind, day, n in layout:
        store.append(make_records([{"kind": kind, "ts": day + timedelta(hours=h)} for h in range(n)]))
    yield store
    store.close()


@pytest.fixture
def seeded(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """One row of each retention case: due, held, open, recent."""
    with transaction(session_factory) as s:
        s.add(Area(id="330302", kind="district", name="Lucheng"))
        s.add(_account(1, "inv"))
        s.flush()
        _cases(s)
        _alerts(s)
        _watchlist(s)
        _ledger(s)
        _sessions(s)
    return session_factory


def _account(account_id: int, username: str) -> Account:
    return Account(
        id=account_id,
        username=username,
        display_name=username,
        kind="staff",
        role="investigator",
        unit="Lucheng station",
        areas=["330302"],
        password_hash="x",
        created_at=utc(2020, 1, 1),
        created_by="admin",
    )


def _case(case_id: str, *, closed_at: datetime | None, hold_day: str) -> list[object]:
    case = Case(
        id=case_id,
        title=case_id,
        basis="complaint",
        area_id="330302",
        window_start=utc(2026, 1, 1),
        window_end=utc(2026, 12, 31),
        status="closed" if closed_at else "open",
        opened_by="inv",
        opened_at=utc(2019, 1, 1),
        closed_at=closed_at,
    )
    hold = CaseHold(
        case_id=case_id, kind="rfid_read", from_date=hold_day, to_date=hold_day, placed_by="inv", placed_at=T0
    )
    member = CaseMember(case_id=case_id, account_id=1, assigned_by="admin", assigned_at=utc(2019, 1, 1))
    return [case, hold, member]


def _cases(s: Session) -> None:
    s.add_all(_case("C-OPEN", closed_at=None, hold_day="2026-10-10"))
    s.add_all(_case("C-RECENT", closed_at=utc(2026, 6, 1), hold_day="2026-10-15"))
    s.add_all(_case("C-OLD", closed_at=utc(2020, 1, 1), hold_day="2026-10-20"))


def _alert(alert_id: str, status: str, updated: datetime) -> Alert:
    return Alert(
        id=alert_id,
        rule="stolen-bike",
        rule_kind="hotlist",
        severity="high",
        title="Stolen bike seen",
        subject_kind="tag",
        subject="00A1B2C3D4",
        dedup_key=alert_id,
        status=status,
        station_id="S1",
        first_seen_at=updated,
        last_seen_at=updated,
        created_at=updated,
        updated_at=updated,
    )


def _alerts(s: Session) -> None:
    s.add_all(
        [
            _alert("A-OLD", "closed", utc(2025, 6, 1)),
            _alert("A-RECENT", "closed", utc(2026, 1, 1)),
            _alert("A-OPEN", "new", utc(2024, 1, 1)),
            Webhook(id="W1", url="https://example.org/hook", secret="s", created_at=utc(2024, 1, 1)),
        ]
    )
    s.flush()
    for alert_id in ("A-OLD", "A-RECENT"):
        for i in range(2):
            s.add(
                AlertEvidence(
                    alert_id=alert_id,
                    event_id=f"{alert_id}-{i}",
                    corr_id="c",
                    kind="rfid_read",
                    device="BS-1",
                    ts=utc(2025, 5, 1),
                )
            )
        s.add(AlertStep(alert_id=alert_id, from_status="new", to_status="closed", by="o", at=utc(2025, 6, 1)))
        s.add(
            OutboxNotice(
                id=f"N-{alert_id}",
                alert_id=alert_id,
                channel="sms",
                address="138",
                body="seen",
                created_at=utc(2025, 5, 1),
            )
        )
        s.add(
            WebhookDelivery(
                webhook_id="W1", alert_id=alert_id, event="raised", status="delivered", attempts=1, at=T0
            )
        )


def _entry(subject: str, status: str, *, expires: datetime, closed: datetime | None) -> WatchlistEntry:
    return WatchlistEntry(
        list_kind="stolen_bike",
        subject_kind="tag",
        subject=subject,
        reported_by="owner",
        reported_at=utc(2024, 1, 1),
        basis="report",
        owner="officer",
        expires_at=expires,
        status=status,
        closed_at=closed,
    )


def _watchlist(s: Session) -> None:
    s.add_all(
        [
            _entry("0000000001", "recovered", expires=utc(2027, 1, 1), closed=utc(2025, 1, 1)),  # due
            _entry("0000000002", "active", expires=utc(2027, 1, 1), closed=None),
            _entry("0000000003", "active", expires=utc(2024, 6, 1), closed=None),  # expired long ago: due
            _entry("0000000004", "withdrawn", expires=utc(2027, 1, 1), closed=utc(2026, 11, 1)),
        ]
    )


def _batch(batch_id: str, received: datetime, status: str = "stored", letters: int = 1) -> list[object]:
    batch = IngestBatch(
        id=batch_id,
        source="http",
        parts=1,
        refused=0,
        received_at=received,
        status=status,
        received=10,
        duplicates=1,
        accepted=9,
        stored=9 - letters,
        dead_lettered=letters,
    )
    return [
        batch,
        *(
            DeadLetter(batch_id=batch_id, idx=i, reason="bad", raw="{}", received_at=received)
            for i in range(letters)
        ),
    ]


def _ledger(s: Session) -> None:
    for rows in (
        _batch("B-OLD", utc(2025, 1, 1)),  # entry and its dead letter go
        _batch("B-MID", utc(2026, 6, 1)),  # entry kept, its 90-day-old dead letter goes
        _batch("B-NEW", utc(2026, 11, 20)),
        _batch("B-WRITING", utc(2024, 1, 1), status="writing", letters=0),  # in doubt: never aged out
    ):
        s.add(rows[0])
        s.flush()
        s.add_all(rows[1:])


def _sessions(s: Session) -> None:
    common = {"account_id": 1, "refresh_hash": "h", "created_at": utc(2025, 12, 1), "refreshed_at": T0}
    s.add_all(
        [
            AuthSession(id="S-EXPIRED", expires_at=utc(2026, 1, 1), **common),
            AuthSession(id="S-REVOKED", expires_at=T0, revoked_at=utc(2026, 11, 1), **common),
            AuthSession(id="S-LIVE", expires_at=T0 + timedelta(hours=4), **common),
        ]
    )


EXPECTED_REGISTRY = {
    "alerts": 1,
    "alert_evidence": 2,
    "alert_steps": 1,
    "outbox": 1,
    "webhook_deliveries": 1,
    "watchlist_entries": 2,
    "dead_letters": 2,
    "ingest_batches": 1,
    "auth_sessions": 1,
    "cases": 1,
    "case_members": 1,
    "case_holds": 1,
}


def ids(factory: sessionmaker[Session], column: object) -> set[object]:
    with factory() as s:
        return set(s.scalars(select(column)))  # type: ignore[call-overload]


def lake_layout(lake: Lake) -> set[tuple[str, str]]:
    return {(p.date.isoformat(), p.kind) for p in lake.partitions()}


# --- runs -----------------------------------------------------------------------------------------


def test_a_dry_run_deletes_nothing_and_reports_what_apply_deletes(
    seeded: sessionmaker[Session], lake: Lake, policy: RetentionPolicy
) -> None:
    before = lake_layout(lake)
    plan = plan_retention(seeded, lake, policy, as_of=AS_OF)

    assert lake_layout(lake) == before
    assert ids(seeded, Alert.id) == {"A-OLD", "A-RECENT", "A-OPEN"}
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(AuditRecord)) == 0
        assert s.scalar(select(func.count()).select_from(Purge)) == 0

    applied = apply_retention(seeded, lake, policy, as_of=AS_OF, now=T0, actor=OPERATOR)

    assert applied.lake == plan.lake
    assert applied.registry == plan.registry == EXPECTED_REGISTRY
    assert applied.held == plan.held
    assert plan.total_rows == applied.total_rows == 9 + sum(EXPECTED_REGISTRY.values())


def test_apply_deletes_what_is_past_its_time_and_keeps_held_open_and_recent(
    seeded: sessionmaker[Session], lake: Lake, policy: RetentionPolicy
) -> None:
    report = apply_retention(seeded, lake, policy, as_of=AS_OF, now=T0, actor=OPERATOR)

    assert lake_layout(lake) == {
        ("2026-10-10", "rfid_read"),  # open case
        ("2026-10-15", "rfid_read"),  # closed case within its retention
        ("2026-11-20", "rfid_read"),
        ("2026-11-20", "heartbeat"),
        ("2026-01-01", "count"),
    }
    assert report.lake_by_kind() == {
        "heartbeat": {"partitions": 1, "rows": 5, "first": "2026-11-10", "last": "2026-11-10"},
        "rfid_read": {"partitions": 2, "rows": 4, "first": "2026-10-01", "last": "2026-10-20"},
    }
    assert report.held_by_case() == {"C-OPEN": 1, "C-RECENT": 1}
    assert lake.count() == 2 + 2 + 4 + 1 + 2
    assert not list((lake.root / ".trash").iterdir())

    assert ids(seeded, Alert.id) == {"A-RECENT", "A-OPEN"}
    assert ids(seeded, AlertEvidence.alert_id) == ids(seeded, AlertStep.alert_id) == {"A-RECENT"}
    assert ids(seeded, OutboxNotice.alert_id) == ids(seeded, WebhookDelivery.alert_id) == {"A-RECENT"}
    assert ids(seeded, WatchlistEntry.subject) == {"0000000002", "0000000004"}
    assert ids(seeded, IngestBatch.id) == {"B-MID", "B-NEW", "B-WRITING"}
    assert ids(seeded, DeadLetter.batch_id) == {"B-NEW"}
    assert ids(seeded, AuthSession.id) == {"S-REVOKED", "S-LIVE"}
    assert ids(seeded, Case.id) == {"C-OPEN", "C-RECENT"}
    assert ids(seeded, CaseHold.case_id) == ids(seeded, CaseMember.case_id) == {"C-OPEN", "C-RECENT"}


def test_a_second_run_deletes_nothing_and_is_audited_too(
    seeded: sessionmaker[Session], lake: Lake, policy: RetentionPolicy
) -> None:
    first = apply_retention(seeded, lake, policy, as_of=AS_OF, now=T0, actor=OPERATOR)
    layout = lake_layout(lake)

    second = apply_retention(seeded, lake, policy, as_of=AS_OF, now=T0 + timedelta(minutes=5), actor=OPERATOR)

    assert (second.lake, second.registry, second.total_rows) == ([], {}, 0)
    assert lake_layout(lake) == layout
    assert first.audit_seq is not None and second.audit_seq == first.audit_seq + 1
    assert plan_retention(seeded, lake, policy, as_of=AS_OF).total_rows == 0


def test_the_audit_record_reports_the_counts_and_the_chain_holds(
    seeded: sessionmaker[Session], lake: Lake, policy: RetentionPolicy
) -> None:
    report = apply_retention(
        seeded, lake, policy, as_of=AS_OF, now=T0, actor=OPERATOR, source="/etc/safecity/retention.yaml"
    )

    with seeded() as s:
        [record] = s.scalars(select(AuditRecord)).all()
        purges = s.scalars(select(Purge)).all()
    assert (record.seq, record.action, record.actor, record.role) == (
        report.audit_seq,
        APPLIED,
        "os:ops",
        "system",
    )
    assert record.result_count == report.total_rows
    detail = json.loads(record.detail)
    assert detail["as_of"] == "2026-11-22"
    assert detail["policy"] == "/etc/safecity/retention.yaml"
    assert detail["registry"] == EXPECTED_REGISTRY
    assert detail["lake"]["heartbeat"]["rows"] == 5
    assert detail["held_by_case"] == {"C-OPEN": 1, "C-RECENT": 1}
    assert {p.audit_seq for p in purges} == {record.seq}
    assert {p.status for p in purges} == {PurgeStatus.DONE}
    assert sum(p.rows for p in purges if p.target == LAKE) == 9
    assert AuditTrail(seeded).verify().ok


def test_a_run_interrupted_after_deleting_partitions_is_settled_by_the_next(
    seeded: sessionmaker[Session], lake: Lake, policy: RetentionPolicy
) -> None:
    # The crash: pending rows written, one partition deleted, the other not yet, nothing audited.
    with transaction(seeded) as s:
        for day, kind, rows in (("2026-10-01", "rfid_read", 3), ("2026-10-15", "rfid_read", 2)):
            s.add(
                Purge(
                    run_id="R1", at=T0, status=PurgeStatus.PENDING, target=LAKE, kind=kind, day=day, rows=rows
                )
            )
    lake.drop([(date(2026, 10, 1), "rfid_read")])
    assert plan_retention(seeded, lake, policy, as_of=AS_OF).pending == 2

    report = apply_retention(seeded, lake, policy, as_of=AS_OF, now=T0, actor=OPERATOR)

    with seeded() as s:
        purges = s.scalars(select(Purge).where(Purge.target == LAKE)).all()
    # The deleted partition is reported by this run's audit record; the untouched one was held
    # meanwhile (case C-RECENT), so its pending row is dropped and the partition stays.
    assert sorted((p.day, p.status) for p in purges) == [
        ("2026-10-01", "done"),
        ("2026-10-20", "done"),
        ("2026-11-10", "done"),
    ]
    assert ("2026-10-15", "rfid_read") in lake_layout(lake)
    assert report.lake_by_kind()["rfid_read"]["rows"] == 3 + 1


def test_days_still_accepting_late_events_are_never_deleted(
    seeded: sessionmaker[Session], lake: Lake, policy: RetentionPolicy
) -> None:
    eager = policy.model_copy(update={"lake": {**policy.lake, "heartbeat": 1}})
    plan = plan_retention(seeded, lake, eager, as_of=AS_OF, accepting_since=date(2026, 11, 15))
    assert [(p.day.isoformat(), p.kind) for p in plan.lake if p.kind == "heartbeat"] == [
        ("2026-11-10", "heartbeat")
    ]


def test_applying_as_of_a_future_day_is_refused(
    seeded: sessionmaker[Session], lake: Lake, policy: RetentionPolicy
) -> None:
    with pytest.raises(ValueError, match="after today"):
        apply_retention(seeded, lake, policy, as_of=AS_OF + timedelta(days=1), now=T0)
    assert plan_retention(seeded, lake, policy, as_of=AS_OF + timedelta(days=400)).total_rows > 0
