"""Benchmark of accountable access: what authorisation plus audit add to a person query, and how
fast an auditor can verify the hash chain.

- `overhead_p50_ms` / `overhead_p99_ms`: per request, the security work a typical justified person
  query does before and after its own lookup: check the bearer token (signature, expiry, session
  not revoked, account enabled, areas expanded), check the case (open, member, window, area), and
  append the audit record (hash-chained, committed). Baseline: the person lookup itself.
- `verify_records_per_s`: `safecity audit verify` (links, head and subject index) over a chain of
  1,000,000 records (100,000 with BENCH_SIZE=small). Baseline, in the same run: a naive verifier
  (ORM objects, json.dumps per row, links only).
- `append_records_per_s`: audited actions per second on one thread (context).

Run: `.venv/bin/python bench/audit.py`. SQLite (the embedded default) in a temporary folder.
Prints one JSON object per figure on stdout, progress on stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import insert, select, text

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.platform import Platform
from safecity.registry.models import Area, EBike, Person
from safecity.security import accounts, audit, cases
from safecity.security.audit import AuditEntry, Outcome
from safecity.security.models import AuditHead, AuditRecord, AuditSubject
from safecity.security.roles import Role
from safecity.settings import Settings
from safecity.store import transaction
from safecity.store.db import checkpoint_sqlite

SMALL = os.environ.get("BENCH_SIZE") == "small"
QUERIES = 1_000 if SMALL else 5_000
CHAIN = 100_000 if SMALL else 1_000_000
NAIVE = 20_000 if SMALL else 100_000
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[audit bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(
    metric: str,
    value: float,
    unit: str,
    *,
    baseline: float | None,
    ratio: float | None,
    target: float | None,
    **extra: object,
) -> None:
    """One figure as a JSON line."""
    row = {
        "bench": "audit",
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": None if ratio is None else round(ratio, 2),
        "target": target,
        **extra,
    }
    print(json.dumps(row), flush=True)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of the samples."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seed(platform: Platform) -> tuple[str, str, int]:
    """A district with a station and community, an owner with a bike, an investigator and a case."""
    with transaction(platform.session_factory) as session:
        session.add(Area(id="D1", kind="district", name="Lucheng"))
        session.flush()
        session.add(Area(id="S1", kind="station", name="Wuma", parent_id="D1", station_id="S1"))
        session.flush()
        session.add(Area(id="C1", kind="community", name="Wuma Community", parent_id="S1", station_id="S1"))
        session.flush()
    with transaction(platform.session_factory) as session:
        bike = registry.register_bike(
            session,
            reg=registry.BikeRegistration(
                tag_id="00A1B2C3D4",
                frame_number="WZ-1",
                model="Yadea",
                colour="red",
                owner_id_number="11010519491231002X",
                owner_name="Zhang Wei",
                owner_phone="13800138000",
            ),
            by="desk",
            now=NOW,
            pseudonymize=platform.pseudonyms.pseudonym,
        )
        bike.owner.home_area_id = "C1"
        person_id = bike.owner_id
        account = accounts.create_account(
            session,
            accounts.NewAccount(
                username="inv-1",
                display_name="Inv",
                role=Role.INVESTIGATOR,
                unit="CID",
                password="correct horse battery staple",
                areas=("D1",),
            ),
            by="bench",
            now=NOW,
        )
        auth, _ = accounts.start_session(session, account, now=NOW, ttl_s=86400)
        principal = platform.security.principal_of(account, session_id=auth.id)
        case = cases.open_case(
            session,
            principal,
            title="theft",
            basis="order 1",
            area_id="S1",
            window_start=NOW - timedelta(days=30),
            window_end=NOW,
            now=NOW,
        )
        token = platform.security.tokens.issue(
            account_id=account.id, session_id=auth.id, role="investigator", now=NOW
        )
        return token, case.id, person_id


def checkpoint_in_background(platform: Platform) -> threading.Event:
    """What the running platform does: SQLite checkpoints off the request path, every second."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(1.0):
            checkpoint_sqlite(platform.engine)

    threading.Thread(target=loop, daemon=True).start()
    return stop


def bench_overhead(platform: Platform) -> None:
    """Time the security work of a person query, and the query itself, QUERIES times."""
    token, case_id, person_id = seed(platform)
    security = platform.security
    overhead: list[float] = []
    lookup: list[float] = []
    for i in range(QUERIES + 200):
        t0 = time.perf_counter()
        principal = security.authenticate_token(token, client="10.0.0.1")
        with platform.session_factory() as session:
            case = cases.justify(
                session,
                principal,
                case_id=case_id,
                purpose="locate the owner",
                start=None,
                end=None,
                area_id="C1",
                tree=security.areas.tree(),
            )
        t1 = time.perf_counter()
        with platform.session_factory() as session:  # the query's own work (not overhead)
            person = session.get(Person, person_id)
            bikes = list(session.scalars(select(EBike).where(EBike.owner_id == person_id)))
            assert person is not None
            assert bikes
        t2 = time.perf_counter()
        security.record(
            principal.actor,
            AuditEntry(
                "people.read",
                f"GET /api/v1/people/{person_id}",
                case_id=case.id,
                purpose="locate the owner",
                subjects=[f"person:{person_id}", *(f"tag:{b.tag_id}" for b in bikes)],
                result_count=1,
            ),
        )
        t3 = time.perf_counter()
        if i >= 200:  # warm-up: caches, statement compilation
            overhead.append(((t1 - t0) + (t3 - t2)) * 1000)
            lookup.append((t2 - t1) * 1000)
    base = statistics.median(lookup)
    p50, p99 = statistics.median(overhead), percentile(overhead, 0.99)
    emit("overhead_p50_ms", p50, "ms", baseline=base, ratio=p50 / base, target=None, queries=QUERIES)
    emit(
        "overhead_p99_ms",
        p99,
        "ms",
        baseline=percentile(lookup, 0.99),
        ratio=None,
        target=2.0,
        queries=QUERIES,
    )
    log(f"overhead p50 {p50:.3f} ms, p99 {p99:.3f} ms; the lookup itself p50 {base:.3f} ms")


def build_chain(platform: Platform, n: int) -> None:
    """Write n chained records in bulk (same canonical form and hashes as append())."""
    with platform.session_factory.begin() as session:
        head = session.get(AuditHead, 1)
        seq, prev = (head.seq, head.hash) if head else (0, audit.GENESIS)
    batch: list[dict[str, object]] = []
    index: list[dict[str, object]] = []  # the subject index append() keeps beside each record
    at0 = audit.to_us(NOW)
    for i in range(n):
        seq += 1
        values: dict[str, object] = {
            "seq": seq,
            "at_us": at0 + i,
            "actor": f"inv-{i % 50}",
            "role": "investigator",
            "unit": "CID",
            "action": "subjects.trace" if i % 3 else "people.read",
            "resource": f"GET /api/v1/people/{i % 9000}",
            "outcome": Outcome.ALLOWED,
            "status": 200,
            "case_id": f"C2026-{i % 700:06d}",
            "purpose": "theft",
            "subjects": json.dumps([f"person:{i % 9000}"]),
            "result_count": i % 40,
            "detail": json.dumps({"area": "S1"}),
            "client": "10.0.0.7",
        }
        digest = audit.link_hash(prev, [values[f] for f in audit.CHAINED_FIELDS])
        values["prev_hash"], values["hash"] = prev, digest
        prev = digest
        batch.append(values)
        index.append({"subject": f"person:{i % 9000}", "seq": seq})
        if len(batch) == 50_000:
            with platform.session_factory.begin() as session:
                session.execute(insert(AuditRecord), batch)
                session.execute(insert(AuditSubject), index)
            batch, index = [], []
    with platform.session_factory.begin() as session:
        if batch:
            session.execute(insert(AuditRecord), batch)
            session.execute(insert(AuditSubject), index)
        session.execute(text("DELETE FROM audit_head"))
        session.execute(insert(AuditHead).values(id=1, seq=seq, hash=prev))


def naive_verify(platform: Platform, limit: int) -> float:
    """Records/s of the obvious verifier: ORM rows, a dict per row, json.dumps, sha256."""
    started = time.perf_counter()
    prev = audit.GENESIS
    n = 0
    with platform.session_factory() as session:
        for record in session.scalars(select(AuditRecord).order_by(AuditRecord.seq).limit(limit)):
            fields = [getattr(record, f) for f in audit.CHAINED_FIELDS]
            digest = hashlib.sha256(
                prev.encode() + json.dumps(fields, separators=(",", ":")).encode()
            ).hexdigest()
            assert record.prev_hash == prev
            prev = record.hash  # the canonical encodings differ in form; the work is what is timed
            n += 1
            del digest
    return n / (time.perf_counter() - started)


def bench_verify(platform: Platform) -> None:
    """Build the chain, then time the real verifier and the naive one."""
    log(f"building a chain of {CHAIN:,} records")
    t0 = time.perf_counter()
    build_chain(platform, CHAIN)
    log(f"built in {time.perf_counter() - t0:.1f} s")
    report = platform.security.audit.verify()  # warm the page cache like an auditor's second run
    t1 = time.perf_counter()
    report = platform.security.audit.verify()
    seconds = time.perf_counter() - t1
    assert report.ok, report.reason
    rate = report.records / seconds
    naive = naive_verify(platform, NAIVE)
    emit(
        "verify_records_per_s",
        rate,
        "records/s",
        baseline=naive,
        ratio=rate / naive,
        target=200_000,
        records=report.records,
    )
    log(f"verified {report.records:,} records in {seconds:.2f} s ({rate:,.0f}/s); naive {naive:,.0f}/s")


def bench_append(platform: Platform) -> None:
    """Audited actions per second, one thread."""
    actor = audit.Actor("inv-1", "investigator", "CID", "10.0.0.1")
    n = 2_000 if SMALL else 10_000
    t0 = time.perf_counter()
    for i in range(n):
        platform.security.record(
            actor, AuditEntry("people.read", f"GET /api/v1/people/{i}", subjects=[f"person:{i}"])
        )
    rate = n / (time.perf_counter() - t0)
    emit("append_records_per_s", rate, "records/s", baseline=None, ratio=None, target=None)


def main() -> None:
    # Stdout is the JSON lines of the result; the platform's log lines go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    """Run the three parts on a fresh embedded platform."""
    root = Path(tempfile.mkdtemp(prefix="safecity-audit-bench-"))
    try:
        platform = Platform.build(Settings(data_dir=root), clock=ManualClock(NOW))
        stop = checkpoint_in_background(platform)
        bench_overhead(platform)
        bench_append(platform)
        stop.set()
        bench_verify(platform)
        platform.engine.dispose()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
