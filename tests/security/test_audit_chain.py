"""The audit chain: appends link by hash, and any edit, deletion, swap or cut is found where it is."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from safecity.security import audit
from safecity.security.audit import Actor, AuditEntry, AuditFilter, AuditTrail, Outcome
from safecity.security.keys import load_audit_key
from tests.conftest import T0

ACTOR = Actor("inv-7", "investigator", "Lucheng Station", "10.0.0.7")
FIELDS = (
    "actor",
    "role",
    "unit",
    "action",
    "resource",
    "purpose",
    "subjects",
    "detail",
    "client",
    "at_us",
    "status",
)


def fill(trail: AuditTrail, n: int) -> None:
    """n varied records, one second apart."""
    for i in range(n):
        trail.record(
            ACTOR,
            AuditEntry(
                action="subjects.trace" if i % 2 else "people.read",
                resource=f"GET /api/v1/people/{i}",
                outcome=Outcome.ALLOWED if i % 3 else Outcome.REFUSED,
                status=200 if i % 3 else 403,
                case_id=f"C2026-{i:06d}" if i % 2 else None,
                purpose="theft of e-bike" if i % 2 else None,
                subjects=[f"person:{i}", f"tag:E{i:07X}"],
                result_count=i,
                detail={"i": i, "nested": {"b": [1, 2], "a": "x"}},
            ),
            at=T0 + timedelta(seconds=i),
        )


def reindex(factory: sessionmaker[Session]) -> None:
    """Rebuild the subject index from the records as they now stand."""
    with factory.begin() as session:
        rows = session.execute(text("SELECT seq, subjects FROM audit_records")).all()
        session.execute(text("DELETE FROM audit_subjects"))
        for seq, subjects in rows:
            for name in json.loads(subjects):
                session.execute(
                    text("INSERT INTO audit_subjects (subject, seq) VALUES (:s, :q)"), {"s": name, "q": seq}
                )


def tamper(factory: sessionmaker[Session], sql: str, **params: object) -> None:
    """Change the table behind the trail's back, as an intruder with database access would."""
    with factory.begin() as session:
        session.execute(text(sql), params)


def empty(factory: sessionmaker[Session]) -> None:
    """Start a Hypothesis example from an empty chain (the database fixture lives per test)."""
    for table in ("audit_subjects", "audit_records", "audit_head"):
        tamper(factory, f"DELETE FROM {table}")


def test_a_fresh_chain_verifies_and_links_each_record_to_the_last(
    session_factory: sessionmaker[Session],
) -> None:
    trail = AuditTrail(session_factory)
    fill(trail, 5)
    report = trail.verify()
    assert report.ok, report.reason
    assert (report.records, report.last_seq) == (5, 5)
    with session_factory() as session:
        rows = session.execute(text("SELECT seq, prev_hash, hash FROM audit_records ORDER BY seq")).all()
    assert rows[0][1] == audit.GENESIS
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, 5))


def test_an_empty_chain_verifies(session_factory: sessionmaker[Session]) -> None:
    report = AuditTrail(session_factory).verify()
    assert report.ok
    assert report.records == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(3, 12), data=st.data())
def test_any_edited_field_is_found_at_its_record(
    session_factory: sessionmaker[Session], n: int, data: st.DataObject
) -> None:
    empty(session_factory)
    trail = AuditTrail(session_factory)
    fill(trail, n)
    target = data.draw(st.integers(1, n), label="record")
    column = data.draw(st.sampled_from(FIELDS), label="field")
    value: object = 424242 if column in ("at_us", "status") else "forged"
    tamper(session_factory, f"UPDATE audit_records SET {column} = :v WHERE seq = :s", v=value, s=target)
    report = trail.verify()
    assert not report.ok
    assert report.broken_seq == target
    assert "altered" in (report.reason or "")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(3, 12), data=st.data())
def test_a_deleted_record_is_found_where_it_was(
    session_factory: sessionmaker[Session], n: int, data: st.DataObject
) -> None:
    empty(session_factory)
    trail = AuditTrail(session_factory)
    fill(trail, n)
    target = data.draw(st.integers(1, n - 1), label="record")  # the last one is the cut-off case below
    tamper(session_factory, "DELETE FROM audit_subjects WHERE seq = :s", s=target)
    tamper(session_factory, "DELETE FROM audit_records WHERE seq = :s", s=target)
    report = trail.verify()
    assert (report.ok, report.broken_seq) == (False, target)
    assert "missing" in (report.reason or "")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(3, 12), data=st.data())
def test_two_swapped_records_are_found_at_the_first_of_them(
    session_factory: sessionmaker[Session], n: int, data: st.DataObject
) -> None:
    empty(session_factory)
    trail = AuditTrail(session_factory)
    fill(trail, n)
    a = data.draw(st.integers(1, n - 1), label="first")
    b = data.draw(st.integers(a + 1, n), label="second")
    # Swap the records' places (their seq numbers), keeping each record's own fields and hashes.
    tamper(session_factory, "DELETE FROM audit_subjects")
    tamper(session_factory, "UPDATE audit_records SET seq = -1 WHERE seq = :a", a=a)
    tamper(session_factory, "UPDATE audit_records SET seq = :a WHERE seq = :b", a=a, b=b)
    tamper(session_factory, "UPDATE audit_records SET seq = :b WHERE seq = -1", b=b)
    reindex(session_factory)  # a careful intruder leaves the subject index matching the records
    report = trail.verify()
    assert (report.ok, report.broken_seq) == (False, a)


def test_records_cut_from_the_end_are_found_by_the_head(session_factory: sessionmaker[Session]) -> None:
    trail = AuditTrail(session_factory)
    fill(trail, 6)
    tamper(session_factory, "DELETE FROM audit_subjects WHERE seq > 4")
    tamper(session_factory, "DELETE FROM audit_records WHERE seq > 4")
    report = trail.verify()
    assert (report.ok, report.broken_seq) == (False, 5)
    assert "removed from the end" in (report.reason or "")


def test_a_rewritten_chain_is_caught_by_its_signed_seal(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """An intruder who recomputes every hash and the head still cannot forge the seal."""
    key = load_audit_key(tmp_path / "audit.key", generate=True)
    trail = AuditTrail(session_factory)
    fill(trail, 4)
    seal = trail.seal(key, at=T0)
    assert seal is not None and seal.seq == 4
    assert trail.seal(key, at=T0) is None  # nothing new to seal
    assert trail.verify(public_key=key.public_key()).seals_checked == 1
    # Rewrite record 2 and re-chain everything after it, as a careful intruder would.
    tamper(session_factory, "UPDATE audit_records SET purpose = 'nothing to see' WHERE seq = 2")
    with session_factory() as session:
        rows = session.execute(
            text(f"SELECT {', '.join(audit.CHAINED_FIELDS)} FROM audit_records ORDER BY seq")
        ).all()
    prev = audit.GENESIS
    for row in rows:
        digest = audit.link_hash(prev, list(row))
        tamper(
            session_factory,
            "UPDATE audit_records SET prev_hash = :p, hash = :h WHERE seq = :s",
            p=prev,
            h=digest,
            s=row[0],
        )
        prev = digest
    tamper(session_factory, "UPDATE audit_head SET hash = :h", h=prev)
    report = trail.verify(public_key=key.public_key())
    assert (report.ok, report.broken_seq) == (False, 4)
    assert "seal" in (report.reason or "")


def test_a_forged_seal_signature_is_refused(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    key = load_audit_key(tmp_path / "audit.key", generate=True)
    other = load_audit_key(tmp_path / "other.key", generate=True)
    trail = AuditTrail(session_factory)
    fill(trail, 3)
    trail.seal(other, at=T0)  # signed, but not with the key the auditor trusts
    report = trail.verify(public_key=key.public_key())
    assert (report.ok, report.broken_seq) == (False, 3)
    assert "none of the keys given" in (report.reason or "")
    # A seal claiming the trusted key's id with a signature that does not verify.
    from safecity.security.keys import key_id

    tamper(session_factory, "UPDATE audit_seals SET key_id = :k", k=key_id(key.public_key()))
    report = trail.verify(public_key=key.public_key())
    assert (report.ok, report.broken_seq) == (False, 3)
    assert "invalid signature" in (report.reason or "")


def test_seals_made_with_a_retired_key_still_verify(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    old = load_audit_key(tmp_path / "old.key", generate=True)
    new = load_audit_key(tmp_path / "new.key", generate=True)
    trail = AuditTrail(session_factory)
    fill(trail, 2)
    trail.seal(old, at=T0)
    fill(trail, 1)
    trail.seal(new, at=T0)
    report = trail.verify(public_key=[old.public_key(), new.public_key()])
    assert report.ok and report.seals_checked == 2


def test_concurrent_appends_never_fork_the_chain(session_factory: sessionmaker[Session]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    trail = AuditTrail(session_factory)
    with ThreadPoolExecutor(4) as pool:
        seqs = list(pool.map(lambda i: trail.record(ACTOR, AuditEntry("x", f"r{i}"), at=T0), range(40)))
    assert sorted(seqs) == list(range(1, 41))
    assert trail.verify().ok


def test_search_finds_who_looked_at_a_subject(session_factory: sessionmaker[Session]) -> None:
    trail = AuditTrail(session_factory)
    fill(trail, 6)
    with session_factory() as session:
        found = audit.search(session, AuditFilter(subject_name="person:3"))
        assert [r.seq for r in found] == [4]
        assert found[0].actor == "inv-7"
        assert [r.seq for r in audit.search(session, AuditFilter(case_id="C2026-000005"))] == [6]
        assert [r.seq for r in audit.accessed_subjects(session, ["person:1", "person:2"])] == [3, 2]


@pytest.mark.parametrize("at_us", [0, 1, 1_700_000_000_123_456])
def test_times_round_trip_through_microseconds(at_us: int) -> None:
    assert audit.to_us(audit.from_us(at_us)) == at_us


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 10), data=st.data())
def test_any_subject_index_row_removed_or_added_is_found_at_its_record(
    session_factory: sessionmaker[Session], n: int, data: st.DataObject
) -> None:
    """Who looked at a person is answered from the index: verify holds it to the records' own subjects."""
    empty(session_factory)
    trail = AuditTrail(session_factory)
    fill(trail, n)
    seq = data.draw(st.integers(1, n), label="record")
    if data.draw(st.booleans(), label="remove"):
        tamper(
            session_factory,
            "DELETE FROM audit_subjects WHERE seq = :q AND subject = :s",
            q=seq,
            s=f"person:{seq - 1}",
        )
        expected = "lost"
    else:
        tamper(session_factory, "INSERT INTO audit_subjects (subject, seq) VALUES ('person:999', :q)", q=seq)
        expected = "does not hold"
    report = trail.verify()
    assert (report.ok, report.broken_seq) == (False, seq)
    assert expected in (report.reason or "")
